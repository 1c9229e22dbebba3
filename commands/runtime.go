// Package commands runs commands against aggregates: load the stream, fold it, decide,
// append at the version read, and retry a bounded number of times when another writer
// got there first.
package commands

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/envelope"
	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/telemetry"
)

// EventStore is the part of the event store the runtime uses.
type EventStore interface {
	Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error)
	ReadStream(ctx context.Context, stream string, dir eventstore.Direction, from uint64, limit int) ([]eventstore.RecordedEvent, error)
}

// ErrPreconditionFailed: the caller's If-Match version is not the aggregate's version.
var ErrPreconditionFailed = errors.New("precondition failed")

// ErrConflict: the aggregate kept changing under the command through every retry.
var ErrConflict = errors.New("too many concurrent changes")

// Runtime executes commands. Build it with NewRuntime.
type Runtime struct {
	store      EventStore
	reg        *domain.Registry
	now        func() time.Time
	maxRetries int
	log        *slog.Logger
	owner      func(state any) (customer string, owned bool)
	cache      *streamCache
	tracing    *telemetry.Tracing
	metrics    Metrics
}

// Metrics hears of optimistic-concurrency conflicts and the retries they cause
// (telemetry.Business implements it).
type Metrics interface {
	VersionConflict(category string)
	CommandRetry(category string)
}

type noMetrics struct{}

func (noMetrics) VersionConflict(string) {}
func (noMetrics) CommandRetry(string)    {}

// RuntimeOptions configure a Runtime. Zero values take the defaults.
type RuntimeOptions struct {
	// Now is the clock handed to deciders (default time.Now).
	Now func() time.Time
	// MaxRetries bounds re-deciding after a version conflict (default 50: a hot SKU in a
	// flash sale sees dozens of concurrent reservations, each losing at most a few rounds).
	MaxRetries int
	Logger     *slog.Logger
	// CacheStreams is how many streams' folded state the runtime keeps between commands
	// (default 4096; negative disables). Each command then reads only newer events.
	CacheStreams int
	// Owner tells which customer an aggregate state belongs to; owned is false for
	// aggregates no customer owns (products, stock). Default DefaultOwner.
	Owner func(state any) (customer string, owned bool)
	// Tracing records a span per command and puts the caller's trace context into the
	// events' metadata (default telemetry.Disabled(): no spans, context still carried).
	Tracing *telemetry.Tracing
	// Metrics counts conflicts and retries by stream category (default none).
	Metrics Metrics
}

// DefaultOwner knows the customer-owned aggregates: carts and orders.
func DefaultOwner(state any) (customer string, owned bool) {
	switch s := state.(type) {
	case domain.Cart:
		return s.CustomerID, true
	case domain.Order:
		return s.CustomerID, true
	}
	return "", false
}

