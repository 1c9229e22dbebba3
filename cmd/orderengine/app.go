package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/orderengine/orderengine/auth"
	"github.com/orderengine/orderengine/bus"
	"github.com/orderengine/orderengine/checkout"
	"github.com/orderengine/orderengine/commands"
	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/eventregistry"
	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/eventstore/postgres"
	tracedstore "github.com/orderengine/orderengine/eventstore/traced"
	"github.com/orderengine/orderengine/httpapi"
	"github.com/orderengine/orderengine/idempotency"
	"github.com/orderengine/orderengine/lease"
	"github.com/orderengine/orderengine/orderops"
	"github.com/orderengine/orderengine/payment"
	"github.com/orderengine/orderengine/privacy"
	"github.com/orderengine/orderengine/projections"
	"github.com/orderengine/orderengine/projections/readmodel"
	"github.com/orderengine/orderengine/readapi"
	"github.com/orderengine/orderengine/search"
	"github.com/orderengine/orderengine/supervise"
	"github.com/orderengine/orderengine/telemetry"
	"github.com/orderengine/orderengine/webhooks"
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
	returnWindow   time.Duration
	lowStock       int
	maxOpenCarts   int
	search         string
	projections    string
	unreadyAfter   time.Duration
	failAfter      time.Duration
	limits         limitFlags
	webhooks       webhookFlags

	// Hooks for tests and benchmarks (no flags): a store opened by the caller (newApp
	// then neither opens nor closes one), writeapi rate limits, and the gateway
	// simulator's webhook delay (negative: webhooks only on demand).
	store      eventstore.Store
	rateLimit  writeapi.RateLimit
	tracing    *telemetry.Tracing
	asyncDelay time.Duration
	// settleEvery is how often pending order steps are swept (default 30 s).
	settleEvery time.Duration
	// idempotencyTTL and sweepEvery: how long Idempotency-Key records live (default 24h)
	// and how often expired ones are deleted (default hourly).
	idempotencyTTL, sweepEvery time.Duration
}

func (f *appFlags) register(fs *flagSet) {
	f.auth.register(fs)
	f.readModels.register(fs)
	f.limits.register(fs)
	f.webhooks.register(fs)
	fs.stringVar(&f.bus, "bus", "ORDERENGINE_BUS", "memory", "event bus: memory (in-process) | nats://host:4222 (JetStream)")
	fs.durationVar(&f.reservationTTL, "reservation-ttl", "ORDERENGINE_RESERVATION_TTL", 15*time.Minute, "how long stock stays reserved for an unpaid order")
	fs.stringVar(&f.webhookSecret, "payment-webhook-secret", "ORDERENGINE_PAYMENT_WEBHOOK_SECRET", "", "HMAC secret of payment webhooks (default: generated in the data dir)")
	fs.stringVar(&f.projections, "projections", "ORDERENGINE_PROJECTIONS", "on", "run the projection workers in this process: on | off (then run 'orderengine projections run' elsewhere)")
	fs.stringVar(&f.search, "search", "ORDERENGINE_SEARCH", "", "search backend: empty (the read-model database: SQLite FTS5 or PostgreSQL full text) | http://host:9200 (Elasticsearch)")
	fs.intVar(&f.lowStock, "low-stock-threshold", "ORDERENGINE_LOW_STOCK_THRESHOLD", 5, "available units at or below which a SKU is flagged low on stock")
	fs.intVar(&f.maxOpenCarts, "max-open-carts", "ORDERENGINE_MAX_OPEN_CARTS", commands.DefaultMaxOpenCarts, "carts a customer may have open at once (negative: no cap)")
	fs.durationVar(&f.orderWait, "order-wait", "ORDERENGINE_ORDER_WAIT", 5*time.Second, "default time POST /v1/orders waits for the checkout")
	fs.durationVar(&f.unreadyAfter, "unready-after", "ORDERENGINE_UNREADY_AFTER", 10*time.Second, "how long a background component may keep failing before /readyz answers 503")
	fs.durationVar(&f.failAfter, "fail-after", "ORDERENGINE_FAIL_AFTER", 5*time.Minute, "how long a background component may keep failing before serve exits non-zero (0: never)")
	fs.durationVar(&f.returnWindow, "return-window", "ORDERENGINE_RETURN_WINDOW", orderops.DefaultReturnWindow, "how long after delivery a customer may request a return (admins: any time)")
}

