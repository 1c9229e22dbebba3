// Package checkout is the checkout process manager (saga). Its state is the stream
// checkout-<orderId>; every change to an aggregate goes through commands.Execute and the
// domain deciders, with correlation id = order id, causation = the triggering event and
// actor "system:checkout" (or the caller's actor for RequestCancel). Operations on the
// order after checkout (cancel, ship, deliver, refund) live in package orderops, which
// asks the saga to compensate through RequestCancel.
//
// On order.placed (delivered by the bus) the saga
//
//  1. reserves stock for every line, in SKU order, all or nothing (out of stock → release
//     what was reserved, cancel the order),
//  2. redeems the coupon, if any (usage limit reached → compensate, cancel),
//  3. records the payment's authorization request in payment-<orderId> (PaymentID = order
//     id) with the token commands.Service.PlaceOrder recorded in checkoutrequest-<orderId>
//     (package checkout/request; an existing request in payment-<orderId> is used as
//     is), authorizes through the Gateway and records the answer; pending answers wait
//     for a signed webhook (HandleWebhook),
//  4. authorized → marks the order's payment authorized, commits the reservations,
//     confirms the order; declined, failed or timed out → compensates: voids any
//     authorization, releases stock and the coupon use, cancels the order with a reason.
//
// Checkouts not paid before their reservations expire (Config.TTL) are expired by a
// sweeper. Every step is idempotent and decided from stored state, so after a crash Run
// finds the checkouts that are not terminal and drives them on.
package checkout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/orderengine/orderengine/bus"
	"github.com/orderengine/orderengine/checkout/request"
	"github.com/orderengine/orderengine/commands"
	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/envelope"
	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/keymutex"
	"github.com/orderengine/orderengine/payment"
	"github.com/orderengine/orderengine/telemetry"
)

// Actor is the actor recorded on the saga's own changes.
const Actor = "system:checkout"

// Config configures New. Zero values take the defaults.
type Config struct {
	// Runtime executes commands; its registry must know the checkout events (Events and
	// the checkout request: see package eventregistry).
	Runtime *commands.Runtime
	// Store is the event store behind Runtime (for $all: the forwarder and recovery).
	Store eventstore.Store
	// Gateway authorizes, captures, voids and refunds payments.
	Gateway payment.Gateway
	// Bus carries the log to the saga (bus.Open). Required by Run.
	Bus *bus.PubSub
	// ConsumerGroup names the saga's durable consumers (default "checkout").
	ConsumerGroup string
	// DisableForwarder: Run starts no bus.Forwarder (another component forwards the log).
	DisableForwarder bool
	// ForwarderName names the forwarder's checkpoint stream (default "bus").
	ForwarderName string
	// TTL is how long reservations hold an unpaid order (default 15 min).
	TTL time.Duration
	// GatewayTimeout bounds one authorization call (default 10s).
	GatewayTimeout time.Duration
	// SweepInterval is how often expired checkouts are looked for (default TTL/10,
	// between 1s and 30s).
	SweepInterval time.Duration
	// Workers bounds concurrently driven checkouts (default 32).
	Workers int
	// ReconcileInterval is how long a checkout waits for the webhook of a pending
	// payment before asking the gateway (Gateway.Lookup), and then between look-ups
	// (default 20 s). After a restart the first look-up is immediate.
	ReconcileInterval time.Duration
	// RetryMin and RetryMax bound the backoff before Run restarts a failed session (bus
	// consumer, forwarder, resume scan): defaults 100 ms and 10 s.
	RetryMin, RetryMax time.Duration
	// WebhookSecret verifies gateway webhooks; WebhookTolerance bounds their clock skew
	// (default payment.DefaultTolerance).
	WebhookSecret    []byte
	WebhookTolerance time.Duration
	// OnVoidRefused, if set, is called after the gateway refused to void a late
	// authorization and checkout.late_authorization_void_refused was recorded (a metric
	// hook: such a hold needs a human).
	OnVoidRefused func(orderID, gatewayRef, reason string)
	Logger        *slog.Logger
	// Now is the saga's clock (default Runtime.Now); it should agree with the runtime's.
	Now func() time.Time
	// Tracing records a span per saga step in the trace of the request that placed the
	// order (from the events' metadata); default telemetry.Disabled().
	Tracing *telemetry.Tracing
	// Metrics counts checkouts, steps and payment outcomes (default none).
	Metrics Metrics
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.Runtime == nil {
		errs = append(errs, errors.New("checkout: Runtime is required"))
	}
	if c.Store == nil {
		errs = append(errs, errors.New("checkout: Store is required"))
	}
	if c.Gateway == nil {
		errs = append(errs, errors.New("checkout: Gateway is required"))
	}
	if c.TTL < 0 || c.GatewayTimeout < 0 || c.ReconcileInterval < 0 || c.SweepInterval < 0 || c.WebhookTolerance < 0 || c.RetryMin < 0 || c.RetryMax < 0 {
		errs = append(errs, errors.New("checkout: durations must not be negative"))
	}
	if c.Workers < 0 {
		errs = append(errs, errors.New("checkout: Workers must not be negative"))
	}
	return errors.Join(errs...)
}

