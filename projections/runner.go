package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/telemetry"
)

// State of a runner.
type State string

const (
	StateStarting State = "starting"
	StateStandby  State = "standby"   // another instance holds the lease
	StateRunning  State = "running"   // applying events, behind the head
	StateCaughtUp State = "caught-up" // checkpoint at the head of the log
	StateFailed   State = "failed"    // stopped at an event that kept failing
	StateStopped  State = "stopped"
)

// Failure names the event a projection stopped at.
type Failure struct {
	Position uint64 `json:"position"`
	Stream   string `json:"stream"`
	Type     string `json:"type"`
	EventID  string `json:"eventId"`
	Error    string `json:"error"`
	Attempts int    `json:"attempts"`
}

// FailedError is returned by Run when the projection stopped in the failed state.
type FailedError struct {
	Projection string
	Failure    Failure
}

func (e *FailedError) Error() string {
	f := e.Failure
	return fmt.Sprintf("projection %s failed at position %d (stream %s, type %s, event %s) after %d attempts: %s",
		e.Projection, f.Position, f.Stream, f.Type, f.EventID, f.Attempts, f.Error)
}

// Status is a runner's state and lag.
type Status struct {
	Name       string `json:"name"`
	State      State  `json:"state"`
	Generation int64  `json:"generation"`
	// Checkpoint is the position up to which the read model is complete.
	Checkpoint uint64 `json:"checkpoint"`
	// Head is the log's last position, as last read.
	Head uint64 `json:"head"`
	// Lag is Head − Checkpoint (positions are not dense: compare, do not count).
	Lag uint64 `json:"lag"`
	// LagSeconds is how far behind the last applied event's recorded time the runner is
	// (0 when caught up).
	LagSeconds float64 `json:"lagSeconds"`
	// LastEventAt is the recorded time of the last applied event.
	LastEventAt time.Time `json:"lastEventAt,omitzero"`
	// Applied counts events this runner applied since it started.
	Applied uint64 `json:"applied"`
	// Failure is set in the failed state.
	Failure *Failure `json:"failure,omitempty"`
	// LastError is the last transient error (retried), if any.
	LastError string `json:"lastError,omitempty"`
	// RetryingSince is when the current run of transient errors began (zero once the
	// runner makes progress again): readiness turns on how long it lasts.
	RetryingSince time.Time `json:"retryingSince,omitzero"`
}

// RunnerOptions tune a runner. The zero value is usable.
type RunnerOptions struct {
	// BatchSize is the most events applied in one transaction (default 500).
	BatchSize int
	// IdleCheck is how long without events before the runner checks the head and moves
	// its checkpoint past events it does not consume (default 100ms).
	IdleCheck time.Duration
	// MaxAttempts is how many times a failing event is tried before the failed state
	// (default 5); Backoff (default 100ms) doubles between attempts up to MaxBackoff (5s).
	MaxAttempts int
	Backoff     time.Duration
	MaxBackoff  time.Duration
	// LeaseRetry is how often a standby instance tries to take the lease (default 1s);
	// LeaseCheck how often the holder checks its lease connection (default 1s).
	LeaseRetry time.Duration
	LeaseCheck time.Duration
	// Registry decodes events. Required: the program builds its registry once and
	// passes it to every runner.
	Registry *domain.Registry
	Logger   *slog.Logger
	// Now is the clock for lag in seconds (default time.Now).
	Now func() time.Time
	// Tracing, if set, records a span per applied batch (see applyTraced).
	Tracing *telemetry.Tracing
}