// app is the running engine: stores, command side and HTTP surface.
type app struct {
	store    eventstore.Store
	ownStore bool
	sealed   *privacy.Store
	dataDir  string
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
	// sup runs the background components and answers /readyz; locker gives singleton
	// work (the bus forwarder) to one replica.
	sup     *supervise.Supervisor
	locker  lease.Locker
	forward *bus.Forwarder
	tracing *telemetry.Tracing
	// business holds the business metrics of /metrics.
	business *telemetry.Business
	// settle finishes money movements a crash left pending on orders (orderops settler).
	settle func(ctx context.Context)
	// webhooks delivers the outgoing events (nil with --webhooks off); sweep deletes
	// expired Idempotency-Key records.
	webhooks *webhooks.Worker
	sweep    *idempotencySweep
}

// newApp wires the engine from configuration; close releases what it opened. Each step
// fills in part of the app, in this order: the event store, the command side, the bus and
// the supervisor, the read side, the checkout and order operations, the read API, then
// the HTTP surface.
func newApp(ctx context.Context, c Config, f appFlags, log *slog.Logger) (_ *app, err error) {
	ver, err := f.check(c)
	if err != nil {
		return nil, err
	}
	a := &app{log: log, tracing: f.tracing, dataDir: c.DataDir}
	if a.tracing == nil {
		a.tracing = telemetry.Disabled()
	}
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	if err := a.openEventStore(ctx, c, f); err != nil {
		return nil, err
	}
	// The one registry of every event type in the log, for everything that decodes it.
	w := &wiring{c: c, f: f, ver: ver, reg: eventregistry.New()}
	if err := a.newCommandSide(w); err != nil {
		return nil, err
	}
	if err := a.startBus(ctx, f); err != nil {
		return nil, err
	}
	secret, err := paymentWebhookSecret(c, f)
	if err != nil {
		return nil, err
	}
	if err := a.openReadSide(ctx, c, f, w.reg); err != nil {
		return nil, err
	}
	if err := a.newCheckout(w, secret); err != nil {
		return nil, err
	}
	if err := a.newReadAPI(w); err != nil {
		return nil, err
	}
	if err := a.newHTTP(w); err != nil {
		return nil, err
	}
	return a, nil
}

// wiring is what newApp's steps hand each other.
type wiring struct {
	c   Config
	f   appFlags
	ver *auth.Verifier
	reg *domain.Registry
	m   *metrics
	// traced is the store the command side and the saga use (spans when tracing is on).
	traced eventstore.Store
	rt     *commands.Runtime
	ops    *orderops.Ops
	edits  *orderops.Edits
}

// check validates serve's flags, fills in the rate limits they set, and builds the
// bearer-token verifier.
func (f *appFlags) check(c Config) (*auth.Verifier, error) {
	if f.reservationTTL <= 0 {
		return nil, usagef("--reservation-ttl must be positive")
	}
	if f.unreadyAfter < 0 || f.failAfter < 0 {
		return nil, usagef("--unready-after and --fail-after must not be negative")
	}
	if f.rateLimit == (writeapi.RateLimit{}) && f.limits.registered {
		var err error
		if f.rateLimit, err = f.limits.rateLimit(); err != nil {
			return nil, err
		}
	}
	if f.returnWindow < 0 {
		return nil, usagef("--return-window must not be negative")
	}
	authCfg, err := f.auth.config(c)
	if err != nil {
		return nil, err
	}
	ver, err := auth.NewVerifier(authCfg)
	if err != nil {
		return nil, usagef("%v", err)
	}
	return ver, nil
}

