package main

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/orderengine/orderengine/clientip"
	"github.com/orderengine/orderengine/writeapi"
)

// floatVar is a float flag whose default comes from the environment.
func (f *flagSet) floatVar(p *float64, name, env string, def float64, usage string) {
	if v, ok := f.env(env); ok {
		x, err := strconv.ParseFloat(v, 64)
		if err != nil {
			f.errs = append(f.errs, fmt.Errorf("%s=%q: not a number", env, v))
		} else {
			def = x
		}
	}
	f.Float64Var(p, name, def, usage+" ["+env+"]")
}

// limitFlags are the client-address and rate-limit settings of serve.
type limitFlags struct {
	trustedProxies     string
	perUser, perIP     float64
	userBurst, ipBurst int
	// registered: the values come from flags (not a caller's zero appFlags).
	registered bool
}

func (l *limitFlags) register(fs *flagSet) {
	d := writeapi.DefaultRateLimit()
	l.registered = true
	fs.stringVar(&l.trustedProxies, "trusted-proxies", "ORDERENGINE_TRUSTED_PROXIES", "", "reverse proxies (CIDR or address, comma-separated) whose X-Forwarded-For/Forwarded name the client; from any other peer those headers are ignored")
	fs.floatVar(&l.perUser, "rate-limit-user", "ORDERENGINE_RATE_LIMIT_USER", d.PerUser, "cart and order writes per second per user (0 disables)")
	fs.intVar(&l.userBurst, "rate-limit-user-burst", "ORDERENGINE_RATE_LIMIT_USER_BURST", d.UserBurst, "writes a user may send at once above the rate")
	fs.floatVar(&l.perIP, "rate-limit-ip", "ORDERENGINE_RATE_LIMIT_IP", d.PerIP, "cart and order writes per second per client address (0 disables)")
	fs.intVar(&l.ipBurst, "rate-limit-ip-burst", "ORDERENGINE_RATE_LIMIT_IP_BURST", d.IPBurst, "writes a client address may send at once above the rate")
}

// rateLimit is the writeapi setting the flags describe.
func (l limitFlags) rateLimit() (writeapi.RateLimit, error) {
	var errs []error
	if l.perUser < 0 || l.perIP < 0 {
		errs = append(errs, errors.New("--rate-limit-user and --rate-limit-ip must not be negative"))
	}
	if l.userBurst < 0 || l.ipBurst < 0 {
		errs = append(errs, errors.New("--rate-limit-*-burst must not be negative"))
	}
	trusted, err := clientip.ParseCIDRs(l.trustedProxies)
	if err != nil {
		errs = append(errs, fmt.Errorf("--trusted-proxies: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return writeapi.RateLimit{}, usagef("%v", err)
	}
	rl := writeapi.RateLimit{PerUser: l.perUser, UserBurst: l.userBurst, PerIP: l.perIP, IPBurst: l.ipBurst, ClientIP: clientip.New(trusted)}
	// 0 disables; writeapi reads an all-zero setting as "defaults".
	if rl.PerUser == 0 {
		rl.PerUser = writeapi.Disabled
	}
	if rl.PerIP == 0 {
		rl.PerIP = writeapi.Disabled
	}
	return rl, nil
}