func (o RunnerOptions) withDefaults() RunnerOptions {
	if o.BatchSize <= 0 {
		o.BatchSize = 500
	}
	if o.IdleCheck <= 0 {
		o.IdleCheck = 100 * time.Millisecond
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 5
	}
	if o.Backoff <= 0 {
		o.Backoff = 100 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 5 * time.Second
	}
	if o.LeaseRetry <= 0 {
		o.LeaseRetry = time.Second
	}
	if o.LeaseCheck <= 0 {
		o.LeaseCheck = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

func (o RunnerOptions) backoff(attempt int) time.Duration {
	d := o.Backoff
	for i := 1; i < attempt && d < o.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, o.MaxBackoff)
}

// Runner keeps one sink's live generation up to date. Run it once per process and
// projection; instances in other processes stand by until the lease is free.
type Runner struct {
	sink  Sink
	store eventstore.Store
	opt   RunnerOptions

	mu sync.Mutex
	st Status

	noLease bool // tests: run without the lease to exercise the checkpoint fence
}

// NewRunner returns a runner for the SQL projection p reading store and writing db.
func NewRunner(db *DB, store eventstore.Store, p Projection, opt RunnerOptions) (*Runner, error) {
	if err := validate(p); err != nil {
		return nil, err
	}
	return NewSinkRunner(db.Sink(p), store, opt)
}

// NewSinkRunner returns a runner feeding sink from store.
func NewSinkRunner(sink Sink, store eventstore.Store, opt RunnerOptions) (*Runner, error) {
	if opt.Registry == nil {
		return nil, errRegistry("RunnerOptions")
	}
	return &Runner{sink: sink, store: store, opt: opt.withDefaults(), st: Status{Name: sink.Name(), State: StateStopped}}, nil
}

// Name of the projection.
func (r *Runner) Name() string { return r.sink.Name() }

// Status returns a snapshot of the runner's state and lag.
func (r *Runner) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.st
	if s.Failure != nil {
		f := *s.Failure
		s.Failure = &f
	}
	if s.Head > s.Checkpoint {
		s.Lag = s.Head - s.Checkpoint
		if !s.LastEventAt.IsZero() {
			s.LagSeconds = max(0, r.opt.Now().Sub(s.LastEventAt).Seconds())
		}
	}
	return s
}

func (r *Runner) update(fn func(*Status)) {
	r.mu.Lock()
	fn(&r.st)
	r.mu.Unlock()
}

func (r *Runner) setState(s State) { r.update(func(st *Status) { st.State = s }) }

var errLeaseLost = errors.New("projection lease lost")

// Run applies events until ctx ends (returning nil, state stopped) or an event keeps
// failing (returning *FailedError, state failed). Transient errors (the database, the
// sink or the event store unavailable, a lost lease) are logged and retried. Run may be
// called again after it returns (e.g. after fixing the cause of a failure), not
// concurrently.
func (r *Runner) Run(ctx context.Context) error {
	r.update(func(st *Status) { st.State, st.Failure, st.LastError = StateStarting, nil, "" })
	log := r.opt.Logger.With("projection", r.sink.Name())
	attempt := 0
	for {
		if ctx.Err() != nil {
			r.setState(StateStopped)
			return nil
		}
		l, err := r.acquire(ctx)
		if err != nil {
			r.setState(StateStopped)
			return nil // ctx ended
		}
		err = r.runHeld(ctx, l)
		l.Release()
		var fe *FailedError
		switch {
		case errors.As(err, &fe):
			r.update(func(st *Status) { st.State, st.Failure = StateFailed, &fe.Failure })
			log.Error("projection failed", "err", err)
			return err
		case ctx.Err() != nil:
			r.setState(StateStopped)
			return nil
		case errors.Is(err, ErrFenced):
			log.Info("projection restarts", "reason", err)
			attempt = 0
			continue
		}
		attempt++
		r.update(func(st *Status) {
			st.LastError = err.Error()
			if st.RetryingSince.IsZero() {
				st.RetryingSince = r.opt.Now()
			}
		})
		log.Warn("projection interrupted; retrying", "err", err, "attempt", attempt)
		wait := r.opt.backoff(attempt)
		if errors.Is(err, errLeaseLost) {
			wait = r.opt.LeaseRetry // give a healthy instance the first chance
		}
		if sleep(ctx, wait) != nil {
			r.setState(StateStopped)
			return nil
		}
	}
}

// noLease is the lease of a sink that needs none.
func noLease() *Lease { return &Lease{Lost: make(chan struct{}), Release: func() {}} }