// Checkout runs checkouts. Build it with New; Run starts the bus consumers, the
// forwarder and the sweeper. Start, Status, Wait, HandleWebhook and RequestCancel work
// whether or not Run is running.
type Checkout struct {
	cfg Config
	rt  *commands.Runtime
	log *slog.Logger

	locks keymutex.Map
	// streamLocks serializes this process's writes to a hot stream (a SKU's stock), so
	// concurrent checkouts queue instead of losing optimistic-concurrency rounds.
	streamLocks keymutex.Map
	sched       *scheduler

	wmu     sync.Mutex
	waiters map[string]*waitEntry

	amu     sync.Mutex
	active  map[string]time.Time // non-terminal checkouts → reservation expiry
	lookups map[string]time.Time // awaiting payment → last gateway look-up in this process
	born    time.Time            // by the saga's clock: what happened before, a restart left

	cmu   sync.Mutex
	cache map[string]cached // see Checkout.exec

	hmu    sync.Mutex
	health health

	// testHook, when set, is called after each step; an error aborts the drive as a
	// crash would.
	testHook atomic.Pointer[func(orderID, step string) error]
}

// New validates cfg and returns a Checkout.
func New(cfg Config) (*Checkout, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	for _, e := range append(Events(), request.Events()...) {
		if !cfg.Runtime.Registry().Knows(e) {
			return nil, fmt.Errorf("checkout: the runtime's registry does not know %s (build it with eventregistry.New)", e.EventType())
		}
	}
	if cfg.ConsumerGroup == "" {
		cfg.ConsumerGroup = "checkout"
	}
	if cfg.TTL == 0 {
		cfg.TTL = 15 * time.Minute
	}
	if cfg.GatewayTimeout == 0 {
		cfg.GatewayTimeout = 10 * time.Second
	}
	if cfg.SweepInterval == 0 {
		cfg.SweepInterval = min(max(cfg.TTL/10, time.Second), 30*time.Second)
	}
	if cfg.Workers == 0 {
		cfg.Workers = 32
	}
	if cfg.ReconcileInterval == 0 {
		cfg.ReconcileInterval = 20 * time.Second
	}
	if cfg.RetryMin == 0 {
		cfg.RetryMin = 100 * time.Millisecond
	}
	if cfg.RetryMax == 0 {
		cfg.RetryMax = 10 * time.Second
	}
	cfg.RetryMax = max(cfg.RetryMax, cfg.RetryMin)
	if cfg.WebhookTolerance == 0 {
		cfg.WebhookTolerance = payment.DefaultTolerance
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Tracing == nil {
		cfg.Tracing = telemetry.Disabled()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = noMetrics{}
	}
	if cfg.Now == nil {
		cfg.Now = cfg.Runtime.Now
	}
	c := &Checkout{cfg: cfg, rt: cfg.Runtime, log: cfg.Logger.With("component", "checkout"),
		waiters: map[string]*waitEntry{}, active: map[string]time.Time{}, cache: map[string]cached{},
		lookups: map[string]time.Time{}, born: cfg.Now(),
		health: health{err: ErrNotRunning, since: time.Now()}}
	c.sched = newScheduler(cfg.Workers, c.drive, c.log)
	return c, nil
}

func (c *Checkout) now() time.Time { return c.cfg.Now() }

// Run consumes the bus, forwards the log (unless disabled), resumes unfinished checkouts
// and sweeps expired ones until ctx ends; then it stops gracefully (in-flight steps end,
// the forwarder stores its checkpoint) and returns nil.
//
// A failing bus consumer, forwarder or resume scan (the store or the bus went away) does
// not stop the saga: Run tears that session down, waits with capped exponential backoff
// (Config.RetryMin to Config.RetryMax) and starts again, resuming from the stored
// checkouts and the forwarder's checkpoint. Checkouts already being driven keep being
// retried meanwhile. Health reports the failure until a session runs again.
func (c *Checkout) Run(ctx context.Context) error {
	if c.cfg.Bus == nil {
		return errors.New("checkout: Run needs Config.Bus")
	}
	defer c.sched.stop()
	defer c.setStopped()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.sweep(ctx)
	}()
	backoff := c.cfg.RetryMin
	for {
		began := time.Now()
		err := c.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			err = errors.New("checkout: session ended without an error")
		}
		if time.Since(began) > 4*c.cfg.RetryMax {
			backoff = c.cfg.RetryMin // it ran for a while: a new fault, not the same one
		}
		c.setFailing(err)
		c.log.Warn("checkout saga interrupted; restarting", "err", err, "in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, c.cfg.RetryMax)
	}
}

