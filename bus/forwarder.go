package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/eventstore"
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
// Publish failures are retried with backoff (the log is never skipped). On the memory bus
// run the consumers' router on the same ctx: an event published while they stop is then
// not counted as delivered.
func (f *Forwarder) Run(ctx context.Context) error {
	from, err := f.Checkpoint(ctx)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.published, f.saved = from, from
	f.mu.Unlock()
	filter := eventstore.Filter{}
	if len(f.cfg.Categories) == 1 {
		filter.StreamPrefix = f.cfg.Categories[0] + "-"
	}
	sub, err := f.cfg.Store.SubscribeAll(ctx, from, filter)
	if err != nil {
		return fmt.Errorf("bus forwarder: subscribe: %w", err)
	}
	defer sub.Close()
	f.readyOnce.Do(func() { close(f.ready) })
	f.cfg.Logger.Info("bus forwarder started", "from", from, "checkpoint", f.stream)

	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := f.save(sctx); err != nil {
			f.cfg.Logger.Error("bus forwarder: final checkpoint", "err", err)
		}
	}()

	pending := 0
	lastSave := time.Now()
	for {
		// Wait for the next event, but wake up to store a due checkpoint.
		nctx, cancel := context.WithTimeout(ctx, f.cfg.CheckpointInterval)
		rec, err := sub.Next(nctx)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		switch {
		case errors.Is(err, context.DeadlineExceeded):
		case err != nil:
			return fmt.Errorf("bus forwarder: read log: %w", err)
		default:
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
				f.cfg.Logger.Warn("bus forwarder: store checkpoint", "err", err)
				continue
			}
			pending, lastSave = 0, time.Now()
		}
	}
}

func (f *Forwarder) publish(ctx context.Context, rec eventstore.RecordedEvent) error {
	topic := Topic(f.cfg.TopicPrefix, Category(rec.Stream))
	wait := 50 * time.Millisecond
	for {
		err := f.cfg.Publisher.Publish(topic, NewMessage(rec))
		if err == nil {
			return nil
		}
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