// openEventStore takes the caller's store (tests, benchmarks) or opens the configured
// one, behind the sealing store.
func (a *app) openEventStore(ctx context.Context, c Config, f appFlags) (err error) {
	a.store = f.store
	if a.store == nil {
		if a.store, err = openEventStore(ctx, c, a.log); err != nil {
			return fmt.Errorf("open event store %s: %w", redactURL(c.Events), err)
		}
		a.ownStore = true
	}
	// Everything reads and writes through the sealing store: personal data is sealed
	// in the log and opened (or "[erased]") on the way out.
	if a.sealed, err = sealedStore(ctx, c, a.store, a.log); err != nil {
		return err
	}
	a.store = a.sealed
	return nil
}

// newCommandSide builds the metrics, the command runtime and the command service.
func (a *app) newCommandSide(w *wiring) (err error) {
	// Business metrics, reported by the command side, the saga, the gateway and the API.
	w.m = newMetrics(a.store, a.projectionStatus)
	a.business = telemetry.NewBusiness(w.m.reg)
	// With tracing on, the command side and the saga see the store through spans (the
	// forwarder and the lease keep the adapter itself).
	w.traced = a.store
	if a.tracing.Enabled() {
		w.traced = tracedstore.Wrap(a.store, a.tracing.Tracer())
	}
	w.rt = commands.NewRuntime(w.traced, w.reg, commands.RuntimeOptions{Logger: a.log, Tracing: a.tracing, Metrics: a.business})
	a.svc, err = commands.NewService(w.rt, commands.ServiceOptions{MaxOpenCarts: w.f.maxOpenCarts})
	return err
}

// startBus opens the bus and builds the supervisor and the bus forwarder it runs.
func (a *app) startBus(ctx context.Context, f appFlags) (err error) {
	if a.bus, err = openBus(ctx, f.bus, a.log); err != nil {
		return err
	}
	// Zero --unready-after takes the supervisor's default.
	a.sup = supervise.New(supervise.Options{UnreadyAfter: f.unreadyAfter, FailAfter: f.failAfter, Logger: a.log})
	a.sup.Probe("store", storeProbe(a.store))
	a.locker = newLocker(a.sealed.Inner(), a.log) // the lease needs the concrete store (PostgreSQL advisory locks)
	a.forward, err = bus.NewForwarder(bus.ForwarderConfig{
		Store: a.store, Publisher: a.bus.Publisher(), TopicPrefix: a.bus.TopicPrefix(), Logger: a.log,
		Lease: a.locker, Health: a.sup.Register("bus-forwarder"), Tracing: a.tracing,
	})
	return err
}

// paymentWebhookSecret is --payment-webhook-secret, or one generated in the data dir.
func paymentWebhookSecret(c Config, f appFlags) ([]byte, error) {
	if f.webhookSecret != "" {
		return []byte(f.webhookSecret), nil
	}
	return auth.LoadOrCreateSecret(filepath.Join(c.DataDir, "webhook-secret"))
}

// openReadSide opens the read-model database, the projection runners (unless they run in
// another process) and the search backend.
func (a *app) openReadSide(ctx context.Context, c Config, f appFlags, reg *domain.Registry) (err error) {
	if f.readModels.url == "" {
		f.readModels.url = "sqlite:"
	}
	if a.rmdb, err = openReadModels(ctx, c, f.readModels); err != nil {
		return err
	}
	switch f.projections {
	case "", "on":
		if a.runners, err = newRunners(a.rmdb, a.store, reg, a.log, a.tracing); err != nil {
			return err
		}
		a.runSearch = true
	case "off":
	default:
		return usagef("--projections must be on or off, not %q", f.projections)
	}
	a.search, err = openSearch(ctx, f.search, a.rmdb, a.store, reg, a.log)
	return err
}