// session runs the bus consumer, the resume scan and the forwarder until ctx ends (nil)
// or one of them fails (its error).
func (c *Checkout) session(ctx context.Context) error {
	sub, err := c.cfg.Bus.Subscriber(c.cfg.ConsumerGroup)
	if err != nil {
		return err
	}
	router, err := bus.NewRouter(bus.RouterConfig{
		Publisher:   c.cfg.Bus.Publisher(),
		PoisonTopic: c.cfg.Bus.Topic("poison"),
		Logger:      c.cfg.Logger,
	})
	if err != nil {
		sub.Close()
		return err
	}
	router.AddConsumerHandler("checkout-orders", c.cfg.Bus.Topic(domain.CategoryOrder), sub, c.handleOrderMessage)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 3)
	runDone := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(runDone)
		if err := router.Run(ctx); err != nil {
			errc <- fmt.Errorf("checkout: router: %w", err)
		}
	}()
	// closeRouter closes the router once it runs (or Run gave up): watermill's Close during
	// Run's start-up holds the handlers lock Run waits for, and hangs for the whole close
	// timeout (30 s) — seen when serve is stopped right after it started.
	closeRouter := func() {
		select {
		case <-router.Running():
		case <-runDone:
		}
		router.Close()
	}
	select {
	case <-router.Running():
	case <-ctx.Done():
	case err := <-errc:
		cancel()
		wg.Wait()
		return err
	}
	// Subscribed before forwarding, so the in-process bus drops nothing.
	if err := c.resume(ctx); err != nil && ctx.Err() == nil {
		cancel()
		closeRouter()
		wg.Wait()
		return fmt.Errorf("checkout: resume unfinished checkouts: %w", err)
	}
	var fwdDone chan struct{}
	if !c.cfg.DisableForwarder {
		fwd, err := bus.NewForwarder(bus.ForwarderConfig{
			Store: c.cfg.Store, Publisher: c.cfg.Bus.Publisher(), Name: c.cfg.ForwarderName,
			TopicPrefix: c.cfg.Bus.TopicPrefix(), Logger: c.cfg.Logger,
		})
		if err != nil {
			cancel()
			wg.Wait()
			return err
		}
		fwdDone = make(chan struct{})
		go func() {
			defer close(fwdDone)
			if err := fwd.Run(ctx); err != nil {
				errc <- err
			}
		}()
	}
	c.setHealthy()

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	cancel()
	if fwdDone != nil {
		<-fwdDone // the forwarder stores its checkpoint before the router stops acking
	}
	closeRouter()
	wg.Wait()
	return runErr
}

