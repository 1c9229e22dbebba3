package webhooks

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/integration"
)

// Log is what the worker needs of the ordered log: read pages after a position, filtered
// by event type, and the head. eventstore.Store satisfies it; the shared projection
// engine can feed the worker through it (see the package README).
type Log interface {
	ReadAll(ctx context.Context, from uint64, limit int, filter eventstore.Filter) ([]eventstore.RecordedEvent, error)
	Head(ctx context.Context) (uint64, error)
}

// DefaultSchedule is the wait before each retry: 9 retries over about 3 days, after the
// first attempt. Each wait is jittered by ±20 %.
var DefaultSchedule = []time.Duration{
	5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour,
	10 * time.Hour, 14 * time.Hour, 20 * time.Hour, 20 * time.Hour,
}

// Hooks let the caller count what the worker does (metrics) without the package choosing
// a metrics library. Both may be nil.
type Hooks struct {
	// Attempt is called after every delivery attempt; statusCode is 0 when none came back.
	Attempt func(endpointID string, statusCode int, latency time.Duration, outcome string)
	// Disabled is called when the worker disables an endpoint (410, or failing too long).
	Disabled func(endpointID, reason string)
}

// WorkerConfig configures the delivery worker. Store, Endpoints and Lease are required.
type WorkerConfig struct {
	// Store keeps the delivery logs and checkpoints (and is the log when Log is nil).
	Store     eventstore.Store
	Log       Log
	Endpoints *Endpoints
	// Translator derives integration events (default: the domain registry's).
	Translator *integration.Translator
	// Lease makes one replica deliver; the others wait for it to be released or lost.
	Lease Lease
	// Client sends the requests (default NewClient(Endpoints' Security, Timeout)).
	Client *http.Client
	// Timeout of one attempt (default 10 s).
	Timeout time.Duration
	// Schedule is the wait before each retry (default DefaultSchedule); after the last,
	// the delivery is given up and later events of the same order proceed.
	Schedule []time.Duration
	// DisableAfter disables an endpoint whose attempts have all failed for this long
	// (default 5 days; negative: never).
	DisableAfter time.Duration
	// PollInterval is how often the worker looks for new events and endpoint changes
	// (default 500 ms).
	PollInterval time.Duration
	// CheckpointEvery bounds how often checkpoints are written (default 1 s).
	CheckpointEvery time.Duration
	// MaxPending is how many undelivered events one endpoint holds in memory before it
	// stops reading ahead (default 10,000).
	MaxPending int
	// Concurrency is how many orders one endpoint sends to at once (default 4); the
	// events of one order are always sent one at a time, in log order.
	Concurrency int
	Hooks       Hooks
	Logger      *slog.Logger
	Now         func() time.Time
	// Rand returns a float in [0,1) for the jitter (default math/rand/v2).
	Rand func() float64
}

// Worker delivers integration events to the enabled endpoints.
type Worker struct {
	c WorkerConfig
}