// newCheckout builds the gateway simulator, the checkout saga, the order operations and
// the order edits.
func (a *app) newCheckout(w *wiring, secret []byte) (err error) {
	var co *checkout.Checkout
	// The built-in gateway simulator delivers its webhooks in-process, signed like a real
	// gateway's; POST /v1/webhooks/payments takes them over HTTP.
	a.gateway = payment.NewSimulator(payment.SimulatorConfig{
		WebhookSecret: secret, Logger: a.log, AsyncDelay: w.f.asyncDelay,
		StateFile: filepath.Join(w.c.DataDir, "payment-simulator.json"), // pending payments outlive a crash
		Deliver: func(ctx context.Context, h http.Header, body []byte) error {
			_, err := co.HandleWebhook(ctx, h, body)
			return err
		},
	})
	voidRefused := prometheus.NewCounter(prometheus.CounterOpts{Name: "orderengine_checkout_void_refused_total",
		Help: "Late authorizations the gateway refused to void (each needs a human)."})
	w.m.reg.MustRegister(voidRefused)
	// Gateway calls are spans and their failures counted.
	gateway := payment.Traced(a.gateway, a.tracing.Tracer(), a.business)
	co, err = checkout.New(checkout.Config{
		Runtime: w.rt, Store: w.traced, Gateway: gateway, Bus: a.bus, TTL: w.f.reservationTTL,
		WebhookSecret: secret, Logger: a.log, Tracing: a.tracing, Metrics: a.business,
		// The app runs the forwarder under supervision and the lease (see run).
		DisableForwarder: true,
		OnVoidRefused:    func(string, string, string) { voidRefused.Inc() },
	})
	if err != nil {
		return err
	}
	a.checkout = co
	if w.ops, err = orderops.New(orderops.Config{Runtime: w.rt, Gateway: gateway, Checkouts: co, ReturnWindow: w.f.returnWindow}); err != nil {
		return err
	}
	w.edits, err = orderops.NewEdits(orderops.EditsConfig{Ops: w.ops, Catalog: a.svc})
	return err
}

// newReadAPI builds the read API and the settler of pending money movements and edits.
func (a *app) newReadAPI(w *wiring) (err error) {
	reader := readmodel.NewReader(a.rmdb, readmodel.ReaderOptions{LowStockThreshold: int64(w.f.lowStock)})
	// Orders the read model shows with a pending capture, partial void or refund (a crash
	// between recording and settling it) or an edit still confirming are finished every 30 s
	// (the first sweep 30 s after start).
	ops, edits, log, every := w.ops, w.edits, a.log, w.f.settleEvery
	a.settle = func(ctx context.Context) {
		if every <= 0 {
			every = 30 * time.Second
		}
		pending := func(ctx context.Context) ([]string, error) { return reader.PendingOrders(ctx, 100) }
		done := make(chan struct{})
		go func() { defer close(done); edits.RunResumer(ctx, every, pending, log) }() // edit confirmations a crash left
		ops.RunSettler(ctx, every, pending, log)
		<-done
	}
	a.read, err = readapi.New(readapi.Config{
		Reader:    reader,
		Positions: a.rmdb, Verifier: w.ver, Events: a.store, Search: a.search,
		Status: readapi.StatusFunc(func(context.Context) ([]projections.Status, error) {
			return a.projectionStatus(), nil
		}),
		Rebuilder: &rebuilder{db: a.rmdb, store: a.store, search: a.search, reg: w.reg, log: a.log},
		Registry:  w.reg, Logger: a.log,
	})
	return err
}