// acquire waits for the projection's lease.
func (r *Runner) acquire(ctx context.Context) (*Lease, error) {
	ls, ok := r.sink.(Leaser)
	if r.noLease || !ok {
		return noLease(), nil
	}
	for {
		l, err := ls.TryLease(ctx, r.sink.Name(), r.opt.LeaseCheck)
		if l != nil {
			return l, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err != nil {
			r.update(func(st *Status) { st.LastError = err.Error() })
		}
		r.setState(StateStandby)
		if err := sleep(ctx, r.opt.LeaseRetry); err != nil {
			return nil, err
		}
	}
}

func (r *Runner) runHeld(ctx context.Context, l *Lease) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-l.Lost:
			cancel(errLeaseLost)
		case <-stop:
		}
	}()
	wrap := func(err error) error {
		if c := context.Cause(ctx); c != nil && errors.Is(c, errLeaseLost) {
			return errLeaseLost
		}
		return err
	}

	cp, err := r.sink.Open(ctx)
	if errors.Is(err, ErrNewerVersion) {
		r.setState(StateStandby) // a newer build owns the read model
	}
	if err != nil {
		return wrap(err)
	}
	if cp.Stale {
		g, ok := r.sink.(Generations)
		if !ok {
			return fmt.Errorf("projection %s: stale generation and no rebuild", r.sink.Name())
		}
		r.opt.Logger.Info("projection schema changed; rebuilding", "projection", r.sink.Name())
		r.setState(StateRunning)
		if _, err := RebuildSink(ctx, g, r.store, RebuildOptions{Registry: r.opt.Registry, Logger: r.opt.Logger}); err != nil {
			return wrap(err)
		}
		return fmt.Errorf("%w: rebuilt at the new schema version", ErrFenced)
	}
	r.update(func(st *Status) {
		st.Generation, st.Checkpoint, st.State = cp.Generation, cp.Position, StateRunning
		if !cp.LastEventAt.IsZero() {
			st.LastEventAt = cp.LastEventAt
		}
	})
	if head, err := r.store.Head(ctx); err == nil {
		r.update(func(st *Status) { st.Head = max(head, cp.Position) })
	}
	sub, err := r.store.SubscribeAll(ctx, cp.Position, r.sink.Filter())
	if err != nil {
		return wrap(err)
	}
	f := startFeed(ctx, sub, r.opt.Registry, feedBuffer(r.opt.BatchSize))
	defer f.stop()
	w := &worker{sink: r.sink, store: r.store, opt: r.opt, gen: cp.Generation, cursor: cp.Position,
		lastEventAt: cp.LastEventAt, fence: true,
		onApplied: func(batch []Event, cursor uint64) {
			r.update(func(st *Status) {
				st.RetryingSince = time.Time{}
				st.Checkpoint = cursor
				st.Applied += uint64(len(batch))
				if len(batch) > 0 {
					st.LastEventAt = batch[len(batch)-1].RecordedAt
				}
				if st.Head < cursor {
					st.Head = cursor
				}
				if st.Head > cursor {
					st.State = StateRunning
				}
			})
		},
		onHead: func(head, cursor uint64) {
			r.update(func(st *Status) {
				st.RetryingSince = time.Time{}
				st.Head, st.Checkpoint = max(head, cursor), cursor
				st.State = StateRunning
				if head <= cursor {
					st.State = StateCaughtUp
				}
			})
		},
	}
	return wrap(w.run(ctx, f, false))
}

// worker applies a feed to one generation; the runner and Rebuild share it.
type worker struct {
	sink        Sink
	store       eventstore.Store
	opt         RunnerOptions
	gen         int64
	cursor      uint64
	lastEventAt time.Time
	// fence: check the generation is still live while idle and busy (the live runner;
	// a rebuild writes a generation that is not live yet).
	fence bool

	onApplied func(batch []Event, cursor uint64)
	onHead    func(head, cursor uint64)
	lastHead  time.Time
	// target, if set, ends run once the cursor reaches it (rebuilds).
	target uint64
}

// headEvery bounds how often a busy worker reads the head for its status.
const headEvery = 500 * time.Millisecond

// run applies batches until ctx ends, an error, or (untilCaughtUp) the log's head or
// the target.
func (w *worker) run(ctx context.Context, f *feed, untilCaughtUp bool) error {
	for {
		batch, err := f.collect(ctx, w.opt.BatchSize, w.opt.IdleCheck)
		if errors.Is(err, errIdle) {
			caught, err := w.checkHead(ctx, f, true)
			if err != nil {
				return err
			}
			if caught && untilCaughtUp {
				return nil
			}
			continue
		}
		if err != nil {
			return err
		}
		batch = dedupe(batch, w.cursor)
		if len(batch) == 0 {
			continue
		}
		if err := w.applyTraced(ctx, batch); err != nil {
			return err
		}
		if untilCaughtUp && w.target > 0 && w.cursor >= w.target {
			return nil
		}
		if time.Since(w.lastHead) >= headEvery {
			if w.fence {
				// A rebuild may retire the generation while events keep coming (a sink
				// without transactions would otherwise write into a dropped index).
				if err := w.sink.Fence(ctx, w.gen, w.cursor); err != nil {
					return err
				}
			}
			caught, err := w.checkHead(ctx, f, f.empty())
			if err != nil {
				return err
			}
			if caught && untilCaughtUp {
				return nil
			}
		}
	}
}

