package projections

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/eventstore"
)

// Sink is what the engine delivers a projection's events to: an SQL read model (see
// DB.Sink), the SQL search tables, an Elasticsearch index, or a consumer that is not a
// database at all (outgoing webhooks: one sink per endpoint, delivering over HTTP and
// keeping its checkpoint wherever it likes).
//
// The engine (Runner, RebuildSink) owns everything else: the subscription and decoding
// ahead, batching, deduplication of redelivered events, retries with backoff, the
// failed state naming its event, status and lag, moving the checkpoint past events the
// sink does not consume, and rebuild progress.
//
// A sink writes data and checkpoint so that a crash between them cannot lose an event:
// in one transaction (SQL), or data first and the checkpoint after, with writes that are
// harmless to repeat (Elasticsearch external versions, an idempotency key on a webhook).
type Sink interface {
	// Name of the projection (status, logs, leases).
	Name() string
	// Filter selects the events the sink consumes.
	Filter() eventstore.Filter
	// Open prepares the sink (creating its first generation when it has none) and
	// returns the live generation's checkpoint. An error wrapping ErrNewerVersion means
	// a newer build owns the sink (the runner stands by).
	Open(ctx context.Context) (Checkpoint, error)
	// Apply applies batch (in log order, after from; it may be empty) to generation
	// gen and moves the generation's checkpoint from from to to.Position. It answers an
	// error wrapping ErrFenced when the generation was retired or its checkpoint is no
	// longer from (the runner reloads), and an error from Failed for an event it cannot
	// apply.
	Apply(ctx context.Context, gen int64, from uint64, batch []Event, to Checkpoint) error
	// Fence checks, without writing, that gen is still the generation to write and
	// its checkpoint is at cursor (ErrFenced otherwise). The runner calls it while idle
	// and, at most every half second, while busy.
	Fence(ctx context.Context, gen int64, cursor uint64) error
	// RecordFailure records the failed state where other processes can see it (best
	// effort; a sink without shared storage may do nothing).
	RecordFailure(ctx context.Context, gen int64, f Failure) error
}

// Checkpoint is where a sink's generation stands.
type Checkpoint struct {
	Generation int64
	// Position: every event of the log up to it is applied.
	Position uint64
	// LastEventAt is the recorded time of the last event applied.
	LastEventAt time.Time
	// Stale: the generation was built by an older schema version; the runner rebuilds
	// it (the sink must implement Generations).
	Stale bool
}

// Generations is a sink with blue/green generations, which RebuildSink builds.
type Generations interface {
	Sink
	// Create drops every generation but live (leftovers of earlier rebuilds) and
	// creates the next one, empty, at position 0; ErrFenced when live is no longer
	// the live generation.
	Create(ctx context.Context, live int64) (int64, error)
	// Switch compares the live and the new generation at the same position (bringing
	// the one behind up with sw.Events when it can), and makes the new one live, or
	// drops it when sw.DryRun.
	Switch(ctx context.Context, sw Switch) (*RebuildReport, error)
	// Drop removes a generation that will not be switched to (a failed rebuild).
	Drop(ctx context.Context, gen int64) error
}

// Switch is what RebuildSink asks of Generations.Switch.
type Switch struct {
	Live, New int64
	// Position is the new generation's checkpoint.
	Position uint64
	DryRun   bool
	// Events reads the sink's events of any range of the log.
	Events *Reader
}

// Leaser is implemented by sinks whose instances must not run concurrently: the runner
// (lease Name()) and a rebuild (lease "rebuild:"+Name()) hold a lease while they work.
// Sinks without it run without one (their writes must tolerate a second instance).
type Leaser interface {
	// TryLease takes the named lease, or returns nil when another holder has it; the
	// lease is checked every check interval and Lost is closed when it is gone.
	TryLease(ctx context.Context, name string, check time.Duration) (*Lease, error)
}

// Lease is the right to run one projection (or one rebuild).
type Lease struct {
	// Lost is closed when the lease can no longer be vouched for.
	Lost <-chan struct{}
	// Release gives the lease back (idempotent).
	Release func()
}

// transient is implemented by sinks that know which of their errors are outages
// (retried as a whole, without counting as an event's attempt).
type transient interface {
	Transient(err error) bool
}

// ErrNewerVersion: the sink's live generation was built by a newer schema version.
var ErrNewerVersion = errors.New("the live read model has a newer schema version")

// Reader reads the decoded events of a sink's filter.
type Reader struct {
	store     eventstore.Store
	filter    eventstore.Filter
	reg       *domain.Registry
	batchSize int
}

// NewReader returns a reader of the events filter selects, decoded with reg, in pages
// of batchSize.
func NewReader(store eventstore.Store, filter eventstore.Filter, reg *domain.Registry, batchSize int) *Reader {
	return &Reader{store: store, filter: filter, reg: reg, batchSize: max(1, batchSize)}
}

// errTooFar: more events than the limit lie in the range.
var errTooFar = errors.New("too many events to apply in the switch")

// Range calls fn with the events in (from, to], in batches, each with the position
// its checkpoint moves to (the last batch ends at to). More than limit events (if
// limit > 0) stops it with an error.
func (r *Reader) Range(ctx context.Context, from, to uint64, limit int, fn func(batch []Event, end uint64) error) error {
	applied := 0
	for pos := from; pos < to; {
		if limit > 0 && applied > limit {
			return errTooFar
		}
		page, err := r.store.ReadAll(ctx, pos, r.batchSize, r.filter)
		if err != nil {
			return err
		}
		batch := make([]Event, 0, len(page))
		for _, rec := range page {
			if rec.Position > to {
				break
			}
			batch = append(batch, decodeEvent(r.reg, rec))
		}
		if err := undecodable(batch); err != nil {
			return err
		}
		end := to
		if len(batch) == r.batchSize {
			end = batch[len(batch)-1].Position
		}
		if err := fn(batch, end); err != nil {
			return err
		}
		applied += len(batch)
		pos = end
	}
	return nil
}

// undecodable is the error of the first event of batch that could not be decoded.
func undecodable(batch []Event) error {
	for _, e := range batch {
		if e.decodeErr != nil {
			return &EventError{Position: e.Position, Err: e.decodeErr}
		}
	}
	return nil
}

// WaitFor polls position (doubling the delay from minDelay up to maxDelay) until it
// reaches atLeast or maxWait passes; it reports whether it got there and the position
// it saw last. Every sink's minPosition read waits with it.
func WaitFor(ctx context.Context, position func(context.Context) (uint64, error), atLeast uint64, maxWait, minDelay, maxDelay time.Duration) (bool, uint64, error) {
	deadline := time.Now().Add(maxWait)
	delay := minDelay
	for {
		pos, err := position(ctx)
		if err != nil || pos >= atLeast {
			return err == nil, pos, err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return false, pos, nil
		}
		t := time.NewTimer(min(delay, left))
		select {
		case <-ctx.Done():
			t.Stop()
			return false, pos, ctx.Err()
		case <-t.C:
		}
		delay = min(delay*2, maxDelay)
	}
}

func errRegistry(what string) error {
	return fmt.Errorf("projections: %s.Registry is required (the program's event registry)", what)
}
