package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"time"

	"github.com/orderengine/orderengine/auth"
	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/idempotency"
	"github.com/orderengine/orderengine/integration"
	"github.com/orderengine/orderengine/lease"
	"github.com/orderengine/orderengine/supervise"
	"github.com/orderengine/orderengine/webhooks"
)

// webhookFlags configure the outgoing webhooks (package webhooks). The zero value is
// the defaults (tests build appFlags without flags).
type webhookFlags struct {
	mode         string
	keyFile      string
	allowHTTP    bool
	allowPrivate bool
	schedule     string
	disableAfter time.Duration
	timeout      time.Duration
}

const defaultWebhookSchedule = "5s,5m,30m,2h,5h,10h,14h,20h,20h"

func (w *webhookFlags) register(fs *flagSet) {
	fs.stringVar(&w.mode, "webhooks", "ORDERENGINE_WEBHOOKS", "on", "deliver outgoing events to the registered webhook endpoints: on | off")
	fs.stringVar(&w.keyFile, "webhooks-key-file", "ORDERENGINE_WEBHOOKS_KEY_FILE", "", "key that encrypts the endpoints' signing secrets (default <data-dir>/webhooks-key, generated; replicas must share it)")
	fs.boolVar(&w.allowHTTP, "webhooks-allow-http", "ORDERENGINE_WEBHOOKS_ALLOW_HTTP", false, "accept http:// endpoint URLs (development)")
	fs.boolVar(&w.allowPrivate, "webhooks-allow-private", "ORDERENGINE_WEBHOOKS_ALLOW_PRIVATE", false, "deliver to loopback, private and link-local addresses (development)")
	fs.stringVar(&w.schedule, "webhooks-retry-schedule", "ORDERENGINE_WEBHOOKS_RETRY_SCHEDULE", defaultWebhookSchedule, "waits before each retry of a failed delivery, comma-separated")
	fs.durationVar(&w.disableAfter, "webhooks-disable-after", "ORDERENGINE_WEBHOOKS_DISABLE_AFTER", 120*time.Hour, "disable an endpoint whose deliveries have all failed for this long")
	fs.durationVar(&w.timeout, "webhooks-timeout", "ORDERENGINE_WEBHOOKS_TIMEOUT", 10*time.Second, "time one delivery attempt may take")
}

// boolVar is a boolean flag with an environment default (true/false, 1/0).
func (f *flagSet) boolVar(p *bool, name, env string, def bool, usage string) {
	if v, ok := f.env(env); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			f.errs = append(f.errs, fmt.Errorf("%s=%q: not a boolean (want true or false)", env, v))
		} else {
			def = b
		}
	}
	f.BoolVar(p, name, def, usage+" ["+env+"]")
}

