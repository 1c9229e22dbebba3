package storebench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/orderengine/orderengine/eventstore"
)

// firstError keeps the first error of a group of goroutines and cancels the others.
type firstError struct {
	once   sync.Once
	err    error
	cancel context.CancelFunc
}

func (f *firstError) set(err error) {
	f.once.Do(func() {
		f.err = err
		f.cancel()
	})
}

// streamPlan is one stream of an append workload with its events generated up front.
type streamPlan struct {
	name   string
	events []eventstore.EventData
	ids    []uuid.UUID
	acked  int    // events acknowledged
	maxPos uint64 // position of the last acknowledged append
}

// appendWorkload writes Streams × EventsPerStream events, batch events per append with
// exact expected versions, Writers goroutines each owning every Writers-th stream.
func (r *run) appendWorkload(ctx context.Context, name string, batch int) Result {
	cfg := r.cfg
	res := r.result(name, batch)
	tag := "b1"
	if name == AppendB10 {
		tag = "b10"
	}
	typ := "bench." + tag
	// Generate every event before the clock starts.
	plans := make([][]*streamPlan, cfg.Writers)
	names := make([]string, cfg.Streams)
	for i := range cfg.Streams {
		p := &streamPlan{name: fmt.Sprintf("%s-%s_%07d", r.category, tag, i)}
		p.events = make([]eventstore.EventData, cfg.EventsPerStream)
		p.ids = make([]uuid.UUID, cfg.EventsPerStream)
		for v := range p.events {
			p.events[v] = r.gen.event(typ, p.name, v)
			p.ids[v] = p.events[v].ID
		}
		names[i] = p.name
		plans[i%cfg.Writers] = append(plans[i%cfg.Writers], p)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fe := &firstError{cancel: cancel}
	lat := make([][]time.Duration, cfg.Writers)
	var appends atomic.Int64
	prog := startProgress(cfg.Progress, name, int64(cfg.Streams)*int64(cfg.EventsPerStream), 0)
	var wg sync.WaitGroup
	for w := range cfg.Writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := make([]time.Duration, 0, len(plans[w])*((cfg.EventsPerStream+batch-1)/batch))
			defer func() { lat[w] = l }()
			for _, p := range plans[w] {
				for v := 0; v < len(p.events); v += batch {
					n := min(batch, len(p.events)-v)
					exp := eventstore.NoStream
					if v > 0 {
						exp = eventstore.Exact(uint64(v - 1))
					}
					t0 := time.Now()
					ar, err := r.store.Append(ctx, p.name, exp, p.events[v:v+n]...)
					l = append(l, time.Since(t0))
					if err != nil {
						fe.set(fmt.Errorf("append to %s at %s: %w", p.name, exp, err))
						return
					}
					if want := uint64(v + n - 1); ar.Version != want {
						fe.set(fmt.Errorf("append to %s at %s returned version %d, want %d", p.name, exp, ar.Version, want))
						return
					}
					if v > 0 && ar.Position <= p.maxPos {
						fe.set(fmt.Errorf("append to %s at %s returned position %d, not after the previous append's %d", p.name, exp, ar.Position, p.maxPos))
						return
					}
					p.acked, p.maxPos = v+n, ar.Position
					appends.Add(1)
					prog.add(int64(n))
				}
			}
		}()
	}
	wg.Wait()
	elapsed := prog.line.Elapsed()

	var events int64
	r.mu.Lock()
	for _, ps := range plans {
		for _, p := range ps {
			if p.acked > 0 {
				r.written[p.name] = p.ids[:p.acked]
				r.maxPos = max(r.maxPos, p.maxPos)
				events += int64(p.acked)
			}
		}
	}
	if name == AppendB1 {
		r.b1 = names
	} else {
		r.b10 = names
	}
	r.mu.Unlock()

	res.Events, res.Appends, res.DurationS = events, appends.Load(), round(elapsed.Seconds(), 3)
	res.EventsPerS, res.AppendsPerS = rate(events, elapsed), rate(res.Appends, elapsed)
	setLatencies(&res, lat)
	if fe.err != nil {
		res.fail(fe.err.Error())
	}
	prog.finish(&res)
	return res
}

// hotCommit is one successful append of hot_stream.
type hotCommit struct {
	version, position uint64
	id                uuid.UUID
}

