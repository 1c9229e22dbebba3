package elastic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/envelope"
	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/projections"
	"github.com/orderengine/orderengine/search"
	"github.com/orderengine/orderengine/search/internal/docs"
)

// Runner keeps the index behind the alias up to date from the log.
type Runner struct {
	c     *client
	store eventstore.Store
	opt   projections.RunnerOptions
	// aliasEvery is how often an idle runner checks that the alias still points at
	// its index (a rebuild swaps it).
	aliasEvery time.Duration

	mu sync.Mutex
	st projections.Status
}

func withDefaults(o projections.RunnerOptions) projections.RunnerOptions {
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
	if o.Registry == nil {
		o.Registry = domain.NewDomainRegistry()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

func backoff(o projections.RunnerOptions, attempt int) time.Duration {
	d := o.Backoff
	for i := 1; i < attempt && d < o.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, o.MaxBackoff)
}

func newRunner(c *client, store eventstore.Store, opt projections.RunnerOptions) *Runner {
	return &Runner{c: c, store: store, opt: withDefaults(opt), aliasEvery: time.Second,
		st: projections.Status{Name: ProjectionName, State: projections.StateStopped}}
}

// Status is a snapshot of the runner's state and lag.
func (r *Runner) Status() projections.Status {
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

func (r *Runner) update(fn func(*projections.Status)) {
	r.mu.Lock()
	fn(&r.st)
	r.mu.Unlock()
}

func (r *Runner) setState(s projections.State) {
	r.update(func(st *projections.Status) { st.State = s })
}

// Run applies events until ctx ends (nil, state stopped) or an event keeps failing
// (*projections.FailedError, state failed). Elasticsearch being unavailable is
// retried with backoff for as long as it lasts (LastError in the status). Run again
// after a failure resumes from the checkpoint.
func (r *Runner) Run(ctx context.Context) error {
	r.update(func(st *projections.Status) {
		st.State, st.Failure, st.LastError = projections.StateStarting, nil, ""
	})
	attempt := 0
	for {
		if ctx.Err() != nil {
			r.setState(projections.StateStopped)
			return nil
		}
		err := r.runOnce(ctx)
		var fe *projections.FailedError
		switch {
		case errors.As(err, &fe):
			r.update(func(st *projections.Status) { st.State, st.Failure = projections.StateFailed, &fe.Failure })
			r.opt.Logger.Error("projection failed", "projection", ProjectionName, "err", err)
			return err
		case ctx.Err() != nil:
			r.setState(projections.StateStopped)
			return nil
		case errors.Is(err, errAliasMoved):
			r.opt.Logger.Info("search index switched; following the alias", "alias", r.c.alias)
			attempt = 0
			continue
		}
		attempt++
		r.update(func(st *projections.Status) { st.LastError = err.Error() })
		r.opt.Logger.Warn("search projection interrupted; retrying", "err", err, "attempt", attempt)
		if sleep(ctx, backoff(r.opt, attempt)) != nil {
			r.setState(projections.StateStopped)
			return nil
		}
	}
}

func (r *Runner) runOnce(ctx context.Context) error {
	index, err := r.c.ensureLive(ctx)
	if err != nil {
		return err
	}
	cp, err := r.c.checkpoint(ctx, index)
	if err != nil {
		return err
	}
	r.update(func(st *projections.Status) {
		st.Generation, st.Checkpoint, st.State = r.c.generationOf(index), cp.Position, projections.StateRunning
		if cp.LastEventAt != 0 {
			st.LastEventAt = time.Unix(0, cp.LastEventAt).UTC()
		}
	})
	w := &worker{c: r.c, store: r.store, opt: r.opt, index: index, cursor: cp.Position, lastEventAt: cp.LastEventAt,
		followAlias: true, aliasEvery: r.aliasEvery,
		onApplied: func(batch []projections.Event, cursor uint64) {
			r.update(func(st *projections.Status) {
				st.Checkpoint = cursor
				st.Applied += uint64(len(batch))
				if len(batch) > 0 {
					st.LastEventAt = batch[len(batch)-1].RecordedAt
				}
				st.Head = max(st.Head, cursor)
				if st.Head > cursor {
					st.State = projections.StateRunning
				}
			})
		},
		onHead: func(head, cursor uint64) {
			r.update(func(st *projections.Status) {
				st.Head, st.Checkpoint = max(head, cursor), cursor
				st.State = projections.StateRunning
				if head <= cursor {
					st.State = projections.StateCaughtUp
				}
			})
		},
	}
	return w.run(ctx, false)
}

// worker applies the log to one index; the runner and Rebuild share it.
type worker struct {
	c           *client
	store       eventstore.Store
	opt         projections.RunnerOptions
	index       string
	cursor      uint64
	lastEventAt int64
	// followAlias makes an idle worker stop with errAliasMoved when the alias no
	// longer points at its index.
	followAlias bool
	aliasEvery  time.Duration
	// target, if set, ends an untilCaughtUp run once the cursor reaches it.
	target uint64

	onApplied func(batch []projections.Event, cursor uint64)
	onHead    func(head, cursor uint64)
}

const headEvery = 500 * time.Millisecond

// run subscribes from the cursor and applies batches until ctx ends, an error, or
// (untilCaughtUp) the head or the target.
func (w *worker) run(ctx context.Context, untilCaughtUp bool) error {
	sub, err := w.store.SubscribeAll(ctx, w.cursor, docs.Filter())
	if err != nil {
		return fmt.Errorf("%w: subscribe: %w", search.ErrUnavailable, err)
	}
	f := startFeed(ctx, sub, w.opt.Registry, min(2*w.opt.BatchSize, 8192))
	defer f.stop()
	lastAlias, lastHead := time.Now(), time.Time{}
	for {
		batch, err := f.collect(ctx, w.opt.BatchSize, w.opt.IdleCheck)
		if errors.Is(err, errIdle) {
			if w.followAlias && time.Since(lastAlias) >= w.aliasEvery {
				lastAlias = time.Now()
				live, err := w.c.liveIndex(ctx)
				if err != nil {
					return err
				}
				if live != w.index {
					return errAliasMoved
				}
			}
			lastHead = time.Now()
			caught, err := w.checkHead(ctx, f)
			if err != nil {
				return err
			}
			if caught && untilCaughtUp {
				return nil
			}
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("%w: subscription: %w", search.ErrUnavailable, err)
		}
		batch = dedupe(batch, w.cursor)
		if len(batch) == 0 {
			continue
		}
		if err := w.apply(ctx, batch); err != nil {
			return err
		}
		if untilCaughtUp && w.target > 0 && w.cursor >= w.target {
			return nil
		}
		if time.Since(lastHead) >= headEvery {
			lastHead = time.Now()
			if head, err := w.store.Head(ctx); err == nil && w.onHead != nil {
				w.onHead(head, w.cursor)
			}
		}
	}
}

// checkHead reads the head; when nothing is buffered and no consumed event lies
// between the cursor and the head, it moves the checkpoint to the head (so that waits
// for positions of events this projection ignores complete).
func (w *worker) checkHead(ctx context.Context, f *feed) (bool, error) {
	head, err := w.store.Head(ctx)
	if err != nil {
		return false, fmt.Errorf("%w: head: %w", search.ErrUnavailable, err)
	}
	if head > w.cursor && f.empty() {
		next, err := w.store.ReadAll(ctx, w.cursor, 1, docs.Filter())
		if err != nil {
			return false, fmt.Errorf("%w: read: %w", search.ErrUnavailable, err)
		}
		if len(next) == 0 {
			if err := w.c.setCheckpoint(ctx, w.index, Checkpoint{Position: head, LastEventAt: w.lastEventAt}); err != nil {
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

func transient(err error) bool { return errors.Is(err, search.ErrUnavailable) }

// apply applies a batch. An unavailable Elasticsearch is returned as is (the caller
// retries the batch); other failures are retried event by event with backoff, and an
// event that keeps failing stops the worker with *projections.FailedError.
func (w *worker) apply(ctx context.Context, batch []projections.Event) error {
	err := w.applyBatch(ctx, batch)
	if err == nil {
		w.advance(batch)
		return nil
	}
	if transient(err) || ctx.Err() != nil {
		return err
	}
	w.opt.Logger.Warn("search batch failed; applying its events one by one", "from", batch[0].Position,
		"to", batch[len(batch)-1].Position, "err", err)
	for i, e := range batch {
		for attempt := 1; ; attempt++ {
			if err = w.applyBatch(ctx, batch[i:i+1]); err == nil {
				break
			}
			if transient(err) || ctx.Err() != nil {
				return err
			}
			if attempt >= w.opt.MaxAttempts {
				return w.fail(e, err, attempt)
			}
			if err := sleep(ctx, backoff(w.opt, attempt)); err != nil {
				return err
			}
		}
		w.advance(batch[i : i+1])
	}
	return nil
}

func (w *worker) advance(batch []projections.Event) {
	last := batch[len(batch)-1]
	w.cursor = last.Position
	w.lastEventAt = last.RecordedAt.UnixNano()
	if w.onApplied != nil {
		w.onApplied(batch, w.cursor)
	}
}

func (w *worker) fail(e projections.Event, err error, attempts int) error {
	f := projections.Failure{Position: e.Position, Stream: e.Stream, Type: e.Type, Error: err.Error(), Attempts: attempts}
	if e.ID != uuid.Nil {
		f.EventID = e.ID.String()
	}
	return &projections.FailedError{Projection: ProjectionName, Failure: f}
}

// applyBatch folds a batch with the documents it touches and writes the changed ones,
// then the checkpoint.
func (w *worker) applyBatch(ctx context.Context, batch []projections.Event) error {
	for _, e := range batch {
		if e.Data == nil {
			return projections.Failed(e, fmt.Errorf("event %s could not be decoded", e.Type))
		}
	}
	b := docs.NewBatch()
	pids, skus := docs.Touched(batch)
	if err := w.loadStock(ctx, b, skus); err != nil {
		return err
	}
	pids = slices.Compact(slices.Sorted(slices.Values(append(pids, b.Owners()...))))
	if err := w.loadProducts(ctx, b, pids); err != nil {
		return err
	}
	if err := w.loadStock(ctx, b, b.MissingSKUs()); err != nil {
		return err
	}
	if err := b.Apply(batch); err != nil {
		return err
	}
	var ops []bulkOp
	for _, p := range b.DirtyProducts() {
		ops = append(ops, bulkOp{ID: productID(p.ID), Version: p.Position, Doc: toProductDoc(b.Document(p), p.Product)})
	}
	for _, s := range b.DirtyStock() {
		owners := s.Owners
		if owners == nil {
			owners = []string{}
		}
		ops = append(ops, bulkOp{ID: stockID(s.SKU), Version: s.Position, Doc: stockDoc{Kind: kindStock, SKU: s.SKU,
			OnHand: s.OnHand, Reserved: s.Reserved, Owners: owners, Position: s.Position}})
	}
	if err := w.c.bulk(ctx, w.index, ops); err != nil {
		return err
	}
	last := batch[len(batch)-1]
	return w.c.setCheckpoint(ctx, w.index, Checkpoint{Position: last.Position, LastEventAt: last.RecordedAt.UnixNano()})
}

func (w *worker) loadStock(ctx context.Context, b *docs.Batch, skus []string) error {
	if len(skus) == 0 {
		return nil
	}
	ids := make([]string, len(skus))
	for i, s := range skus {
		ids[i] = stockID(s)
	}
	found, err := w.c.mget(ctx, w.index, ids)
	if err != nil {
		return err
	}
	for _, id := range ids {
		src, ok := found[id]
		if !ok {
			continue
		}
		var d stockDoc
		if err := json.Unmarshal(src, &d); err != nil {
			return fmt.Errorf("search: stock document %s: %w", id, err)
		}
		b.AddStock(&docs.Stock{SKU: d.SKU, OnHand: d.OnHand, Reserved: d.Reserved, Owners: d.Owners, Position: d.Position})
	}
	return nil
}

func (w *worker) loadProducts(ctx context.Context, b *docs.Batch, pids []string) error {
	if len(pids) == 0 {
		return nil
	}
	ids := make([]string, len(pids))
	for i, p := range pids {
		ids[i] = productID(p)
	}
	found, err := w.c.mget(ctx, w.index, ids)
	if err != nil {
		return err
	}
	for _, id := range ids {
		src, ok := found[id]
		if !ok {
			continue
		}
		var d productDoc
		if err := json.Unmarshal(src, &d); err != nil {
			return fmt.Errorf("search: product document %s: %w", id, err)
		}
		if d.State == nil {
			return fmt.Errorf("search: product document %s has no state", id)
		}
		b.AddProduct(&docs.Product{Product: *d.State, Version: d.Version, Position: d.Position, CreatedPosition: d.CreatedPosition})
	}
	return nil
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

// feed reads a subscription in its own goroutine, decoding ahead of the applier.
type feed struct {
	ch      chan feedItem
	cancel  context.CancelFunc
	done    chan struct{}
	sub     eventstore.Subscription
	pending *feedItem
}

type feedItem struct {
	ev  projections.Event
	err error
}

var errIdle = errors.New("no events")

func startFeed(ctx context.Context, sub eventstore.Subscription, reg *domain.Registry, buf int) *feed {
	ctx, cancel := context.WithCancel(ctx)
	f := &feed{ch: make(chan feedItem, buf), cancel: cancel, done: make(chan struct{}), sub: sub}
	go func() {
		defer close(f.done)
		for {
			rec, err := sub.Next(ctx)
			var it feedItem
			if err != nil {
				it.err = err
			} else {
				d, md, derr := envelope.Decode(reg, rec)
				it.ev = projections.Event{RecordedEvent: rec, Data: d, Metadata: md}
				if derr != nil {
					it.ev.Data = nil
				}
			}
			select {
			case f.ch <- it:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return f
}

func (f *feed) stop() {
	f.cancel()
	_ = f.sub.Close()
	<-f.done
}

func (f *feed) empty() bool { return f.pending == nil && len(f.ch) == 0 }

// collect returns up to max events: it waits up to idle for the first (errIdle when none
// comes), then takes what is buffered. An undecodable event comes alone.
func (f *feed) collect(ctx context.Context, max int, idle time.Duration) ([]projections.Event, error) {
	var first feedItem
	if f.pending != nil {
		first, f.pending = *f.pending, nil
	} else {
		t := time.NewTimer(idle)
		select {
		case first = <-f.ch:
			t.Stop()
		case <-t.C:
			return nil, errIdle
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
	}
	if first.err != nil {
		f.pending = &first
		return nil, first.err
	}
	batch := []projections.Event{first.ev}
	if first.ev.Data == nil {
		return batch, nil
	}
	for len(batch) < max {
		select {
		case it := <-f.ch:
			if it.err != nil || it.ev.Data == nil {
				f.pending = &it
				return batch, nil
			}
			batch = append(batch, it.ev)
		default:
			return batch, nil
		}
	}
	return batch, nil
}

// dedupe drops events at or before the cursor and any that do not advance.
func dedupe(batch []projections.Event, cursor uint64) []projections.Event {
	out := batch[:0]
	for _, e := range batch {
		if e.Position > cursor {
			out = append(out, e)
			cursor = e.Position
		}
	}
	return out
}