// validate checks the flags and returns the retry schedule.
func (w webhookFlags) validate() ([]time.Duration, error) {
	var errs []error
	if w.mode != "" && w.mode != "on" && w.mode != "off" {
		errs = append(errs, fmt.Errorf("--webhooks %q: want on or off", w.mode))
	}
	schedule, err := webhooks.ParseSchedule(cmp.Or(w.schedule, defaultWebhookSchedule))
	if err != nil {
		errs = append(errs, fmt.Errorf("--webhooks-retry-schedule %q: %w", w.schedule, err))
	}
	if w.disableAfter < 0 || w.disableAfter > 90*24*time.Hour {
		errs = append(errs, fmt.Errorf("--webhooks-disable-after %s: want 0s–2160h (0: the default 120h)", w.disableAfter))
	}
	if w.timeout < 0 || w.timeout > 5*time.Minute {
		errs = append(errs, fmt.Errorf("--webhooks-timeout %s: want 0s–5m (0: the default 10s)", w.timeout))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return schedule, nil
}

// webhooksAPI builds the endpoint registry and the admin API, and the delivery worker
// unless --webhooks off (the admin routes stay: another process may deliver).
func (a *app) wireWebhooks(c Config, w webhookFlags, ver *auth.Verifier, idem *idempotency.Store, reg *domain.Registry, lowStock int, m *metrics) (*webhooks.API, error) {
	schedule, err := w.validate()
	if err != nil {
		return nil, usagef("%v", err)
	}
	key, err := auth.LoadOrCreateSecret(cmp.Or(w.keyFile, filepath.Join(c.DataDir, "webhooks-key")))
	if err != nil {
		return nil, fmt.Errorf("webhooks key: %w", err)
	}
	eps, err := webhooks.NewEndpoints(webhooks.EndpointsConfig{Store: a.store, SecretKey: key,
		Security: webhooks.Security{AllowHTTP: w.allowHTTP, AllowPrivate: w.allowPrivate}})
	if err != nil {
		return nil, err
	}
	api, err := webhooks.NewAPI(webhooks.APIConfig{Endpoints: eps, Verifier: ver, Idempotency: idem, Logger: a.log})
	if err != nil {
		return nil, err
	}
	if w.mode == "off" {
		return api, nil
	}
	hooks, err := webhooks.PrometheusHooks(m.reg)
	if err != nil {
		return nil, err
	}
	a.webhooks, err = webhooks.NewWorker(webhooks.WorkerConfig{
		Store: a.store, Endpoints: eps,
		Translator: integration.NewTranslator(reg).WithLowStock(a.store, int64(lowStock)),
		Lease:      lockerLease{locker: a.locker, name: "webhooks", retry: 2 * time.Second, health: a.sup.Register("webhooks")},
		Schedule:   schedule, DisableAfter: w.disableAfter, Timeout: w.timeout, Hooks: hooks, Logger: a.log,
	})
	return api, err
}

// lockerLease gives the webhook worker the shared singleton lease (package lease), the
// one the bus forwarder takes, so that one replica delivers.
type lockerLease struct {
	locker lease.Locker
	name   string
	retry  time.Duration
	// health shows in /readyz whether this replica delivers or stands by.
	health *supervise.Health
}

// Acquire implements webhooks.Lease: it tries until it holds the lease or ctx ends.
func (l lockerLease) Acquire(ctx context.Context) (<-chan struct{}, func(), error) {
	for {
		ls, err := l.locker.TryAcquire(ctx, l.name)
		if ls != nil {
			l.health.OK()
			return ls.Lost(), ls.Release, nil
		}
		if err != nil && ctx.Err() == nil {
			l.health.Retrying(err)
			return nil, nil, err
		}
		l.health.Standby()
		t := time.NewTimer(l.retry)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, nil, ctx.Err()
		case <-t.C:
		}
	}
}

// idempotencySweep deletes expired Idempotency-Key records every interval while this
// replica holds the lease; the position reached is kept in memory (after a restart the
// first sweep scans from the start of the log once).
type idempotencySweep struct {
	store    *idempotency.Store
	log      eventstore.Store
	locker   lease.Locker
	interval time.Duration
	logger   *slog.Logger
}

func (s *idempotencySweep) run(ctx context.Context, h *supervise.Health) error {
	var from uint64
	return lease.Hold(ctx, s.locker, "idempotency-sweep", lease.HoldOptions{
		OnStandby: func(err error) {
			if err != nil {
				h.Retrying(err)
			} else {
				h.Standby()
			}
		},
	}, func(ctx context.Context) error {
		t := time.NewTicker(s.interval)
		defer t.Stop()
		for {
			next, n, err := s.store.Sweep(ctx, s.log, from)
			switch {
			case errors.Is(err, idempotency.ErrSweepUnsupported):
				// KurrentDB cannot delete streams: records stay (the TTL still frees keys).
				h.OK()
				s.logger.Info("idempotency records are not swept on this event store", "err", err)
				<-ctx.Done()
				return nil
			case err != nil && ctx.Err() == nil:
				h.Retrying(err)
				s.logger.Warn("idempotency sweep", "err", err)
			case err == nil:
				h.OK()
				from = next
				if n > 0 {
					s.logger.Info("idempotency sweep", "deleted", n, "position", next)
				}
			}
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
		}
	})
}
