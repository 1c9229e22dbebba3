package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/orderengine/orderengine/auth"
	"github.com/orderengine/orderengine/bus"
	"github.com/orderengine/orderengine/checkout"
	"github.com/orderengine/orderengine/commands"
	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/httpapi"
	"github.com/orderengine/orderengine/idempotency"
	"github.com/orderengine/orderengine/payment"
	"github.com/orderengine/orderengine/problem"
	"github.com/orderengine/orderengine/projections"
	"github.com/orderengine/orderengine/projections/readmodel"
	"github.com/orderengine/orderengine/readapi"
	"github.com/orderengine/orderengine/search"
	"github.com/orderengine/orderengine/writeapi"
)

// appFlags are serve's settings beyond the common ones.
type appFlags struct {
	auth           authFlags
	readModels     readModelFlags
	bus            string
	reservationTTL time.Duration
	webhookSecret  string
	orderWait      time.Duration
	lowStock       int
	search         string
	projections    string

	// Hooks for tests and benchmarks (no flags): a store opened by the caller (newApp
	// then neither opens nor closes one), writeapi rate limits, and the gateway
	// simulator's webhook delay (negative: webhooks only on demand).
	store      eventstore.Store
	rateLimit  writeapi.RateLimit
	asyncDelay time.Duration
}

func (f *appFlags) register(fs *flagSet) {
	f.auth.register(fs)
	f.readModels.register(fs)
	fs.stringVar(&f.bus, "bus", "ORDERENGINE_BUS", "memory", "event bus: memory (in-process) | nats://host:4222 (JetStream)")
	fs.durationVar(&f.reservationTTL, "reservation-ttl", "ORDERENGINE_RESERVATION_TTL", 15*time.Minute, "how long stock stays reserved for an unpaid order")
	fs.stringVar(&f.webhookSecret, "payment-webhook-secret", "ORDERENGINE_PAYMENT_WEBHOOK_SECRET", "", "HMAC secret of payment webhooks (default: generated in the data dir)")
	fs.stringVar(&f.projections, "projections", "ORDERENGINE_PROJECTIONS", "on", "run the projection workers in this process: on | off (then run `orderengine projections run` elsewhere)")
	fs.stringVar(&f.search, "search", "ORDERENGINE_SEARCH", "", "search backend: empty (the read-model database: SQLite FTS5 or PostgreSQL full text) | http://host:9200 (Elasticsearch)")
	fs.intVar(&f.lowStock, "low-stock-threshold", "ORDERENGINE_LOW_STOCK_THRESHOLD", 5, "available units at or below which a SKU is flagged low on stock")
	fs.durationVar(&f.orderWait, "order-wait", "ORDERENGINE_ORDER_WAIT", 5*time.Second, "default time POST /v1/orders waits for the checkout")
}

// app is the running engine: stores, command side and HTTP surface.
type app struct {
	store    eventstore.Store
	ownStore bool
	svc      *commands.Service
	bus      *bus.PubSub
	gateway  *payment.Simulator
	checkout *checkout.Checkout
	rmdb     *projections.DB
	runners  []*projections.Runner
	search   search.Backend
	// runSearch is false when the projection workers run in another process.
	runSearch bool
	read      *readapi.API
	handler   http.Handler
	log       *slog.Logger
}