// NewWorker checks the configuration and fills defaults.
func NewWorker(c WorkerConfig) (*Worker, error) {
	if c.Store == nil || c.Endpoints == nil || c.Lease == nil {
		return nil, errors.New("webhooks: Store, Endpoints and Lease are required")
	}
	if c.Log == nil {
		c.Log = c.Store
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.Client == nil {
		c.Client = NewClient(c.Endpoints.sec, c.Timeout)
	}
	if c.Schedule == nil {
		c.Schedule = DefaultSchedule
	}
	if c.DisableAfter == 0 {
		c.DisableAfter = 5 * 24 * time.Hour
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 500 * time.Millisecond
	}
	if c.CheckpointEvery <= 0 {
		c.CheckpointEvery = time.Second
	}
	if c.MaxPending <= 0 {
		c.MaxPending = 10_000
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 4
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Rand == nil {
		c.Rand = rand.Float64
	}
	if c.Translator == nil {
		return nil, errors.New("webhooks: Translator is required")
	}
	return &Worker{c: c}, nil
}

// Run delivers until ctx ends: it takes the lease, runs one goroutine per enabled
// endpoint, and when the lease is lost stops them and waits to take it again.
func (w *Worker) Run(ctx context.Context) error {
	for {
		lost, release, err := w.c.Lease.Acquire(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			w.c.Logger.Warn("webhooks: lease", "err", err)
			if !sleep(ctx, w.c.PollInterval*4) {
				return nil
			}
			continue
		}
		w.c.Logger.Info("webhooks: delivering (lease taken)")
		runCtx, cancel := context.WithCancel(ctx)
		go func() {
			select {
			case <-lost:
				w.c.Logger.Warn("webhooks: lease lost; stopping deliveries")
			case <-runCtx.Done():
			}
			cancel()
		}()
		err = w.supervise(runCtx)
		cancel()
		release()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			w.c.Logger.Error("webhooks: worker failed; retrying", "err", err)
		}
		if !sleep(ctx, w.c.PollInterval) {
			return nil
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

type control struct {
	version uint64 // in the endpoints stream
	r       retryEvent
}

type handle struct {
	r         *runner
	cancel    context.CancelFunc
	done      chan struct{}
	err       error
	stopped   bool      // exited on its own (disabled itself)
	updatedAt time.Time // the endpoint's UpdatedAt when it exited
	failedAt  time.Time
}

// supervise follows the endpoints stream and keeps one runner per enabled endpoint.
func (w *Worker) supervise(ctx context.Context) error {
	reg := newRegistry()
	retries := map[string][]control{}
	runners := map[string]*handle{}
	defer func() {
		for _, h := range runners {
			h.cancel()
		}
		for _, h := range runners {
			<-h.done
		}
	}()
	for {
		recs, err := reg.catchUp(ctx, w.c.Store, w.c.Endpoints.box)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		for _, rec := range recs {
			if rec.Type != evRetryRequested {
				continue
			}
			var r retryEvent
			if json.Unmarshal(rec.Data, &r) != nil {
				continue
			}
			c := control{version: rec.Version, r: r}
			retries[r.EndpointID] = append(retries[r.EndpointID], c)
			if len(retries[r.EndpointID]) > 1000 {
				retries[r.EndpointID] = retries[r.EndpointID][1:]
			}
			if h := runners[r.EndpointID]; h != nil && !h.stopped {
				h.r.addControl(c)
			}
		}
		now := w.c.Now()
		for id, h := range runners {
			ep := reg.byID[id]
			select {
			case <-h.done:
				if ep == nil || !ep.Enabled {
					delete(runners, id)
					continue
				}
				switch {
				case h.stopped && ep.UpdatedAt.After(h.updatedAt):
					delete(runners, id) // re-enabled or changed since: start again
				case h.err != nil && !h.stopped && now.Sub(h.failedAt) > 4*w.c.PollInterval:
					delete(runners, id)
				}
				continue
			default:
			}
			if ep == nil || !ep.Enabled {
				h.cancel()
				continue
			}
			if len(recs) > 0 {
				h.r.update(ep.clone())
			}
		}
		for _, id := range reg.order {
			ep := reg.byID[id]
			if !ep.Enabled || runners[id] != nil {
				continue
			}
			rctx, cancel := context.WithCancel(ctx)
			r := &runner{w: w, wake: make(chan struct{}, 1), latest: ep.clone()}
			h := &handle{r: r, cancel: cancel, done: make(chan struct{})}
			for _, c := range retries[id] {
				r.addControl(c)
			}
			runners[id] = h
			go func() {
				defer close(h.done)
				stopped, err := r.run(rctx)
				h.stopped, h.err, h.failedAt = stopped, err, w.c.Now()
				h.updatedAt = r.ep.UpdatedAt
				if err != nil && rctx.Err() == nil {
					w.c.Logger.Error("webhooks: endpoint runner failed; restarting", "endpoint", id, "err", err)
				}
			}()
		}
		if !sleep(ctx, w.c.PollInterval) {
			return nil
		}
	}
}

// item is one event waiting to be delivered to one endpoint.
type item struct {
	ev       integration.Event
	body     []byte
	id       string // webhook-id
	key      string // ordering key
	attempt  int    // attempts made
	first    time.Time
	nextAt   time.Time
	manual   bool
	ctlVer   uint64 // manual: the request's version in the endpoints stream
	inFlight bool
}

// runner delivers to one endpoint.
type runner struct {
	w    *Worker
	ep   *Endpoint
	wake chan struct{}

	mu       sync.Mutex
	latest   *Endpoint
	controls []control

	stream  string
	version uint64 // of the delivery stream; appends are at this exact version
	exists  bool
	cursor  uint64 // last log position read
	gen     int
	ctlDone int64 // endpoints-stream version up to which retry requests are handled

	queues   map[string][]*item
	keys     []string // keys with queued items, in arrival order
	pending  int
	settled  map[string]bool    // delivered or given up after the checkpoint (restart)
	restored map[string]Attempt // last failed attempt after the checkpoint (restart)

	failingSince time.Time
	lastCkpt     checkpointRecord
	lastCkptAt   time.Time
	pendingRecs  []eventstore.EventData
}

func (r *runner) update(ep *Endpoint) {
	r.mu.Lock()
	r.latest = ep
	r.mu.Unlock()
	r.poke()
}

func (r *runner) addControl(c control) {
	r.mu.Lock()
	r.controls = append(r.controls, c)
	r.mu.Unlock()
	r.poke()
}

func (r *runner) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// run delivers until ctx ends (false, nil), the runner disables the endpoint (true, nil),
// or something fails (false, err); the supervisor then restarts it from its checkpoint.
func (r *runner) run(ctx context.Context) (stopped bool, err error) {
	r.mu.Lock()
	r.ep = r.latest
	r.mu.Unlock()
	r.stream = DeliveryStream(r.ep.ID)
	r.queues = map[string][]*item{}
	if err := r.restore(ctx); err != nil {
		return false, err
	}
	for {
		if ctx.Err() != nil {
			r.flush(context.WithoutCancel(ctx), true)
			return false, nil
		}
		r.applyUpdates()
		if err := r.takeControls(ctx); err != nil {
			return false, err
		}
		read, err := r.fill(ctx)
		if err != nil {
			if ctx.Err() != nil {
				continue
			}
			return false, err
		}
		sent, disabled, err := r.sendDue(ctx)
		if err != nil {
			if ctx.Err() != nil {
				continue
			}
			return false, err
		}
		if err := r.flush(ctx, false); err != nil {
			if ctx.Err() != nil {
				continue
			}
			return false, err
		}
		if disabled {
			return true, nil
		}
		if read > 0 || sent > 0 {
			continue
		}
		wait := r.w.c.PollInterval
		if next, ok := r.nextDue(); ok {
			if d := next.Sub(r.w.c.Now()); d < wait {
				wait = max(d, time.Millisecond)
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-r.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// restore finds the last checkpoint and what was settled after it.
func (r *runner) restore(ctx context.Context) error {
	r.cursor, r.gen, r.ctlDone = r.ep.StartPosition, 0, -1
	r.settled, r.restored = map[string]bool{}, map[string]Attempt{}
	var after []Attempt // newest first
	var pending []pendingEntry
	found := false
	from := eventstore.End
	for !found {
		recs, err := r.w.c.Store.ReadStream(ctx, r.stream, eventstore.Backward, from, 200)
		if errors.Is(err, eventstore.ErrStreamNotFound) || (err == nil && len(recs) == 0) {
			break
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", r.stream, err)
		}
		if !r.exists {
			r.version, r.exists = recs[0].Version, true
		}
		for _, rec := range recs {
			switch rec.Type {
			case evCheckpointed:
				var c checkpointRecord
				if err := json.Unmarshal(rec.Data, &c); err != nil {
					return fmt.Errorf("%s@%d: %w", rec.Stream, rec.Version, err)
				}
				r.cursor, r.gen, r.ctlDone, r.lastCkpt = c.Position, c.Generation, c.ControlVersion, c
				if c.Cursor > 0 {
					r.cursor, pending = c.Cursor, c.Pending
				}
				found = true
			case evAttempted:
				var a Attempt
				if err := json.Unmarshal(rec.Data, &a); err != nil {
					return fmt.Errorf("%s@%d: %w", rec.Stream, rec.Version, err)
				}
				after = append(after, a)
			}
			if found {
				break
			}
		}
		last := recs[len(recs)-1].Version
		if len(recs) < 200 || last == 0 {
			break
		}
		from = last - 1
	}
	if r.ep.ReplayGeneration > r.gen {
		r.startReplay()
		return nil
	}
	for i := len(after) - 1; i >= 0; i-- { // oldest first, so the last attempt wins
		a := after[i]
		if a.Generation != r.gen || a.Manual {
			continue
		}
		switch a.Outcome {
		case OutcomeFailed:
			r.restored[a.DeliveryID] = a
		default:
			r.settled[a.DeliveryID] = true
			delete(r.restored, a.DeliveryID)
		}
	}
	// Re-queue what was pending at the checkpoint, in log order.
	for _, p := range pending {
		recs, err := r.w.c.Log.ReadAll(ctx, p.Position-1, 1, eventstore.Filter{})
		if err != nil {
			return err
		}
		if len(recs) == 0 || recs[0].Position != p.Position {
			continue
		}
		it, ok, err := r.newItem(ctx, recs[0])
		if err != nil {
			return err
		}
		if ok && r.ep.subscribed(it.ev.Type) && !r.settled[it.id] {
			it.attempt = p.Attempt
			if p.First != 0 {
				it.first = time.UnixMilli(p.First)
			}
			if p.Next != 0 {
				it.nextAt = time.UnixMilli(p.Next)
			}
			r.applyRestored(it) // attempts made after the checkpoint win
			r.enqueue(it)
		}
	}
	return nil
}

// applyRestored carries a failing delivery's attempt count and next try over a restart.
func (r *runner) applyRestored(it *item) {
	if a, ok := r.restored[it.id]; ok {
		it.attempt, it.first = a.Attempt, a.FirstAttemptAt
		if a.NextAttemptAt != nil {
			it.nextAt = *a.NextAttemptAt
		}
	}
}

// startReplay moves the cursor back to the endpoint's replay position. Queued events
// before it stay queued; those after it are read again.
func (r *runner) startReplay() {
	r.gen = r.ep.ReplayGeneration
	r.cursor = r.ep.ReplayFrom - 1
	r.settled, r.restored = map[string]bool{}, map[string]Attempt{}
	for key, q := range r.queues {
		kept := q[:0]
		for _, it := range q {
			if it.manual || it.ev.Position <= r.cursor || it.inFlight {
				kept = append(kept, it)
			} else {
				r.pending--
			}
		}
		r.queues[key] = kept
	}
	r.lastCkptAt = time.Time{} // write the new generation's checkpoint at once
}

func (r *runner) applyUpdates() {
	r.mu.Lock()
	ep := r.latest
	r.mu.Unlock()
	if ep == r.ep {
		return
	}
	r.ep = ep
	if ep.ReplayGeneration > r.gen {
		r.w.c.Logger.Info("webhooks: replay", "endpoint", ep.ID, "fromPosition", ep.ReplayFrom)
		r.startReplay()
	}
}

// takeControls turns new manual retry requests into queued items.
func (r *runner) takeControls(ctx context.Context) error {
	r.mu.Lock()
	cs := r.controls
	r.controls = nil
	r.mu.Unlock()
	for _, c := range cs {
		if int64(c.version) <= r.ctlDone {
			continue
		}
		if it := r.queued(c.r.DeliveryID); it != nil {
			// Still waiting for its next try: try now, in its place in the order's queue.
			it.nextAt = time.Time{}
			r.ctlDone = max(r.ctlDone, int64(c.version))
			continue
		}
		recs, err := r.w.c.Log.ReadAll(ctx, c.r.Position-1, 1, eventstore.Filter{})
		if err != nil {
			return err
		}
		if len(recs) == 0 || recs[0].Position != c.r.Position {
			r.w.c.Logger.Warn("webhooks: retry of an event no longer in the log", "delivery", c.r.DeliveryID)
			r.ctlDone = max(r.ctlDone, int64(c.version))
			continue
		}
		it, ok, err := r.newItem(ctx, recs[0])
		if err != nil {
			return err
		}
		if !ok {
			r.ctlDone = max(r.ctlDone, int64(c.version))
			continue
		}
		it.manual, it.ctlVer = true, c.version
		it.key = "manual:" + it.id // a manual retry holds back nothing
		r.enqueue(it)
		r.ctlDone = max(r.ctlDone, int64(c.version))
	}
	return nil
}

// queued returns the queued (not manual) item with a webhook-id.
func (r *runner) queued(id string) *item {
	for _, q := range r.queues {
		for _, it := range q {
			if it.id == id && !it.manual {
				return it
			}
		}
	}
	return nil
}

func (r *runner) newItem(ctx context.Context, rec eventstore.RecordedEvent) (*item, bool, error) {
	ev, err := r.w.c.Translator.TranslateContext(ctx, rec)
	if errors.Is(err, integration.ErrNotIntegration) {
		return nil, false, nil
	}
	if err != nil {
		// Skipping would lose the event for good; stopping (the supervisor restarts the
		// runner) waits for a build that can read it, e.g. during a rolling upgrade.
		return nil, false, fmt.Errorf("event at position %d: %w", rec.Position, err)
	}
	body, err := ev.Marshal()
	if err != nil {
		return nil, false, err
	}
	return &item{ev: ev, body: body, id: deliveryID(r.ep.ID, ev.ID), key: ev.Key()}, true, nil
}

func (r *runner) enqueue(it *item) {
	if len(r.queues[it.key]) == 0 {
		r.keys = append(r.keys, it.key)
	}
	r.queues[it.key] = append(r.queues[it.key], it)
	r.pending++
}

// fill reads the next page of the log into the queues, unless enough is pending.
func (r *runner) fill(ctx context.Context) (int, error) {
	if r.pending >= r.w.c.MaxPending {
		return 0, nil
	}
	head, err := r.w.c.Log.Head(ctx)
	if err != nil {
		return 0, err
	}
	if head <= r.cursor {
		return 0, nil
	}
	const page = 200
	filter := eventstore.Filter{EventTypes: integration.SourceTypes(r.ep.EventTypes)}
	recs, err := r.w.c.Log.ReadAll(ctx, r.cursor, page, filter)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, rec := range recs {
		r.cursor = rec.Position
		it, ok, err := r.newItem(ctx, rec)
		if err != nil {
			return n, err
		}
		if !ok || !r.ep.subscribed(it.ev.Type) || r.settled[it.id] {
			continue
		}
		r.applyRestored(it)
		r.enqueue(it)
		n++
	}
	if len(recs) < page && head > r.cursor {
		r.cursor = head // everything up to head was read
	}
	return max(n, len(recs)), nil
}

func (r *runner) nextDue() (time.Time, bool) {
	var next time.Time
	ok := false
	for _, k := range r.keys {
		q := r.queues[k]
		if len(q) == 0 {
			continue
		}
		if !ok || q[0].nextAt.Before(next) {
			next, ok = q[0].nextAt, true
		}
	}
	return next, ok
}

type result struct {
	it      *item
	status  int
	latency time.Duration
	err     error
	at      time.Time
}

// sendDue sends the head item of every key that is due, Concurrency at a time.
func (r *runner) sendDue(ctx context.Context) (sent int, disabled bool, err error) {
	now := r.w.c.Now()
	var due []*item
	for _, k := range r.keys {
		q := r.queues[k]
		if len(q) > 0 && !q[0].nextAt.After(now) {
			due = append(due, q[0])
			if len(due) == r.w.c.Concurrency*4 {
				break
			}
		}
	}
	if len(due) == 0 {
		return 0, false, nil
	}
	results := make([]result, len(due))
	sem := make(chan struct{}, r.w.c.Concurrency)
	var wg sync.WaitGroup
	ep := r.ep
	for i, it := range due {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			results[i] = r.w.send(ctx, ep, it.id, it.body)
			results[i].it = it
		}()
	}
	wg.Wait()
	gone := false
	for _, res := range results {
		it := res.it
		if ctx.Err() != nil && res.status == 0 {
			continue // cut short by the shutdown: not an attempt
		}
		it.attempt++
		if it.first.IsZero() {
			it.first = res.at
		}
		a := Attempt{DeliveryID: it.id, EventID: it.ev.ID, EventType: it.ev.Type, Position: it.ev.Position, OrderID: it.ev.OrderID,
			ProductID: it.ev.ProductID, Attempt: it.attempt, At: res.at.UTC(), StatusCode: res.status, LatencyMs: res.latency.Milliseconds(),
			FirstAttemptAt: it.first.UTC(), Manual: it.manual, Generation: r.gen}
		if res.err != nil {
			a.Error = truncate(res.err.Error(), 300)
		}
		switch {
		case res.status >= 200 && res.status < 300:
			a.Outcome = OutcomeDelivered
			r.failingSince = time.Time{}
			r.pop(it)
		case res.status == http.StatusGone:
			a.Outcome = OutcomeGone
			gone = true
		default:
			if r.failingSince.IsZero() {
				r.failingSince = res.at
			}
			if it.attempt-1 < len(r.w.c.Schedule) {
				d := r.w.c.Schedule[it.attempt-1]
				d = time.Duration(float64(d) * (0.8 + 0.4*r.w.c.Rand()))
				it.nextAt = res.at.Add(d)
				next := it.nextAt.UTC()
				a.Outcome, a.NextAttemptAt = OutcomeFailed, &next
			} else {
				a.Outcome = OutcomeGaveUp
				r.w.c.Logger.Warn("webhooks: delivery given up", "endpoint", ep.ID, "delivery", it.id, "attempts", it.attempt)
				r.pop(it)
			}
		}
		if h := r.w.c.Hooks.Attempt; h != nil {
			h(ep.ID, res.status, res.latency, a.Outcome)
		}
		b, _ := json.Marshal(a)
		r.pendingRecs = append(r.pendingRecs, eventstore.EventData{ID: uuid.New(), Type: evAttempted, Data: b})
	}
	if ctx.Err() != nil {
		return len(due), false, ctx.Err() // run records what completed, then stops
	}
	reason := ""
	switch {
	case gone:
		reason = reasonGone
	case r.w.c.DisableAfter > 0 && !r.failingSince.IsZero() && now.Sub(r.failingSince) >= r.w.c.DisableAfter:
		reason = fmt.Sprintf("every attempt failed for %s", now.Sub(r.failingSince).Truncate(time.Millisecond))
	}
	if reason != "" {
		if err := r.flush(ctx, true); err != nil {
			return len(due), false, err
		}
		// Once decided, the disable is recorded even if the supervisor, seeing it, stops us.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		err := r.w.c.Endpoints.Disable(dctx, ep.ID, reason)
		cancel()
		if err != nil {
			return len(due), false, err
		}
		r.w.c.Logger.Warn("webhooks: endpoint disabled", "endpoint", ep.ID, "url", ep.URL, "reason", reason)
		if h := r.w.c.Hooks.Disabled; h != nil {
			h(ep.ID, reason)
		}
		return len(due), true, nil
	}
	return len(due), false, nil
}

// reasonGone is why an endpoint that answered 410 is disabled.
const reasonGone = "the receiver answered 410 Gone"

func (r *runner) pop(it *item) {
	q := r.queues[it.key]
	if len(q) > 0 && q[0] == it {
		r.queues[it.key] = q[1:]
		r.pending--
	}
	if len(r.queues[it.key]) == 0 {
		delete(r.queues, it.key)
		r.keys = slices.DeleteFunc(r.keys, func(k string) bool { return k == it.key })
	}
}

// flush appends the recorded attempts and, when due (or force), a checkpoint.
func (r *runner) flush(ctx context.Context, force bool) error {
	ck := r.checkpoint()
	now := r.w.c.Now()
	last := r.lastCkpt
	changed := ck.Generation != last.Generation || ck.ControlVersion != last.ControlVersion ||
		!slices.Equal(ck.Pending, last.Pending) || (len(ck.Pending) > 0 && ck.Position != last.Position)
	// A cursor that only moved past events this endpoint does not take (including this
	// log's own records) is checkpointed every cursorStride positions, not every time:
	// otherwise each checkpoint would move the head and call for the next one.
	changed = changed || ck.Cursor >= last.Cursor+cursorStride || ck.Cursor < last.Cursor || (ck.Cursor == 0) != (last.Cursor == 0)
	if changed {
		if force || now.Sub(r.lastCkptAt) >= r.w.c.CheckpointEvery {
			ck.At = now.UTC()
			b, _ := json.Marshal(ck)
			r.pendingRecs = append(r.pendingRecs, eventstore.EventData{ID: uuid.New(), Type: evCheckpointed, Data: b})
			r.lastCkptAt = now
		} else {
			ck = r.lastCkpt
		}
	} else {
		ck = r.lastCkpt
	}
	if len(r.pendingRecs) == 0 {
		return nil
	}
	expected := eventstore.NoStream
	if r.exists {
		expected = eventstore.Exact(r.version)
	}
	res, err := r.w.c.Store.Append(ctx, r.stream, expected, r.pendingRecs...)
	if err != nil {
		// A conflict means another worker writes this log: we lost the lease. Stop.
		return fmt.Errorf("append to %s: %w", r.stream, err)
	}
	r.pendingRecs = r.pendingRecs[:0]
	r.version, r.exists = res.Version, true
	r.lastCkpt = ck
	return nil
}

// cursorStride is how far the cursor moves past unsubscribed events before that alone is
// checkpointed; a restart re-reads at most this much of the log (filtered).
const cursorStride = 1000

// maxCheckpointPending bounds the pending events one checkpoint records (10 to 60 bytes
// each, under the store's 1 MiB event limit).
const maxCheckpointPending = 10_000

// checkpoint is the restart point: the cursor and the positions still pending, and the
// low watermark before the oldest of them.
func (r *runner) checkpoint() checkpointRecord {
	ck := checkpointRecord{Position: r.cursor, Cursor: r.cursor, Generation: r.gen, ControlVersion: r.ctlDone}
	minCtl := int64(-1)
	var pending []pendingEntry
	for _, q := range r.queues {
		for _, it := range q {
			if it.manual {
				if minCtl < 0 || int64(it.ctlVer)-1 < minCtl {
					minCtl = int64(it.ctlVer) - 1
				}
				continue
			}
			pe := pendingEntry{Position: it.ev.Position, Attempt: it.attempt}
			if !it.first.IsZero() {
				pe.First = it.first.UnixMilli()
			}
			if !it.nextAt.IsZero() {
				pe.Next = it.nextAt.UnixMilli()
			}
			pending = append(pending, pe)
			if it.ev.Position-1 < ck.Position {
				ck.Position = it.ev.Position - 1
			}
		}
	}
	if len(pending) > maxCheckpointPending {
		ck.Cursor = 0 // too big for one event: a restart starts from Position
	} else {
		slices.SortFunc(pending, func(a, b pendingEntry) int { return cmp.Compare(a.Position, b.Position) })
		ck.Pending = pending
	}
	// Retry requests are done up to the newest taken, unless an older one is still open.
	if minCtl >= 0 {
		ck.ControlVersion = minCtl
	}
	return ck
}

func (w *Worker) send(ctx context.Context, ep *Endpoint, id string, body []byte) result {
	return send(ctx, w.c.Client, w.c.Timeout, w.c.Now(), ep, id, body)
}

// send makes one signed attempt at time at.
func send(ctx context.Context, client *http.Client, timeout time.Duration, at time.Time, ep *Endpoint, id string, body []byte) result {
	res := result{at: at}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(body))
	if err != nil {
		res.err = err
		return res
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "orderengine-webhooks/1")
	req.Header.Set(HeaderID, id)
	req.Header.Set(HeaderTimestamp, fmt.Sprint(at.Unix()))
	req.Header.Set(HeaderSignature, signatureHeader(ep.keysAt(at), id, at, body))
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		res.latency, res.err = time.Since(start), err
		return res
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBody))
	resp.Body.Close()
	res.latency, res.status = time.Since(start), resp.StatusCode
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		res.err = fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return res
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// ParseSchedule reads a retry schedule such as "5s,5m,30m,2h" (for a command-line flag).
func ParseSchedule(s string) ([]time.Duration, error) {
	var out []time.Duration
	for _, part := range strings.Split(s, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(part))
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("retry schedule %q: %q is not a positive duration", s, part)
		}
		out = append(out, d)
	}
	if len(out) > 50 {
		return nil, fmt.Errorf("retry schedule %q: at most 50 retries", s)
	}
	return out, nil
}
