package writeapi

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/orderengine/orderengine/auth"
	"github.com/orderengine/orderengine/clientip"
	"github.com/orderengine/orderengine/httpapi"
	"github.com/orderengine/orderengine/problem"
)

// RateLimit bounds cart and order writes per user and per client IP.
type RateLimit struct {
	// PerUser and PerIP are sustained requests per second; zero or negative disables
	// that limit (but an all-zero RateLimit means DefaultRateLimit: use Disabled).
	PerUser, PerIP float64
	// Burst is how many requests may arrive at once above the sustained rate.
	UserBurst, IPBurst int
	// ClientIP finds the client address behind trusted proxies; nil keys on the TCP
	// peer (every customer behind one proxy then shares its bucket).
	ClientIP *clientip.Resolver
	// Observer, if set, hears of every request the limits stop.
	Observer RateLimitObserver
}

// RateLimitObserver counts rate-limited requests (telemetry.Business implements it).
type RateLimitObserver interface {
	RateLimited(limit string)
}

// Disabled as a rate turns that limit off.
const Disabled = -1

// DefaultRateLimit is generous for a shop's checkout traffic and stops a runaway client.
func DefaultRateLimit() RateLimit {
	return RateLimit{PerUser: 20, UserBurst: 40, PerIP: 100, IPBurst: 200}
}

type limiterSet struct {
	mu      sync.Mutex
	every   rate.Limit
	burst   int
	entries map[string]*limiterEntry
	swept   time.Time
}

type limiterEntry struct {
	lim  *rate.Limiter
	seen time.Time
}

func newLimiterSet(perSecond float64, burst int) *limiterSet {
	if perSecond <= 0 {
		return nil
	}
	if burst < 1 {
		burst = int(math.Ceil(perSecond))
	}
	return &limiterSet{every: rate.Limit(perSecond), burst: burst, entries: map[string]*limiterEntry{}}
}

// allow reports whether key may proceed now, and otherwise how long until it may.
func (s *limiterSet) allow(key string, now time.Time) (bool, time.Duration) {
	if s == nil {
		return true, 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Sub(s.swept) > time.Minute {
		// Forget idle clients so the map does not grow without bound.
		for k, e := range s.entries {
			if now.Sub(e.seen) > 10*time.Minute {
				delete(s.entries, k)
			}
		}
		s.swept = now
	}
	e, ok := s.entries[key]
	if !ok {
		e = &limiterEntry{lim: rate.NewLimiter(s.every, s.burst)}
		s.entries[key] = e
	}
	e.seen = now
	r := e.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

type rateLimiter struct {
	users, ips *limiterSet
	clientIP   *clientip.Resolver
	observer   RateLimitObserver
	now        func() time.Time
}

func newRateLimiter(c RateLimit, now func() time.Time) *rateLimiter {
	return &rateLimiter{users: newLimiterSet(c.PerUser, c.UserBurst), ips: newLimiterSet(c.PerIP, c.IPBurst), clientIP: c.ClientIP, observer: c.Observer, now: now}
}

// middleware answers 429 with Retry-After when the caller or its IP is over its rate.
func (l *rateLimiter) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := l.now()
		ok, wait := l.ips.allow(l.clientIP.ClientIP(r), now)
		limit := "ip"
		if ok {
			if p, has := auth.FromContext(r.Context()); has {
				ok, wait = l.users.allow(p.Subject, now)
				limit = "user"
			}
		}
		if !ok {
			if l.observer != nil {
				l.observer.RateLimited(limit)
			}
			secs := int(math.Ceil(wait.Seconds()))
			if secs < 1 {
				secs = 1
			}
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			httpapi.WriteProblem(w, r, problem.New(http.StatusTooManyRequests, "rate-limited", "Too many requests",
				fmt.Sprintf("slow down: retry in %d s", secs)))
			return
		}
		next.ServeHTTP(w, r)
	})
}