// newApp wires the engine from configuration; close releases what it opened.
func newApp(ctx context.Context, c Config, f appFlags, log *slog.Logger) (_ *app, err error) {
	if f.reservationTTL <= 0 {
		return nil, usagef("--reservation-ttl must be positive")
	}
	authCfg, err := f.auth.config(c)
	if err != nil {
		return nil, err
	}
	ver, err := auth.NewVerifier(authCfg)
	if err != nil {
		return nil, usagef("%v", err)
	}
	a := &app{log: log}
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	a.store = f.store
	if a.store == nil {
		if a.store, err = openEventStore(ctx, c, log); err != nil {
			return nil, fmt.Errorf("open event store %s: %w", redactURL(c.Events), err)
		}
		a.ownStore = true
	}
	rt := commands.NewRuntime(a.store, commands.RuntimeOptions{Logger: log})
	svc, err := commands.NewService(rt, commands.ServiceOptions{})
	if err != nil {
		return nil, err
	}
	a.svc = svc
	if a.bus, err = bus.Open(ctx, f.bus, bus.Options{Logger: log}); err != nil {
		return nil, fmt.Errorf("open bus %s: %w", redactURL(f.bus), err)
	}
	secret := []byte(f.webhookSecret)
	if len(secret) == 0 {
		if secret, err = auth.LoadOrCreateSecret(filepath.Join(c.DataDir, "webhook-secret")); err != nil {
			return nil, err
		}
	}
	if f.readModels.url == "" {
		f.readModels.url = "sqlite:"
	}
	if a.rmdb, err = openReadModels(ctx, c, f.readModels); err != nil {
		return nil, err
	}
	switch f.projections {
	case "", "on":
		if a.runners, err = newRunners(a.rmdb, a.store, log); err != nil {
			return nil, err
		}
		a.runSearch = true
	case "off":
	default:
		return nil, usagef("--projections must be on or off, not %q", f.projections)
	}
	if a.search, err = search.Open(ctx, f.search, search.Options{DB: a.rmdb, Events: a.store, Logger: log,
		Runner: projections.RunnerOptions{Logger: log}}); err != nil {
		return nil, fmt.Errorf("open search %s: %w", redactURL(f.search), err)
	}
	var co *checkout.Checkout
	// The built-in gateway simulator delivers its webhooks in-process, signed like a real
	// gateway's; POST /v1/webhooks/payments takes them over HTTP.
	a.gateway = payment.NewSimulator(payment.SimulatorConfig{
		WebhookSecret: secret, Logger: log, AsyncDelay: f.asyncDelay,
		Deliver: func(ctx context.Context, h http.Header, body []byte) error {
			_, err := co.HandleWebhook(ctx, h, body)
			return err
		},
	})
	co, err = checkout.New(checkout.Config{
		Runtime: rt, Store: a.store, Gateway: a.gateway, Bus: a.bus, TTL: f.reservationTTL,
		WebhookSecret: secret, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	a.checkout = co
	a.read, err = readapi.New(readapi.Config{
		Reader:    readmodel.NewReader(a.rmdb, readmodel.ReaderOptions{LowStockThreshold: int64(f.lowStock)}),
		Positions: a.rmdb, Verifier: ver, Events: a.store, Search: a.search,
		Status: readapi.StatusFunc(func(context.Context) ([]projections.Status, error) {
			return a.projectionStatus(), nil
		}),
		Rebuilder: &rebuilder{db: a.rmdb, store: a.store, search: a.search, log: log},
		Registry:  rt.Registry(), Logger: log,
	})
	if err != nil {
		return nil, err
	}
	api, err := writeapi.New(writeapi.Config{
		Service: svc, Verifier: ver, Checkout: co, OrderWait: f.orderWait, Logger: log, RateLimit: f.rateLimit,
		Idempotency:  idempotency.New(a.store, idempotency.Options{}),
		OpenAPIMerge: []func(*httpapi.Schemas) []httpapi.Op{readapi.OpenAPIOps},
	})
	if err != nil {
		return nil, err
	}
	m := newMetrics(a.store, a.projectionStatus)
	a.handler = newRouter(a.store, log, m, api.Register, a.read.Register)
	return a, nil
}

// projectionStatus is every runner's status (for /metrics and the admin API); with the
// workers in another process, what the read-model database records.
func (a *app) projectionStatus() []projections.Status {
	if !a.runSearch {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		sts, err := projections.Inspect(ctx, a.rmdb, a.store)
		if err != nil {
			a.log.Warn("projection status", "err", err)
		}
		return sts
	}
	out := make([]projections.Status, 0, len(a.runners)+1)
	for _, r := range a.runners {
		out = append(out, r.Status())
	}
	if a.search != nil {
		out = append(out, a.search.Status())
	}
	return out
}

// run drives the background work — the checkout saga and the projection runners — until
// ctx ends. A projection that fails stops in its visible failed state; the rest go on.
func (a *app) run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, r := range a.runners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.Run(ctx); err != nil {
				a.log.Error("projection stopped", "projection", r.Status().Name, "err", err)
			}
		}()
	}
	if a.search != nil && a.runSearch {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := a.search.Run(ctx); err != nil {
				a.log.Error("search projection stopped", "err", err)
			}
		}()
	}
	err := a.checkout.Run(ctx)
	wg.Wait()
	return err
}

func (a *app) close() {
	if a.read != nil {
		a.read.Close()
	}
	if a.gateway != nil {
		a.gateway.Close()
	}
	if a.bus != nil {
		a.bus.Close()
	}
	if a.search != nil {
		a.search.Close()
	}
	if a.rmdb != nil {
		a.rmdb.Close()
	}
	if a.store != nil && a.ownStore {
		a.store.Close()
	}
}

// newRouter is the HTTP surface: health, readiness and the /v1 APIs.
func newRouter(store eventstore.Store, log *slog.Logger, m *metrics, apis ...func(chi.Router)) http.Handler {
	r := chi.NewRouter()
	r.Use(middleware.RequestID, middleware.Recoverer, m.middleware)
	r.Method(http.MethodGet, "/metrics", m.handler())
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		httpapi.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	r.Get("/readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		head, err := store.Head(ctx)
		if err != nil {
			log.Warn("readiness check failed", "err", err)
			httpapi.WriteProblem(w, r, problem.New(http.StatusServiceUnavailable, "not-ready", "Not ready", "event store unreachable: "+err.Error()))
			return
		}
		httpapi.WriteJSON(w, http.StatusOK, map[string]any{"status": "ready", "eventsHead": head})
	})
	for _, register := range apis {
		register(r)
	}
	httpapi.Route(r)
	return r
}

// rebuilder runs read-model rebuilds for the admin API.
type rebuilder struct {
	db     *projections.DB
	store  eventstore.Store
	search search.Backend
	log    *slog.Logger
}

func (r *rebuilder) Rebuildable() []string {
	names := []string{r.search.Name()}
	for _, p := range readmodel.All() {
		names = append(names, p.Name())
	}
	return names
}

func (r *rebuilder) Rebuild(ctx context.Context, req readapi.RebuildRequest) (*projections.RebuildReport, error) {
	if req.Projection == r.search.Name() {
		return r.search.Rebuild(ctx, projections.RebuildOptions{DryRun: req.DryRun, Progress: req.Progress, Logger: r.log})
	}
	p, err := projectionByName(req.Projection)
	if err != nil {
		return nil, err
	}
	return projections.Rebuild(ctx, r.db, r.store, p, projections.RebuildOptions{DryRun: req.DryRun, Progress: req.Progress, Logger: r.log})
}

// newRunners builds a runner for each SQL read model.
func newRunners(db *projections.DB, store eventstore.Store, log *slog.Logger) ([]*projections.Runner, error) {
	var rs []*projections.Runner
	for _, p := range readmodel.All() {
		r, err := projections.NewRunner(db, store, p, projections.RunnerOptions{Logger: log})
		if err != nil {
			return nil, err
		}
		rs = append(rs, r)
	}
	return rs, nil
}
