package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/lease"
	"github.com/orderengine/orderengine/telemetry"
)

// Message metadata keys of the W3C trace context (see ForwarderConfig.Tracing).
const (
	MetaTraceParent = "traceparent"
	MetaTraceState  = "tracestate"
)

// Checkpoints live in the event store itself, in stream "forwarder-<name>", as events of
// type CheckpointEventType with data {"position": n}: every event at or below n has been
// published (and, on the memory bus, handled). Keeping them in the store works on every
// tier (SQLite, PostgreSQL, KurrentDB), survives restarts with the events it describes,
// and needs no extra file or table. Writes are batched (every CheckpointEvery events or
// CheckpointInterval), so a crash republishes at most that many events: consumers are
// idempotent, and NATS drops the repeats inside its de-duplication window.
const (
	CheckpointCategory  = "forwarder"
	CheckpointEventType = "forwarder.checkpoint"
)

// ForwarderConfig configures a Forwarder.
type ForwarderConfig struct {
	Store     eventstore.Store
	Publisher message.Publisher
	// Name identifies the checkpoint stream "forwarder-<name>" (default "bus").
	Name string
	// TopicPrefix of the topics (default DefaultTopicPrefix); see Topic.
	TopicPrefix string
	// Categories to forward; empty forwards every category but the forwarder's own.
	Categories []string
	// CheckpointEvery and CheckpointInterval batch checkpoint writes (defaults 100, 1s).
	CheckpointEvery    int
	CheckpointInterval time.Duration
	Logger             *slog.Logger
	// Health, if set, hears about failures being retried and recoveries.
	Health Health
	// Lease, if set, makes the forwarder singleton work: Run forwards only while it holds
	// the lease "forwarder-<name>" and stands by otherwise (replicas on one database).
	Lease lease.Locker
	// LeaseRetry is how often a standby forwarder tries to take the lease (default 1s).
	LeaseRetry time.Duration
	// RetryMin and RetryMax bound the backoff after a store error (defaults 100ms, 5s).
	RetryMin, RetryMax time.Duration
	// Tracing, if set, records a span per forwarded event in the trace of the request
	// that caused it (from the event's metadata) and passes the trace context on in the
	// message's metadata ("traceparent", "tracestate").
	Tracing *telemetry.Tracing
}

// Health receives the forwarder's state (supervise.Health implements it).
type Health interface {
	OK()
	Retrying(err error) int
	Standby()
}

// Forwarder publishes the ordered log to the bus.
type Forwarder struct {
	cfg    ForwarderConfig
	stream string

	mu        sync.Mutex
	published uint64 // last position handed to the bus
	saved     uint64 // last position stored
	version   *uint64
	ready     chan struct{}
	readyOnce sync.Once
}

// NewForwarder validates cfg and returns a Forwarder.
func NewForwarder(cfg ForwarderConfig) (*Forwarder, error) {
	var errs []error
	if cfg.Store == nil {
		errs = append(errs, errors.New("bus forwarder: Store is required"))
	}
	if cfg.Publisher == nil {
		errs = append(errs, errors.New("bus forwarder: Publisher is required"))
	}
	if cfg.Name == "" {
		cfg.Name = "bus"
	}
	if !validName(cfg.Name) {
		errs = append(errs, fmt.Errorf("bus forwarder: name %q must be letters, digits, '-' or '_'", cfg.Name))
	}
	if cfg.TopicPrefix == "" {
		cfg.TopicPrefix = DefaultTopicPrefix
	}
	if cfg.CheckpointEvery <= 0 {
		cfg.CheckpointEvery = 100
	}
	if cfg.CheckpointInterval <= 0 {
		cfg.CheckpointInterval = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = 100 * time.Millisecond
	}
	if cfg.RetryMax < cfg.RetryMin {
		cfg.RetryMax = max(5*time.Second, cfg.RetryMin)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &Forwarder{cfg: cfg, stream: CheckpointCategory + "-" + cfg.Name, ready: make(chan struct{})}, nil
}

// Checkpoint is the data of a CheckpointEventType event.
type Checkpoint struct {
	Position uint64 `json:"position"`
}

// EventType implements domain.Event.
func (Checkpoint) EventType() string { return CheckpointEventType }

// RegisterEvents registers Checkpoint in reg (for readers that decode the whole log);
// registering it again is a no-op.
func RegisterEvents(reg *domain.Registry) error {
	if p, ok := reg.Prototype(CheckpointEventType); ok {
		if _, same := p.(Checkpoint); same {
			return nil
		}
	}
	err := reg.Register(CheckpointEventType, 1, Checkpoint{})
	if p, ok := reg.Prototype(CheckpointEventType); ok {
		if _, same := p.(Checkpoint); same {
			return nil
		}
	}
	return err
}

// Checkpoint reads the stored checkpoint (0 when none).
func (f *Forwarder) Checkpoint(ctx context.Context) (uint64, error) {
	recs, err := f.cfg.Store.ReadStream(ctx, f.stream, eventstore.Backward, eventstore.End, 1)
	if errors.Is(err, eventstore.ErrStreamNotFound) {
		f.setVersion(nil)
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("bus forwarder: read checkpoint: %w", err)
	}
	var cp Checkpoint
	if err := json.Unmarshal(recs[0].Data, &cp); err != nil {
		return 0, fmt.Errorf("bus forwarder: decode checkpoint: %w", err)
	}
	v := recs[0].Version
	f.setVersion(&v)
	return cp.Position, nil
}

func (f *Forwarder) setVersion(v *uint64) {
	f.mu.Lock()
	f.version = v
	f.mu.Unlock()
}

// Published is the position of the last event handed to the bus by this process.
func (f *Forwarder) Published() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.published
}