// checkHead reads the head; when idle (nothing buffered) and no consumed event lies
// between the checkpoint and the head, it moves the checkpoint to the head, past events
// of other projections, so that lag and minPosition waits see them as done.
func (w *worker) checkHead(ctx context.Context, f *feed, idle bool) (bool, error) {
	w.lastHead = time.Now()
	if idle && w.fence {
		// A switch or reset retires the generation: notice it even when no event comes.
		if err := w.sink.Fence(ctx, w.gen, w.cursor); err != nil {
			return false, err
		}
	}
	head, err := w.store.Head(ctx)
	if err != nil {
		return false, err
	}
	if head > w.cursor && idle && f.empty() {
		next, err := w.store.ReadAll(ctx, w.cursor, 1, w.sink.Filter())
		if err != nil {
			return false, err
		}
		if len(next) == 0 {
			if err := w.sink.Apply(ctx, w.gen, w.cursor, nil, Checkpoint{Generation: w.gen, Position: head, LastEventAt: w.lastEventAt}); err != nil {
				return false, err
			}
			w.cursor = head
			if w.onApplied != nil {
				w.onApplied(nil, head)
			}
		}
	}
	if w.onHead != nil {
		w.onHead(head, w.cursor)
	}
	return head <= w.cursor, nil
}

// applyOnce applies events to the sink and moves the checkpoint to their last.
func (w *worker) applyOnce(ctx context.Context, batch []Event) error {
	if err := undecodable(batch); err != nil {
		return err
	}
	last := batch[len(batch)-1]
	return w.sink.Apply(ctx, w.gen, w.cursor, batch, Checkpoint{Generation: w.gen, Position: last.Position, LastEventAt: last.RecordedAt})
}

func (w *worker) advance(batch []Event) {
	last := batch[len(batch)-1]
	w.cursor, w.lastEventAt = last.Position, last.RecordedAt
	if w.onApplied != nil {
		w.onApplied(batch, w.cursor)
	}
}

// retryable errors end the batch and are retried as a whole by the caller: a moved
// fence, the end of ctx, an outage the sink reports as such.
func (w *worker) retryable(ctx context.Context, err error) bool {
	if errors.Is(err, ErrFenced) || ctx.Err() != nil {
		return true
	}
	t, ok := w.sink.(transient)
	return ok && t.Transient(err)
}

// apply applies a batch at once; when that fails, it applies the events one at a time
// with retries and backoff, so that a failure names its event.
func (w *worker) apply(ctx context.Context, batch []Event) error {
	err := w.applyOnce(ctx, batch)
	if err == nil {
		w.advance(batch)
		return nil
	}
	if w.retryable(ctx, err) {
		return err
	}
	name := w.sink.Name()
	w.opt.Logger.Warn("projection batch failed; applying its events one by one", "projection", name,
		"from", batch[0].Position, "to", batch[len(batch)-1].Position, "err", err)
	firstErr := err
	for i, e := range batch {
		one := batch[i : i+1]
		attempt, err := 0, error(nil)
		if len(batch) == 1 {
			attempt, err = 1, firstErr // the batch was this event's first attempt
		}
		for {
			if attempt > 0 {
				if w.retryable(ctx, err) {
					return err
				}
				if attempt >= w.opt.MaxAttempts {
					return w.fail(e, err, attempt)
				}
				w.opt.Logger.Warn("projection event failed; retrying", "projection", name,
					"position", e.Position, "stream", e.Stream, "type", e.Type, "attempt", attempt, "err", err)
				if err := sleep(ctx, w.opt.backoff(attempt)); err != nil {
					return err
				}
			}
			attempt++
			if err = w.applyOnce(ctx, one); err == nil {
				break
			}
		}
		w.advance(one)
	}
	return nil
}

func (w *worker) fail(e Event, err error, attempts int) error {
	f := Failure{Position: e.Position, Stream: e.Stream, Type: e.Type, Error: err.Error(), Attempts: attempts}
	if e.ID != uuid.Nil {
		f.EventID = e.ID.String()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if rerr := w.sink.RecordFailure(ctx, w.gen, f); rerr != nil {
		w.opt.Logger.Warn("projection failure not recorded", "projection", w.sink.Name(), "err", rerr)
	}
	return &FailedError{Projection: w.sink.Name(), Failure: f}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