// hotStream runs Writers goroutines against one stream for HotDuration, each reading the
// stream's version, appending one event with that exact expected version, and on a
// conflict reading again and retrying. Afterwards the stream must hold exactly the
// committed events at contiguous versions.
func (r *run) hotStream(ctx context.Context) Result {
	cfg := r.cfg
	res := r.result(HotStream, 1)
	res.Streams, res.EventsPerStream = 1, 0
	res.CommitsPerS, res.ConflictRate = ptr(0), ptr(0)
	stream := r.category + "-hot"

	readVersion := func(ctx context.Context) (eventstore.ExpectedVersion, error) {
		evs, err := r.store.ReadStream(ctx, stream, eventstore.Backward, eventstore.End, 1)
		if errors.Is(err, eventstore.ErrStreamNotFound) || (err == nil && len(evs) == 0) {
			return eventstore.NoStream, nil
		}
		if err != nil {
			return eventstore.ExpectedVersion{}, err
		}
		return eventstore.Exact(evs[0].Version), nil
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fe := &firstError{cancel: cancel}
	lat := make([][]time.Duration, cfg.Writers)
	commits := make([][]hotCommit, cfg.Writers)
	var attempts, conflicts atomic.Int64
	prog := startProgress(cfg.Progress, HotStream, 0, cfg.HotDuration)
	deadline := time.Now().Add(cfg.HotDuration - prog.line.Elapsed())
	var wg sync.WaitGroup
	for w := range cfg.Writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var l []time.Duration
			var cs []hotCommit
			defer func() { lat[w], commits[w] = l, cs }()
			for seq := 0; time.Now().Before(deadline); seq++ {
				// One command: its event keeps its ID across retries.
				ev := r.gen.event("bench.hot", stream, w<<32|seq)
				t0 := time.Now()
				for {
					exp, err := readVersion(ctx)
					if err != nil {
						fe.set(fmt.Errorf("read the version of %s: %w", stream, err))
						return
					}
					attempts.Add(1)
					ar, err := r.store.Append(ctx, stream, exp, ev)
					if err == nil {
						want := uint64(0)
						if n, ok := exp.Exact(); ok {
							want = n + 1
						}
						if ar.Version != want {
							fe.set(fmt.Errorf("append to %s at %s returned version %d, want %d", stream, exp, ar.Version, want))
							return
						}
						l = append(l, time.Since(t0))
						cs = append(cs, hotCommit{ar.Version, ar.Position, ev.ID})
						prog.add(1)
						break
					}
					if !errors.Is(err, eventstore.ErrWrongExpectedVersion) {
						fe.set(fmt.Errorf("append to %s at %s: %w", stream, exp, err))
						return
					}
					conflicts.Add(1)
					if !time.Now().Before(deadline) {
						break // time is up; the command is abandoned
					}
				}
			}
		}()
	}
	wg.Wait()
	elapsed := prog.line.Elapsed()

	// Every commit must have its own version, and together they must leave no gap.
	var n int64
	var maxV, maxPos uint64
	for _, cs := range commits {
		for _, c := range cs {
			n++
			maxV, maxPos = max(maxV, c.version), max(maxPos, c.position)
		}
	}
	var problems []string
	var ids []uuid.UUID
	if n > 0 {
		ids = make([]uuid.UUID, maxV+1)
		lost := 0
		for _, cs := range commits {
			for _, c := range cs {
				if ids[c.version] != uuid.Nil {
					lost++
				}
				ids[c.version] = c.id
			}
		}
		if lost > 0 {
			problems = append(problems, fmt.Sprintf("%d commits were given a version another commit already had (lost updates)", lost))
		}
		gaps := 0
		for _, id := range ids {
			if id == uuid.Nil {
				gaps++
			}
		}
		if gaps > 0 {
			problems = append(problems, fmt.Sprintf("%d versions below the last were not committed by any writer", gaps))
		}
	}
	res.Events, res.Appends, res.DurationS = n, n, round(elapsed.Seconds(), 3)
	res.Attempts, res.Conflicts = attempts.Load(), conflicts.Load()
	res.EventsPerS, res.AppendsPerS = rate(n, elapsed), rate(n, elapsed)
	res.CommitsPerS = ptr(res.EventsPerS)
	if res.Attempts > 0 {
		res.ConflictRate = ptr(round(float64(res.Conflicts)/float64(res.Attempts), 4))
	}
	setLatencies(&res, lat)

	if fe.err == nil && n > 0 {
		// Read the stream back: exactly the committed events, versions contiguous.
		chk := NewChecker(Expectation{stream: ids}, false)
		for from := uint64(0); ; {
			page, err := r.store.ReadStream(ctx, stream, eventstore.Forward, from, 1000)
			if err != nil {
				fe.set(fmt.Errorf("read %s back: %w", stream, err))
				break
			}
			for _, e := range page {
				chk.Observe(e)
			}
			if len(page) < 1000 {
				break
			}
			from = page[len(page)-1].Version + 1
		}
		if fe.err == nil {
			res.setReport(chk.Report())
		}
	}
	if n > 0 {
		r.mu.Lock()
		r.written[stream] = ids
		r.maxPos = max(r.maxPos, maxPos)
		r.mu.Unlock()
	}
	switch {
	case fe.err != nil:
		res.fail(fe.err.Error())
	case n == 0:
		res.fail("no commit in " + cfg.HotDuration.String())
	}
	for _, p := range problems {
		res.fail(p)
	}
	prog.finish(&res)
	return res
}