// Ready is closed once Run has read its checkpoint and subscribed.
func (f *Forwarder) Ready() <-chan struct{} { return f.ready }

func (f *Forwarder) forwards(stream string) bool {
	c := Category(stream)
	if c == CheckpointCategory {
		return false
	}
	return len(f.cfg.Categories) == 0 || slices.Contains(f.cfg.Categories, c)
}

// Run forwards events until ctx ends, then stores a last checkpoint and returns nil.
// Publish failures are retried with backoff (the log is never skipped); so are store
// errors (reading the checkpoint or the log, storing the checkpoint): the forwarder
// resumes after the last event it published, reporting the outage to cfg.Health. With
// cfg.Lease it forwards only while holding the lease. On the memory bus run the
// consumers' router on the same ctx: an event published while they stop is then not
// counted as delivered.
func (f *Forwarder) Run(ctx context.Context) error {
	if f.cfg.Lease == nil {
		return f.runHeld(ctx)
	}
	return lease.Hold(ctx, f.cfg.Lease, f.stream, lease.HoldOptions{
		Retry: f.cfg.LeaseRetry,
		OnStandby: func(err error) {
			if err != nil {
				f.retrying(fmt.Errorf("take the lease: %w", err))
				return
			}
			if f.cfg.Health != nil {
				f.cfg.Health.Standby()
			}
			f.readyOnce.Do(func() { close(f.ready) })
		},
		OnAcquired: func() { f.cfg.Logger.Info("bus forwarder took the lease", "lease", f.stream) },
	}, f.runHeld)
}

func (f *Forwarder) retrying(err error) int {
	if f.cfg.Health != nil {
		return f.cfg.Health.Retrying(err)
	}
	return 0
}

func (f *Forwarder) ok() {
	if f.cfg.Health != nil {
		f.cfg.Health.OK()
	}
}