// newHTTP builds the Idempotency-Key store and its sweep, the outgoing webhooks, the
// command API, the projections' readiness probes and the router of the APIs.
func (a *app) newHTTP(w *wiring) error {
	f := w.f
	if f.rateLimit == (writeapi.RateLimit{}) {
		f.rateLimit = writeapi.DefaultRateLimit()
	}
	if f.rateLimit.Observer == nil {
		f.rateLimit.Observer = a.business
	}
	idem := idempotency.New(a.store, idempotency.Options{TTL: f.idempotencyTTL})
	a.sweep = &idempotencySweep{store: idem, log: a.sealed.Inner(), // the adapter itself: it can delete streams
		locker: a.locker, interval: cmp.Or(f.sweepEvery, time.Hour), logger: a.log}
	whAPI, err := a.wireWebhooks(w.c, f.webhooks, w.ver, idem, w.reg, f.lowStock, w.m)
	if err != nil {
		return err
	}
	co, ops := a.checkout, w.ops
	api, err := writeapi.New(writeapi.Config{
		Service: a.svc, Verifier: w.ver, Checkout: co, PaymentWebhooks: co, Cancellations: ops, Fulfilment: ops, Refunds: ops,
		Parcels: ops, LineCancellations: ops, Returns: ops, LineRefunds: ops, Edits: w.edits, OrderWait: f.orderWait, Logger: a.log, RateLimit: f.rateLimit,
		Erasure:      eraser{store: a.sealed, rt: w.rt},
		Replays:      a.business,
		Idempotency:  idem,
		OpenAPIMerge: []func(*httpapi.Schemas) []httpapi.Op{readapi.OpenAPIOps, webhooks.OpenAPIOps},
	})
	if err != nil {
		return err
	}
	if a.runSearch {
		for _, r := range a.runners {
			a.sup.Probe("projection:"+r.Name(), projectionProbe(r.Status))
		}
		if a.search != nil {
			a.sup.Probe("projection:"+a.search.Name(), projectionProbe(a.search.Status))
		}
	}
	w.m.log, w.m.tracing = a.log, a.tracing
	a.handler = newRouter(a.sup.Handler(), w.m, api.Register, a.read.Register, whAPI.Register)
	return nil
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

// run drives the background work — the bus forwarder, the checkout saga and the
// projection runners — until ctx ends (nil) or a component fails for good (its error:
// serve then exits non-zero so that an orchestrator restarts the process). Transient
// failures are retried and show in /readyz; a projection that fails at an event stops
// in its visible failed state (/readyz 503) while the rest go on.
func (a *app) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
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
	// The saga stops for good only on errors it cannot retry; while it backs off from a
	// store or bus fault its own health says so (saga-consumer in /readyz).
	a.sup.Probe("saga-consumer", sagaProbe(a.checkout.HealthState))
	a.sup.Go(ctx, "saga", func(ctx context.Context, h *supervise.Health) error {
		h.OK()
		if err := a.checkout.Run(ctx); err != nil {
			return supervise.Permanent(fmt.Errorf("checkout stopped: %w", err))
		}
		return nil
	})
	a.sup.Go(ctx, "bus-forwarder", func(ctx context.Context, _ *supervise.Health) error {
		// On the in-process bus a message published before the saga subscribed is lost.
		select {
		case <-a.bus.Subscribed(a.bus.Topic(domain.CategoryOrder)):
		case <-ctx.Done():
			return nil
		}
		return a.forward.Run(ctx)
	})
	if a.settle != nil {
		a.sup.Go(ctx, "order-settler", func(ctx context.Context, h *supervise.Health) error {
			h.OK()
			a.settle(ctx)
			return nil
		})
	}
	if a.webhooks != nil {
		// The worker retries internally; its lease shows it ok or standby (lockerLease).
		a.sup.Go(ctx, "webhooks", func(ctx context.Context, _ *supervise.Health) error {
			return a.webhooks.Run(ctx)
		})
	}
	a.sup.Go(ctx, "idempotency-sweep", a.sweep.run)
	err := a.sup.Run(ctx)
	cancel()
	a.sup.Wait()
	wg.Wait()
	return err
}