// resume drives every checkout that has not reached a terminal state, and starts the
// checkout of every order placed (its checkout request is recorded) whose saga never
// started: the bus message or the inline start may have been lost to a fault.
func (c *Checkout) resume(ctx context.Context) error {
	last := map[string]string{} // order id → last event type
	expiry := map[string]time.Time{}
	err := c.scan(ctx, Category+"-", func(rec eventstore.RecordedEvent) {
		id := strings.TrimPrefix(rec.Stream, Category+"-")
		last[id] = rec.Type
		if rec.Type == (Started{}).EventType() {
			if e, _, err := envelope.Decode(c.rt.Registry(), rec); err == nil {
				expiry[id] = e.(Started).ExpiresAt
			}
		}
	})
	if err != nil {
		return err
	}
	var unstarted []string
	err = c.scan(ctx, request.Category+"-", func(rec eventstore.RecordedEvent) {
		if id := strings.TrimPrefix(rec.Stream, request.Category+"-"); last[id] == "" {
			unstarted = append(unstarted, id)
		}
	})
	if err != nil {
		return err
	}
	n := 0
	for id, typ := range last {
		if typ == (Completed{}).EventType() {
			continue
		}
		c.track(id, expiry[id])
		c.sched.kick(id)
		n++
	}
	for _, id := range unstarted {
		c.sched.kick(id) // the drive starts it if the order is still pending
	}
	if n+len(unstarted) > 0 {
		c.log.Info("resuming unfinished checkouts", "count", n, "unstarted", len(unstarted))
	}
	return nil
}

// scan calls fn for every event of the streams whose names start with prefix.
func (c *Checkout) scan(ctx context.Context, prefix string, fn func(eventstore.RecordedEvent)) error {
	for from := uint64(0); ; {
		recs, err := c.cfg.Store.ReadAll(ctx, from, 1000, eventstore.Filter{StreamPrefix: prefix})
		if err != nil {
			return err
		}
		for _, rec := range recs {
			fn(rec)
			from = rec.Position
		}
		if len(recs) < 1000 {
			return nil
		}
	}
}

// sweep wakes expired checkouts so the driver expires them.
func (c *Checkout) sweep(ctx context.Context) {
	t := time.NewTicker(c.cfg.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := c.now()
		c.amu.Lock()
		var due []string
		for id, exp := range c.active {
			if !now.Before(exp) {
				due = append(due, id)
			}
		}
		c.amu.Unlock()
		for _, id := range due {
			c.sched.kick(id)
		}
	}
}

// SweepNow wakes every checkout whose reservations have expired (the sweeper does this
// every SweepInterval).
func (c *Checkout) SweepNow() {
	now := c.now()
	c.amu.Lock()
	var due []string
	for id, exp := range c.active {
		if !now.Before(exp) {
			due = append(due, id)
		}
	}
	c.amu.Unlock()
	for _, id := range due {
		c.sched.kick(id)
	}
}

func (c *Checkout) track(orderID string, expiresAt time.Time) {
	c.amu.Lock()
	c.active[orderID] = expiresAt
	c.amu.Unlock()
}

func (c *Checkout) untrack(orderID string) {
	c.amu.Lock()
	delete(c.active, orderID)
	delete(c.lookups, orderID)
	c.amu.Unlock()
}

// handleOrderMessage starts the saga on order.placed. The checkout.started event is
// stored before the message is acked; driving happens in the background.
func (c *Checkout) handleOrderMessage(msg *message.Message) error {
	if msg.Metadata.Get(bus.MetaEventType) != (domain.OrderPlaced{}).EventType() {
		return nil
	}
	ctx, span := c.messageSpan(msg)
	defer span.End()
	msg.SetContext(ctx)
	orderID := strings.TrimPrefix(msg.Metadata.Get(bus.MetaStream), domain.CategoryOrder+"-")
	err := c.start(msg.Context(), orderID, msg.UUID)
	if err != nil && !errors.Is(err, domain.ErrNotFound) && msg.Context().Err() == nil {
		// Most likely the store is unreachable: hand the start to the scheduler, which
		// retries with backoff, rather than let the message end in the poison queue.
		c.log.Warn("starting checkout failed; retrying in the background", "order", orderID, "err", err)
		c.sched.kick(orderID)
		return nil
	}
	return err
}

