package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/orderengine/orderengine/auth"
	"github.com/orderengine/orderengine/checkoutbench"
	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/eventstore/postgres"
	"github.com/orderengine/orderengine/eventstore/sqlite"
	"github.com/orderengine/orderengine/writeapi"
)

// benchRateLimit keeps writeapi's rate limiter in the request path (its cost is part of
// what is measured) with limits no benchmark reaches: every virtual user is its own
// customer, but all of them come from 127.0.0.1.
var benchRateLimit = writeapi.RateLimit{PerUser: 1e6, UserBurst: 1e6, PerIP: 1e6, IPBurst: 1e6}

func runBenchCheckout(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var (
		events, busURL, cpuProfile string
		readModels                 string
		cfg                        checkoutbench.Config
		orderWait                  time.Duration
		stock                      int
		quiet                      bool
	)
	fs := newFlagSet("bench checkout", "bench checkout [--events URL] [--bus memory|nats://…] [--flash-sale] [flags]", getenv, stderr)
	fs.StringVar(&events, "events", "sqlite:", "store to run on: sqlite: (a fresh temporary file), sqlite:PATH, postgres://… (a fresh schema, dropped afterwards), kurrentdb://…")
	fs.StringVar(&busURL, "bus", "memory", "event bus of the checkout saga: memory | nats://host:4222")
	fs.StringVar(&readModels, "readmodels", "", "read models the projections keep up to date during the run, as serve does: sqlite:, postgres://…, or off (command side only); default: a temporary SQLite file for sqlite: events, a fresh schema (dropped afterwards) of the events database for postgres://")
	fs.IntVar(&cfg.Concurrency, "concurrency", checkoutbench.DefaultConcurrency, "concurrent customers (virtual users); with --flash-sale, buyers checking out at once (default: all)")
	fs.DurationVar(&cfg.Duration, "duration", checkoutbench.DefaultDuration, "how long customers start new checkouts")
	fs.IntVar(&cfg.Checkouts, "checkouts", 0, "run exactly this many checkouts instead of --duration")
	fs.IntVar(&cfg.Products, "products", checkoutbench.DefaultProducts, "catalog size (each product with ample stock)")
	fs.IntVar(&cfg.MinLines, "min-lines", checkoutbench.DefaultMinLines, "fewest distinct SKUs in a cart")
	fs.IntVar(&cfg.MaxLines, "max-lines", checkoutbench.DefaultMaxLines, "most distinct SKUs in a cart")
	fs.BoolVar(&cfg.FlashSale, "flash-sale", false, "flash sale: --buyers customers check out one unit each of ONE SKU with --stock units")
	fs.IntVar(&cfg.Buyers, "buyers", checkoutbench.DefaultBuyers, "flash sale: buyers")
	fs.IntVar(&stock, "stock", checkoutbench.DefaultFlashStock, "flash sale: units of the SKU on sale")
	fs.DurationVar(&orderWait, "order-wait", 5*time.Second, "how long POST /v1/orders waits for the checkout before answering 202 (serve's --order-wait)")
	fs.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the run (server and load generator share the process) to this file")
	fs.BoolVar(&quiet, "quiet", false, "no progress lines on stderr")
	if err := fs.parse(args); err != nil {
		if errors.Is(err, errHelp) {
			return nil
		}
		return err
	}
	if cfg.FlashSale {
		concurrencySet := false
		fs.Visit(func(f *flag.Flag) { concurrencySet = concurrencySet || f.Name == "concurrency" })
		if !concurrencySet {
			cfg.Concurrency = cfg.Buyers
		}
		cfg.FlashStock = int64(stock)
	}
	kind, rest, err := parseStoreURL(events)
	if err != nil {
		return usagef("--events: %v", err)
	}
	if orderWait <= 0 {
		return usagef("--order-wait must be positive")
	}
	// Validate before opening anything (the URLs and tokens are filled in below).
	probe := cfg
	probe.BaseURL, probe.AdminToken, probe.CustomerToken = "http://probe", "probe", func(int) string { return "" }
	if err := probe.WithDefaults().Validate(); err != nil {
		return usagef("%v", err)
	}
	if !quiet {
		cfg.Progress = stderr
	}
	log := newLogger(Config{LogLevel: "warn"}, stderr)

	dir, err := os.MkdirTemp("", "orderengine-bench-checkout-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	// The store: a fresh one, so that the run neither sees nor leaves data in a real store.
	var store eventstore.Store
	defer func() {
		if store != nil {
			store.Close()
		}
	}()
	tier := string(kind)
	switch kind {
	case kindSQLite:
		tier = "embedded"
		path, query, _ := strings.Cut(rest, "?")
		if path == "" {
			path = filepath.Join(dir, "events.db")
		}
		q, _ := url.ParseQuery(query)
		store, err = sqlite.Open(ctx, path, sqlite.Options{Limits: eventstore.Limits{MaxEventSize: 1 << 20}, Logger: log, Synchronous: q.Get("synchronous")})
	case kindPostgres:
		schema := "bench_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
		var pg *postgres.Store
		pg, err = postgres.Open(ctx, rest, postgres.Options{Schema: schema, Limits: eventstore.Limits{MaxEventSize: 1 << 20}, Logger: log})
		if err == nil {
			store = pg
			// Runs before the store's Close (deferred later, so run earlier).
			defer func() {
				dctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				if _, err := pg.Pool().Exec(dctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
					fmt.Fprintf(stderr, "drop bench schema %s: %v\n", schema, err)
				}
			}()
		}
	default:
		store, err = openEventStore(ctx, Config{Events: events, MaxEventSize: 1 << 20}, log)
	}
	if err != nil {
		return fmt.Errorf("open %s: %w", redactURL(events), err)
	}
	// The read models: by default beside the events, in a place of the run's own.
	projectionsOn := readModels != "off"
	switch {
	case !projectionsOn:
		readModels = "sqlite:"
	case readModels == "" && kind == kindPostgres:
		rmSchema := "bench_rm_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
		u, err := url.Parse(rest)
		if err != nil {
			return usagef("--events: %v", err)
		}
		q := u.Query()
		q.Set("schema", rmSchema)
		u.RawQuery = q.Encode()
		readModels = u.String()
		pool := store.(*postgres.Store).Pool()
		defer func() { // after the app's close (deferred later)
			dctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if _, err := pool.Exec(dctx, "DROP SCHEMA IF EXISTS "+rmSchema+" CASCADE"); err != nil {
				fmt.Fprintf(stderr, "drop bench read-model schema %s: %v\n", rmSchema, err)
			}
		}()
	case readModels == "":
		readModels = "sqlite:"
	}
	if busURL != "memory" {
		tier += "+" + strings.SplitN(busURL, ":", 2)[0]
	}
	cfg.Tier = tier

	// The engine as serve wires it, on that store, with a generated JWT secret.
	secret := make([]byte, 32)
	rand.Read(secret)
	c := Config{DataDir: dir, Events: events, MaxEventSize: 1 << 20, LogLevel: "warn"}
	f := appFlags{
		auth:           authFlags{secret: string(secret), issuer: auth.DefaultIssuer, audience: auth.DefaultAudience},
		readModels:     readModelFlags{url: readModels},
		bus:            busURL,
		reservationTTL: 15 * time.Minute,
		orderWait:      orderWait,
		store:          store,
		rateLimit:      benchRateLimit,
	}
	if !projectionsOn {
		f.projections = "off"
	}
	a, err := newApp(ctx, c, f, log)
	if err != nil {
		return err
	}
	defer a.close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: a.handler, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	go srv.Serve(ln)
	defer srv.Close()
	bgCtx, stopBg := context.WithCancel(context.WithoutCancel(ctx))
	bgDone := make(chan error, 1)
	go func() { bgDone <- a.run(bgCtx) }()
	defer func() {
		stopBg()
		if err := <-bgDone; err != nil {
			fmt.Fprintf(stderr, "checkout saga stopped with an error: %v\n", err)
		}
	}()

	sign := auth.Signer{Secret: secret, Issuer: auth.DefaultIssuer, Audience: auth.DefaultAudience}
	run := strings.ReplaceAll(uuid.NewString(), "-", "")[:8]
	if cfg.AdminToken, err = sign.Sign("bench-admin-"+run, []auth.Role{auth.RoleAdmin}, 24*time.Hour); err != nil {
		return err
	}
	cfg.CustomerToken = func(i int) string {
		tok, err := sign.Sign(fmt.Sprintf("bench-%s-customer-%d", run, i), []auth.Role{auth.RoleCustomer}, 24*time.Hour)
		if err != nil {
			panic(err) // cannot happen: the secret, subject and role are valid
		}
		return tok
	}
	cfg.BaseURL = "http://" + ln.Addr().String()
	cfg.ReadStock = checkoutbench.ServiceStock(a.svc)

	if cpuProfile != "" {
		pf, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	rm := "read models " + redactURL(readModels)
	if !projectionsOn {
		rm = "no projections"
	}
	fmt.Fprintf(stdout, "orderengine bench checkout — %s — bus %s — %s — %s — GOMAXPROCS %d\n\n",
		redactURL(events), redactURL(busURL), rm, time.Now().UTC().Format(time.RFC3339), runtime.GOMAXPROCS(0))
	results, err := checkoutbench.Run(ctx, cfg)
	checkoutbench.PrintTable(stdout, results)
	fmt.Fprintln(stdout)
	checkoutbench.PrintResultLines(stdout, results)
	if err != nil {
		return err
	}
	if !checkoutbench.AllOK(results) {
		return errBenchFailed
	}
	return nil
}