// sagaProbe maps the saga's own health to a status: retrying since the fault began
// while it backs off (ErrNotRunning before its first session counts as starting).
func sagaProbe(state func() (time.Time, error)) func(context.Context) supervise.Status {
	return func(context.Context) supervise.Status {
		since, err := state()
		switch {
		case err == nil:
			return supervise.Status{State: supervise.StateOK, Since: since}
		case errors.Is(err, checkout.ErrNotRunning):
			return supervise.Status{State: supervise.StateStarting, Since: since}
		}
		return supervise.Status{State: supervise.StateRetrying, Since: since, LastError: err.Error()}
	}
}

// storeProbe reports whether the event store answers.
func storeProbe(store eventstore.Store) func(context.Context) supervise.Status {
	return func(ctx context.Context) supervise.Status {
		head, err := store.Head(ctx)
		if err != nil {
			return supervise.Status{State: supervise.StateRetrying, LastError: err.Error()}
		}
		return supervise.Status{State: supervise.StateOK, Detail: map[string]uint64{"head": head}}
	}
}

// projectionProbe maps a runner's status to its health, with its lag as the detail.
func projectionProbe(status func() projections.Status) func(context.Context) supervise.Status {
	return func(context.Context) supervise.Status {
		st := status()
		h := supervise.Status{State: supervise.StateOK, LastError: st.LastError, Detail: map[string]any{
			"state": st.State, "checkpoint": st.Checkpoint, "head": st.Head, "lag": st.Lag, "lagSeconds": st.LagSeconds,
		}}
		switch {
		case st.State == projections.StateFailed:
			h.State = supervise.StateFailed
			if st.Failure != nil {
				h.LastError = st.Failure.Error
			}
		case !st.RetryingSince.IsZero():
			h.State, h.Since = supervise.StateRetrying, st.RetryingSince
		case st.State == projections.StateStandby:
			h.State = supervise.StateStandby
		default:
			h.LastError = ""
		}
		return h
	}
}

// newLocker is where singleton work takes its lease: PostgreSQL advisory locks when the
// events live in PostgreSQL (replicas share them), otherwise this process (SQLite is
// one process's file; KurrentDB: run one forwarding replica, see docs/operations.md).
func newLocker(store eventstore.Store, log *slog.Logger) lease.Locker {
	if ps, ok := store.(*postgres.Store); ok {
		return lease.NewPostgres(ps.Pool().Config().ConnConfig, lease.PostgresOptions{Namespace: "events:" + ps.Schema(), Logger: log})
	}
	return lease.NewLocal()
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
func newRouter(readyz http.Handler, m *metrics, apis ...func(chi.Router)) http.Handler {
	r := chi.NewRouter()
	r.Use(m.tracingMiddleware, middleware.RequestID, middleware.Recoverer, m.middleware)
	r.Method(http.MethodGet, "/metrics", m.handler())
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		httpapi.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	r.Method(http.MethodGet, "/readyz", readyz)
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
	reg    *domain.Registry
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
		return r.search.Rebuild(ctx, projections.RebuildOptions{DryRun: req.DryRun, Progress: req.Progress, Registry: r.reg, Logger: r.log})
	}
	p, err := projectionByName(req.Projection)
	if err != nil {
		return nil, err
	}
	return projections.Rebuild(ctx, r.db, r.store, p, projections.RebuildOptions{DryRun: req.DryRun, Progress: req.Progress, Registry: r.reg, Logger: r.log})
}

// newRunners builds a runner for each SQL read model.
func newRunners(db *projections.DB, store eventstore.Store, reg *domain.Registry, log *slog.Logger, tracing *telemetry.Tracing) ([]*projections.Runner, error) {
	var rs []*projections.Runner
	for _, p := range readmodel.All() {
		r, err := projections.NewRunner(db, store, p, projections.RunnerOptions{Registry: reg, Logger: log, Tracing: tracing})
		if err != nil {
			return nil, err
		}
		rs = append(rs, r)
	}
	return rs, nil
}