// NewRuntime builds a runtime over store that encodes and decodes events with reg (the
// application's one registry: eventregistry.New).
func NewRuntime(store EventStore, reg *domain.Registry, opt RuntimeOptions) *Runtime {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.MaxRetries <= 0 {
		opt.MaxRetries = 50
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Owner == nil {
		opt.Owner = DefaultOwner
	}
	if opt.CacheStreams == 0 {
		opt.CacheStreams = 4096
	}
	if opt.Tracing == nil {
		opt.Tracing = telemetry.Disabled()
	}
	if opt.Metrics == nil {
		opt.Metrics = noMetrics{}
	}
	return &Runtime{store: store, reg: reg, now: opt.Now, maxRetries: opt.MaxRetries, log: opt.Logger, owner: opt.Owner,
		cache: newStreamCache(opt.CacheStreams), tracing: opt.Tracing, metrics: opt.Metrics}
}

// Registry is the runtime's event registry.
func (rt *Runtime) Registry() *domain.Registry { return rt.reg }

// Now reads the runtime's clock.
func (rt *Runtime) Now() time.Time { return rt.now() }

// Store is the runtime's event store.
func (rt *Runtime) Store() EventStore { return rt.store }

// Meta is what a caller says about a command: who, why, and its idempotency key.
type Meta struct {
	CorrelationID  string
	CausationID    string
	Actor          string
	IdempotencyKey string
	// IfMatch, when set, is the aggregate version the caller last saw (HTTP If-Match); a
	// different version fails with ErrPreconditionFailed instead of being retried.
	IfMatch *uint64
	// Customer, when set, confines the command to aggregates this customer owns (see
	// RuntimeOptions.Owner): anyone else's cart or order fails with an error wrapping
	// domain.ErrNotFound, exactly as if it did not exist, so its existence does not leak.
	// Admins and system actors leave it empty.
	Customer string
}

// foreign reports whether state is owned by someone other than customer.
func (rt *Runtime) foreign(state any, customer string) bool {
	if customer == "" {
		return false
	}
	owner, owned := rt.owner(state)
	return owned && owner != customer
}

func hidden(category, id string) error {
	return fmt.Errorf("%w: %s %s does not exist", domain.ErrNotFound, category, id)
}

// CheckOwner is the read-side counterpart of Meta.Customer: it fails with an error wrapping
// domain.ErrNotFound when the aggregate does not exist or, with customer set, belongs to
// someone else.
func CheckOwner[S any, C domain.Command](rt *Runtime, d domain.Decider[S, C], id string, l Loaded[S], customer string) error {
	if !l.Exists || rt.foreign(l.State, customer) {
		return hidden(d.Category, id)
	}
	return nil
}

// Loaded is an aggregate's state as read from its stream.
type Loaded[S any] struct {
	State  S
	Stream string
	// Exists is false when the stream has no events.
	Exists bool
	// Version of the last event (meaningful when Exists).
	Version uint64
	// Position of the last event in $all (0 when the stream does not exist).
	Position uint64
	// ids of the events read by this load (earlier ones are in the runtime's cache), to
	// recognise an idempotent retry.
	ids map[uuid.UUID]struct{}
	rt  *Runtime
}

// hasEvent reports whether the stream holds an event with id.
func (l Loaded[S]) hasEvent(id uuid.UUID) bool {
	if _, ok := l.ids[id]; ok {
		return true
	}
	return l.rt != nil && l.rt.cache.has(l.Stream, id)
}

// Result is the outcome of a command.
type Result[S any] struct {
	State  S
	Stream string
	// Version of the aggregate after the command (its ETag).
	Version uint64
	// Position is the global position the command committed; for a command that changed
	// nothing, the position of the aggregate's last event.
	Position uint64
	// Events the command appended (none for an idempotent repeat).
	Events []domain.Event
	// Replayed is true when the command had already been applied under the same
	// idempotency key, so nothing was appended this time.
	Replayed bool
}

const pageSize = 1000

// Load reads and folds the aggregate id: from the runtime's cached state, reading only
// the events appended since, or from the start of the stream.
func Load[S any, C domain.Command](ctx context.Context, rt *Runtime, d domain.Decider[S, C], id string) (Loaded[S], error) {
	stream := d.StreamName(id)
	l := Loaded[S]{Stream: stream, rt: rt}
	start := uint64(0)
	if st, version, position, ok := rt.cache.get(stream); ok {
		if s, ok := st.(S); ok {
			l.State, l.Exists, l.Version, l.Position = s, true, version, position
			start = version + 1
		}
	}
	var newIDs []uuid.UUID
	for from := start; ; {
		recs, err := rt.store.ReadStream(ctx, stream, eventstore.Forward, from, pageSize)
		if errors.Is(err, eventstore.ErrStreamNotFound) {
			return l, nil
		}
		if err != nil {
			return l, fmt.Errorf("load %s: %w", stream, err)
		}
		evs := make([]domain.Event, 0, len(recs))
		for _, rec := range recs {
			e, _, err := envelope.Decode(rt.reg, rec)
			if err != nil {
				return l, fmt.Errorf("load %s: %w", stream, err)
			}
			evs = append(evs, e)
			if l.ids == nil {
				l.ids = map[uuid.UUID]struct{}{}
			}
			l.ids[rec.ID] = struct{}{}
			newIDs = append(newIDs, rec.ID)
			l.Exists, l.Version, l.Position = true, rec.Version, rec.Position
		}
		if len(evs) > 0 {
			l.State = d.Fold(l.State, evs)
		}
		if len(recs) < pageSize {
			break
		}
		from = recs[len(recs)-1].Version + 1
	}
	if l.Exists && len(newIDs) > 0 {
		rt.cache.put(stream, l.State, start, l.Version, l.Position, newIDs)
	}
	return l, nil
}

// Execute runs cmd against its aggregate: load, decide, append at the version read; on a
// version conflict it reloads and decides again, up to the runtime's retry bound.
//
// With an idempotency key, event ids derive from the key, and a command whose first event
// is already in the stream is recognised as applied: Execute returns Replayed instead of
// deciding again.
//
// cmd must implement the decider's command interface C; it is typed domain.Command so that
// callers can pass a concrete command struct.
//
// Each command is a span ("command <category>") in the caller's trace, and the events it
// appends carry that span's trace context in their metadata.
func Execute[S any, C domain.Command](ctx context.Context, rt *Runtime, d domain.Decider[S, C], command domain.Command, meta Meta) (Result[S], error) {
	ctx, span := rt.tracing.Tracer().Start(ctx, "command "+d.Category, trace.WithAttributes(
		attribute.String("orderengine.command", fmt.Sprintf("%T", command)),
		attribute.String("orderengine.stream_category", d.Category)))
	defer span.End()
	res, err := execute(ctx, rt, d, command, meta)
	switch {
	case err != nil:
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	case res.Replayed:
		span.SetAttributes(attribute.Bool("orderengine.replayed", true))
	}
	return res, err
}

func execute[S any, C domain.Command](ctx context.Context, rt *Runtime, d domain.Decider[S, C], command domain.Command, meta Meta) (Result[S], error) {
	cmd, ok := command.(C)
	if !ok {
		return Result[S]{}, fmt.Errorf("command %T is not a %s command", command, d.Category)
	}
	id := cmd.AggregateID()
	for attempt := 0; ; attempt++ {
		l, err := Load(ctx, rt, d, id)
		if err != nil {
			return Result[S]{}, err
		}
		// before If-Match and replay, so neither reveals anything about someone else's aggregate
		if l.Exists && rt.foreign(l.State, meta.Customer) {
			return Result[S]{}, hidden(d.Category, id)
		}
		if meta.IfMatch != nil && (!l.Exists || l.Version != *meta.IfMatch) {
			return Result[S]{}, fmt.Errorf("%w: %s is at version %s, not %d", ErrPreconditionFailed, l.Stream, versionString(l), *meta.IfMatch)
		}
		if meta.IdempotencyKey != "" {
			if l.hasEvent(envelope.DeterministicID(meta.IdempotencyKey, l.Stream, 0)) {
				return Result[S]{State: l.State, Stream: l.Stream, Version: l.Version, Position: l.Position, Replayed: true}, nil
			}
		}
		now := rt.now()
		evs, err := d.Decide(l.State, cmd, now)
		if err != nil {
			return Result[S]{State: l.State, Stream: l.Stream, Version: l.Version, Position: l.Position}, err
		}
		if len(evs) == 0 {
			return Result[S]{State: l.State, Stream: l.Stream, Version: l.Version, Position: l.Position}, nil
		}
		next := d.Fold(l.State, evs)
		if rt.foreign(next, meta.Customer) { // a create on someone else's behalf
			return Result[S]{}, &domain.ValidationError{Problems: []domain.FieldProblem{{Field: "customerId", Reason: "must be your own"}}}
		}
		data := make([]eventstore.EventData, len(evs))
		tc := rt.tracing.Inject(ctx)
		for i, e := range evs {
			eid := uuid.New()
			if meta.IdempotencyKey != "" {
				eid = envelope.DeterministicID(meta.IdempotencyKey, l.Stream, i)
			}
			data[i], err = envelope.Encode(rt.reg, eid, e, envelope.Metadata{
				CorrelationID:  meta.CorrelationID,
				CausationID:    meta.CausationID,
				Actor:          meta.Actor,
				OccurredAt:     now.UTC(),
				IdempotencyKey: meta.IdempotencyKey,
				TraceParent:    tc.TraceParent,
				TraceState:     tc.TraceState,
			})
			if err != nil {
				return Result[S]{}, err
			}
		}
		expected := eventstore.NoStream
		if l.Exists {
			expected = eventstore.Exact(l.Version)
		}
		res, err := rt.store.Append(ctx, l.Stream, expected, data...)
		if errors.Is(err, eventstore.ErrWrongExpectedVersion) {
			rt.metrics.VersionConflict(d.Category)
			if meta.IfMatch != nil {
				return Result[S]{}, fmt.Errorf("%w: %s changed concurrently", ErrPreconditionFailed, l.Stream)
			}
			if attempt+1 >= rt.maxRetries {
				return Result[S]{}, fmt.Errorf("%w: %s after %d attempts: %w", ErrConflict, l.Stream, attempt+1, err)
			}
			rt.log.Debug("version conflict, retrying", "stream", l.Stream, "attempt", attempt+1)
			rt.metrics.CommandRetry(d.Category)
			if err := backoff(ctx, attempt); err != nil {
				return Result[S]{}, err
			}
			continue
		}
		if err != nil {
			return Result[S]{}, fmt.Errorf("append to %s: %w", l.Stream, err)
		}
		return Result[S]{State: next, Stream: l.Stream, Version: res.Version, Position: res.Position, Events: evs}, nil
	}
}

func versionString[S any](l Loaded[S]) string {
	if !l.Exists {
		return "none (no such aggregate)"
	}
	return fmt.Sprint(l.Version)
}

// backoff waits before retrying a conflicted command: exponential with full jitter,
// capped, so writers contending for a hot aggregate spread out instead of colliding again.
func backoff(ctx context.Context, attempt int) error {
	ceiling := time.Millisecond << min(attempt, 6) // 1ms … 64ms
	d := time.Duration(rand.Int64N(int64(ceiling)))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ForgetCached drops every cached aggregate state, so the next load reads the store
// again: after a customer's erasure, states folded from their personal data (a cart's
// address, a payment's token) must not outlive their key in memory.
func (rt *Runtime) ForgetCached() { rt.cache.clear() }