// wait sleeps the backoff of the n-th consecutive failure; false when ctx ended.
func (f *Forwarder) wait(ctx context.Context, n int) bool {
	d := f.cfg.RetryMin
	for i := 1; i < n && d < f.cfg.RetryMax; i++ {
		d *= 2
	}
	d = min(d, f.cfg.RetryMax)
	d += time.Duration(float64(d) * 0.2 * (2*rand.Float64() - 1))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// runHeld forwards from the stored checkpoint until ctx ends.
func (f *Forwarder) runHeld(ctx context.Context) error {
	var from uint64
	for failures := 0; ; {
		var err error
		if from, err = f.Checkpoint(ctx); err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		failures++
		f.retrying(err)
		f.cfg.Logger.Warn("bus forwarder: read checkpoint, retrying", "err", err, "attempt", failures)
		if !f.wait(ctx, failures) {
			return nil
		}
	}
	f.mu.Lock()
	f.published, f.saved = from, from
	f.mu.Unlock()
	filter := eventstore.Filter{}
	if len(f.cfg.Categories) == 1 {
		filter.StreamPrefix = f.cfg.Categories[0] + "-"
	}
	f.cfg.Logger.Info("bus forwarder started", "from", from, "checkpoint", f.stream)

	fenced := false
	defer func() {
		if errors.Is(context.Cause(ctx), lease.ErrLost) || fenced {
			// Another replica may hold the lease now: its checkpoint is the one that counts.
			return
		}
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := f.save(sctx); err != nil {
			f.cfg.Logger.Error("bus forwarder: final checkpoint", "err", err)
		}
	}()

	var sub eventstore.Subscription
	defer func() {
		if sub != nil {
			sub.Close()
		}
	}()
	pending := 0
	lastSave := time.Now()
	failures := 0        // consecutive read failures
	saveFailing := false // the last checkpoint write failed
	for {
		if sub == nil {
			// (Re)subscribe after the last event handed to the bus: nothing is skipped.
			var err error
			sub, err = f.cfg.Store.SubscribeAll(ctx, f.Published(), filter)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				sub = nil
				failures++
				f.retrying(fmt.Errorf("subscribe: %w", err))
				f.cfg.Logger.Warn("bus forwarder: subscribe, retrying", "err", err, "attempt", failures)
				if !f.wait(ctx, failures) {
					return nil
				}
				continue
			}
			f.readyOnce.Do(func() { close(f.ready) })
			if failures == 0 {
				f.ok()
			}
		}
		// Wait for the next event, but wake up to store a due checkpoint.
		nctx, cancel := context.WithTimeout(ctx, f.cfg.CheckpointInterval)
		rec, err := sub.Next(nctx)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			if failures == 0 && !saveFailing {
				f.ok()
			}
		case errors.Is(err, eventstore.ErrInterrupted):
			// The subscription backs off and resumes by itself.
			failures++
			f.retrying(fmt.Errorf("read log: %w", err))
			f.cfg.Logger.Warn("bus forwarder: read log, retrying", "err", err)
		case err != nil:
			failures++
			f.retrying(fmt.Errorf("read log: %w", err))
			f.cfg.Logger.Warn("bus forwarder: subscription failed, resubscribing", "err", err, "attempt", failures)
			sub.Close()
			sub = nil
			if !f.wait(ctx, failures) {
				return nil
			}
			continue
		default:
			if failures > 0 {
				failures = 0
				if !saveFailing {
					f.ok()
				}
			}
			if f.forwards(rec.Stream) {
				if err := f.publish(ctx, rec); err != nil || ctx.Err() != nil {
					// Stopping: the in-process bus reports a message discarded by a
					// closing subscriber as delivered, so it does not count.
					return nil
				}
				pending++
			}
			// Skipped events (e.g. checkpoints) advance the position without forcing a write.
			f.mu.Lock()
			f.published = rec.Position
			f.mu.Unlock()
		}
		if pending > 0 && (pending >= f.cfg.CheckpointEvery || time.Since(lastSave) >= f.cfg.CheckpointInterval) {
			if err := f.save(ctx); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				if f.cfg.Lease != nil && errors.Is(err, eventstore.ErrWrongExpectedVersion) {
					// Another replica took the lease before this one noticed losing it:
					// its checkpoint wins; stand by and take the lease again when free.
					f.cfg.Logger.Info("bus forwarder: another forwarder moved the checkpoint; standing by", "checkpoint", f.stream)
					fenced = true
					return nil
				}
				saveFailing = true
				f.retrying(fmt.Errorf("store checkpoint: %w", err))
				f.cfg.Logger.Warn("bus forwarder: store checkpoint", "err", err)
				continue
			}
			pending, lastSave = 0, time.Now()
			if saveFailing {
				saveFailing = false
				if failures == 0 {
					f.ok()
				}
			}
		}
	}
}

func (f *Forwarder) publish(ctx context.Context, rec eventstore.RecordedEvent) error {
	topic := Topic(f.cfg.TopicPrefix, Category(rec.Stream))
	msg := NewMessage(rec)
	if t := f.cfg.Tracing; t != nil {
		sctx, span := t.StartFromEvent(ctx, "bus.forward "+topic, rec.Metadata, trace.WithSpanKind(trace.SpanKindProducer),
			trace.WithAttributes(attribute.String("messaging.destination.name", topic), attribute.Int64("orderengine.position", int64(rec.Position)),
				attribute.String("orderengine.event_type", rec.Type)))
		defer span.End()
		tc := t.Inject(sctx)
		if tc.TraceParent != "" {
			msg.Metadata.Set(MetaTraceParent, tc.TraceParent)
		}
		if tc.TraceState != "" {
			msg.Metadata.Set(MetaTraceState, tc.TraceState)
		}
	}
	wait := 50 * time.Millisecond
	for failed := false; ; failed = true {
		err := f.cfg.Publisher.Publish(topic, msg)
		if err == nil {
			if failed {
				f.ok()
			}
			return nil
		}
		f.retrying(fmt.Errorf("publish to %s: %w", topic, err))
		f.cfg.Logger.Warn("bus forwarder: publish failed, retrying", "topic", topic, "position", rec.Position, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
			wait = min(wait*2, 5*time.Second)
		}
	}
}

// save appends a checkpoint if the published position moved.
func (f *Forwarder) save(ctx context.Context) error {
	f.mu.Lock()
	pos, saved, version := f.published, f.saved, f.version
	f.mu.Unlock()
	if pos <= saved {
		return nil
	}
	data, _ := json.Marshal(Checkpoint{Position: pos})
	expected := eventstore.NoStream
	if version != nil {
		expected = eventstore.Exact(*version)
	}
	res, err := f.cfg.Store.Append(ctx, f.stream, expected, eventstore.EventData{ID: uuid.New(), Type: CheckpointEventType, Data: data, Metadata: []byte(`{"actor":"system:bus"}`)})
	if errors.Is(err, eventstore.ErrWrongExpectedVersion) {
		// Another forwarder with this name wrote meanwhile; re-read and retry next time.
		if _, rerr := f.Checkpoint(ctx); rerr != nil {
			return rerr
		}
		return err
	}
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.saved = pos
	v := res.Version
	f.version = &v
	f.mu.Unlock()
	return nil
}