// start records checkout.started for a placed order (once) and schedules it.
func (c *Checkout) start(ctx context.Context, orderID, placedEventID string) error {
	ctx = c.joinOrderTrace(ctx, orderID)
	o, err := commands.Load(ctx, c.rt, domain.NewOrderDecider(), orderID)
	if err != nil {
		return err
	}
	if !o.Exists {
		return fmt.Errorf("checkout: order %s: %w", orderID, domain.ErrNotFound)
	}
	if o.State.Status != domain.OrderStatusPending {
		// Too late to start; a checkout that did start may still owe work.
		cs, _, err := c.load(ctx, orderID)
		if err != nil {
			return err
		}
		if cs.Exists() && !cs.Terminal() {
			c.track(orderID, cs.ExpiresAt)
			c.sched.kick(orderID)
		}
		return nil
	}
	lines := make([]LineRef, len(o.State.Lines))
	for i, l := range o.State.Lines {
		lines[i] = LineRef{SKU: l.SKU, Quantity: l.Quantity}
	}
	exp := c.now().Add(c.cfg.TTL).UTC()
	res, err := commands.Execute(ctx, c.rt, decider, start{Started{
		OrderID: orderID, CustomerID: o.State.CustomerID, Lines: lines, CouponCode: o.State.CouponCode,
		Subtotal: o.State.Totals.Subtotal, Amount: o.State.Totals.GrandTotal, ExpiresAt: exp, PlacedEventID: placedEventID,
	}}, c.meta(orderID, placedEventID, "start"))
	if err != nil {
		return fmt.Errorf("checkout: start %s: %w", orderID, err)
	}
	if !res.Replayed {
		c.observe(res.State, res.Events)
	}
	if res.State.Terminal() {
		return nil
	}
	if err := c.hook(orderID, "started"); err != nil {
		return nil // a test's simulated crash: nothing drives it until the next Run
	}
	c.notify(orderID)
	c.track(orderID, res.State.ExpiresAt)
	c.sched.kick(orderID)
	return nil
}

// Start begins the checkout of a placed order without waiting for the bus (idempotent).
// The bus does the same on order.placed; the HTTP layer may call it to save a hop.
func (c *Checkout) Start(ctx context.Context, orderID string) error {
	return c.start(ctx, orderID, "")
}

// meta is the metadata of a saga change. key, when set, makes the change's event ids
// deterministic (a repeated step is recognised by the store).
func (c *Checkout) meta(orderID, cause, key string) commands.Meta {
	m := commands.Meta{CorrelationID: orderID, CausationID: cause, Actor: Actor}
	if key != "" {
		m.IdempotencyKey = "checkout:" + orderID + ":" + key
	}
	return m
}

// load reads a checkout's state and the id of its last event.
func (c *Checkout) load(ctx context.Context, orderID string) (State, eventstore.RecordedEvent, error) {
	var s State
	var last eventstore.RecordedEvent
	stream := StreamName(orderID)
	for from := uint64(0); ; {
		recs, err := c.cfg.Store.ReadStream(ctx, stream, eventstore.Forward, from, 1000)
		if errors.Is(err, eventstore.ErrStreamNotFound) {
			return s, last, nil
		}
		if err != nil {
			return s, last, fmt.Errorf("checkout: load %s: %w", stream, err)
		}
		for _, rec := range recs {
			e, _, err := envelope.Decode(c.rt.Registry(), rec)
			if err != nil {
				return s, last, fmt.Errorf("checkout: load %s: %w", stream, err)
			}
			s.apply(e)
			last = rec
		}
		if len(recs) < 1000 {
			return s, last, nil
		}
		from = last.Version + 1
	}
}

// notify wakes Wait callers of an order.
func (c *Checkout) notify(orderID string) {
	c.wmu.Lock()
	if w, ok := c.waiters[orderID]; ok {
		close(w.ch)
		w.ch = make(chan struct{})
	}
	c.wmu.Unlock()
}

type waitEntry struct {
	ch   chan struct{}
	refs int
}

// watch registers a waiter on an order; changed returns the channel closed at the next
// change, release unregisters.
func (c *Checkout) watch(orderID string) (changed func() <-chan struct{}, release func()) {
	c.wmu.Lock()
	w, ok := c.waiters[orderID]
	if !ok {
		w = &waitEntry{ch: make(chan struct{})}
		c.waiters[orderID] = w
	}
	w.refs++
	c.wmu.Unlock()
	changed = func() <-chan struct{} {
		c.wmu.Lock()
		defer c.wmu.Unlock()
		return w.ch
	}
	release = func() {
		c.wmu.Lock()
		if w.refs--; w.refs == 0 {
			delete(c.waiters, orderID)
		}
		c.wmu.Unlock()
	}
	return changed, release
}