// readStreams reads back every stream of append_b1 (or append_b10) with Writers readers.
func (r *run) readStreams(ctx context.Context) Result {
	cfg := r.cfg
	res := r.result(ReadStreams, cfg.EventsPerStream)
	r.mu.Lock()
	streams := r.b1
	if len(streams) == 0 {
		streams = r.b10
	}
	parts := make([]Expectation, cfg.Writers)
	for i := range parts {
		parts[i] = Expectation{}
	}
	for i, s := range streams {
		parts[i%cfg.Writers][s] = r.written[s] // nil when nothing was acknowledged
	}
	r.mu.Unlock()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fe := &firstError{cancel: cancel}
	lat := make([][]time.Duration, cfg.Writers)
	reports := make([]Report, cfg.Writers)
	var reads atomic.Int64
	prog := startProgress(cfg.Progress, ReadStreams, int64(len(streams))*int64(cfg.EventsPerStream), 0)
	var wg sync.WaitGroup
	for w := range cfg.Writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			chk := NewChecker(parts[w], false)
			l := make([]time.Duration, 0, len(parts[w]))
			defer func() { lat[w], reports[w] = l, chk.Report() }()
			for s, ids := range parts[w] {
				t0 := time.Now()
				// One more than expected, so that an extra event shows.
				evs, err := r.store.ReadStream(ctx, s, eventstore.Forward, 0, len(ids)+1)
				l = append(l, time.Since(t0))
				if err != nil && !errors.Is(err, eventstore.ErrStreamNotFound) {
					fe.set(fmt.Errorf("read %s: %w", s, err))
					return
				}
				for _, e := range evs {
					chk.Observe(e)
				}
				reads.Add(1)
				prog.add(int64(len(evs)))
			}
		}()
	}
	wg.Wait()
	elapsed := prog.line.Elapsed()
	var rep Report
	for _, x := range reports {
		rep = rep.Add(x)
	}
	res.Events, res.Appends, res.DurationS = int64(rep.Events), reads.Load(), round(elapsed.Seconds(), 3)
	res.EventsPerS = rate(res.Events, elapsed)
	setLatencies(&res, lat)
	if fe.err != nil {
		res.fail(fe.err.Error())
	} else {
		res.setReport(rep)
	}
	prog.finish(&res)
	return res
}

// catchupIdle is how long catchup_noop waits for the next event before it gives up and
// reports what is missing.
var catchupIdle = 10 * time.Second

// catchup subscribes to $all from before the run's first event, filtered to the run's
// category, and consumes everything the run wrote, checking it arrives exactly once and
// in order.
func (r *run) catchup(ctx context.Context) Result {
	cfg := r.cfg
	res := r.result(CatchupNoop, 0)
	r.mu.Lock()
	exp := make(Expectation, len(r.written))
	for s, ids := range r.written {
		exp[s] = ids
	}
	last := r.maxPos
	r.mu.Unlock()
	total := exp.Events()
	if total == 0 {
		res.fail("the run wrote no events to consume")
		return res
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	chk := NewChecker(exp, true)
	prog := startProgress(cfg.Progress, CatchupNoop, int64(total), 0)
	sub, err := r.store.SubscribeAll(ctx, r.start, eventstore.Filter{StreamPrefix: r.category + "-"})
	if err != nil {
		res.fail(fmt.Sprintf("subscribe: %v", err))
		prog.finish(&res)
		return res
	}
	defer sub.Close()

	// The watchdog ends the subscription when no event has come for catchupIdle: then
	// events are missing (or the store is stuck), which the report shows.
	var idle atomic.Bool
	stopWatch := make(chan struct{})
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		t := time.NewTicker(catchupIdle / 20)
		defer t.Stop()
		seen, since := int64(-1), time.Now()
		for {
			select {
			case <-stopWatch:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				if d := prog.line.Done(); d != seen {
					seen, since = d, time.Now()
				} else if time.Since(since) >= catchupIdle {
					idle.Store(true)
					cancel()
					return
				}
			}
		}
	}()
	var fail error
	for {
		e, err := sub.Next(ctx)
		if err != nil {
			if !idle.Load() {
				fail = fmt.Errorf("subscription: %w", err)
			}
			break
		}
		chk.Observe(e)
		prog.add(1)
		if e.Position >= last {
			break
		}
	}
	elapsed := prog.line.Elapsed()
	close(stopWatch)
	<-watchDone

	rep := chk.Report()
	res.Events, res.DurationS = int64(rep.Events), round(elapsed.Seconds(), 3)
	if idle.Load() {
		elapsed -= catchupIdle // do not count the wait for events that never came
	}
	res.EventsPerS = rate(res.Events, elapsed)
	if fail != nil {
		res.fail(fail.Error())
	}
	res.setReport(rep)
	if idle.Load() && res.OK {
		res.fail(fmt.Sprintf("no event for %s before the run's last position %d", catchupIdle, last))
	}
	prog.finish(&res)
	return res
}
