package eventstoretest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/orderengine/orderengine/eventstore"
)

// runMulti runs the multi-stream append tests: the atomic contract for stores that are
// eventstore.MultiAppenders, and the fallback of eventstore.AppendMulti for every store.
func runMulti(t *testing.T, h Harness) {
	t.Run("MultiAppend", func(t *testing.T) {
		t.Run("ExpectedVersions", func(t *testing.T) { testMultiExpected(t, h) })
		t.Run("Atomicity", func(t *testing.T) { testMultiAtomic(t, h) })
		t.Run("Idempotent", func(t *testing.T) { testMultiIdempotent(t, h) })
		t.Run("ConcurrentConflicts", func(t *testing.T) { testMultiConcurrentConflicts(t, h) })
		t.Run("NoSkippedEvents", func(t *testing.T) { testMultiNoSkipped(t, h) })
		t.Run("BadInput", func(t *testing.T) { testMultiBadInput(t, h) })
		t.Run("Fallback", func(t *testing.T) { testMultiFallback(t, h) })
	})
}

// multiOrSkip returns s's atomic multi-stream append, or skips the test for an adapter
// without one (its callers fall back, which Fallback tests).
func multiOrSkip(t *testing.T, s eventstore.Store) eventstore.MultiAppender {
	t.Helper()
	m, ok := s.(eventstore.MultiAppender)
	if !ok {
		t.Skip("adapter has no atomic multi-stream append (callers fall back)")
	}
	return m
}

// partIDs lists the IDs of the parts' events, in order.
func partIDs(parts []eventstore.StreamAppend) []uuid.UUID {
	var out []uuid.UUID
	for _, p := range parts {
		for _, e := range p.Events {
			out = append(out, e.ID)
		}
	}
	return out
}

// checkContiguous asserts that the batch's events are the run of $all that starts at the
// first one's position: no other event between them, in part order.
func checkContiguous(t *testing.T, s eventstore.Store, parts []eventstore.StreamAppend, res []eventstore.AppendResult) {
	t.Helper()
	ctx := t.Context()
	want := partIDs(parts)
	first, err := s.ReadStream(ctx, parts[0].Stream, eventstore.Forward, res[0].Version+1-uint64(len(parts[0].Events)), 1)
	if err != nil || len(first) != 1 {
		t.Fatalf("read the batch's first event: %d events, %v", len(first), err)
	}
	run, err := s.ReadAll(ctx, first[0].Position-1, len(want), eventstore.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(run) != len(want) {
		t.Fatalf("$all from the batch's first position has %d events, want %d", len(run), len(want))
	}
	k := 0
	for i, p := range parts {
		for j := range p.Events {
			e := run[k]
			if e.ID != want[k] || e.Stream != p.Stream {
				t.Fatalf("$all event %d after the batch's start is %s in %s, want %s in %s (parts contiguous, in order)", k, e.ID, e.Stream, want[k], p.Stream)
			}
			if j == len(p.Events)-1 && (e.Position != res[i].Position || e.Version != res[i].Version) {
				t.Fatalf("part %d result %+v, its last event is at version %d position %d", i, res[i], e.Version, e.Position)
			}
			if k > 0 && e.Position <= run[k-1].Position {
				t.Fatalf("positions not increasing within the batch at %d", k)
			}
			k++
		}
	}
}

func testMultiExpected(t *testing.T, h Harness) {
	s, ctx := open(t, h)
	m := multiOrSkip(t, s)
	cat := Category()
	a, b, c, d := cat+"-a", cat+"-b", cat+"-c", cat+"-d"
	mustAppend(t, ctx, s, b, eventstore.NoStream, events("m.x", 2)...)
	mustAppend(t, ctx, s, c, eventstore.NoStream, events("m.x", 1)...)
	mustAppend(t, ctx, s, d, eventstore.NoStream, events("m.x", 3)...)
	parts := []eventstore.StreamAppend{
		{Stream: a, Expected: eventstore.NoStream, Events: events("m.a", 2)},
		{Stream: b, Expected: eventstore.Exact(1), Events: events("m.b", 1)},
		{Stream: c, Expected: eventstore.StreamExists, Events: events("m.c", 3)},
		{Stream: d, Expected: eventstore.Any, Events: events("m.d", 1)},
	}
	res, err := m.AppendMulti(ctx, parts...)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 4 || res[0].Version != 1 || res[1].Version != 2 || res[2].Version != 3 || res[3].Version != 3 {
		t.Fatalf("results %+v, want versions 1, 2, 3, 3", res)
	}
	checkContiguous(t, s, parts, res)
	// The streams' chains continue across single and multi-stream appends.
	mustAppend(t, ctx, s, a, eventstore.Exact(1), events("m.a", 1)...)
	for _, st := range []string{a, b, c, d} {
		rep, err := eventstore.VerifyChains(ctx, s, st, nil)
		if err != nil || rep.Broken != nil {
			t.Fatalf("chain of %s: %+v %v", st, rep.Broken, err)
		}
	}
	// A single-part multi-append is an append.
	r, err := m.AppendMulti(ctx, eventstore.StreamAppend{Stream: a, Expected: eventstore.Exact(2), Events: events("m.a", 2)})
	if err != nil || len(r) != 1 || r[0].Version != 4 {
		t.Fatalf("one-part multi-append: %+v %v", r, err)
	}
	head, err := s.Head(ctx)
	if err != nil || head < r[0].Position {
		t.Fatalf("head %d (%v) before the last multi-append %d", head, err, r[0].Position)
	}
}

func testMultiAtomic(t *testing.T, h Harness) {
	s, ctx := open(t, h)
	m := multiOrSkip(t, s)
	cat := Category()
	old := cat + "-old"
	mustAppend(t, ctx, s, old, eventstore.NoStream, events("m.x", 2)...)
	before, err := s.ReadAll(ctx, eventstore.Start, 1000, eventstore.Filter{StreamPrefix: cat + "-"})
	if err != nil {
		t.Fatal(err)
	}
	conflicts := []struct {
		name   string
		bad    eventstore.ExpectedVersion
		stream string
	}{
		{"exact too old", eventstore.Exact(0), old},
		{"exact too new", eventstore.Exact(5), old},
		{"no stream on an existing one", eventstore.NoStream, old},
		{"stream exists on a new one", eventstore.StreamExists, cat + "-absent"},
		{"exact on a new one", eventstore.Exact(0), cat + "-absent2"},
	}
	for _, c := range conflicts {
		// The conflicting part last, so that the parts before it were (tentatively) written.
		parts := []eventstore.StreamAppend{
			{Stream: cat + "-new1", Expected: eventstore.NoStream, Events: events("m.n", 2)},
			{Stream: cat + "-new2", Expected: eventstore.NoStream, Events: events("m.n", 1)},
			{Stream: c.stream, Expected: c.bad, Events: events("m.n", 1)},
		}
		_, err := m.AppendMulti(ctx, parts...)
		var wev *eventstore.WrongExpectedVersionError
		if !errors.As(err, &wev) || wev.Stream != c.stream {
			t.Fatalf("%s: got %v, want a wrong-expected-version error for %s", c.name, err, c.stream)
		}
		// And first, before parts that would succeed.
		parts[0], parts[2] = parts[2], parts[0]
		if _, err := m.AppendMulti(ctx, parts...); !errors.Is(err, eventstore.ErrWrongExpectedVersion) {
			t.Fatalf("%s (first part): got %v", c.name, err)
		}
	}
	for _, st := range []string{cat + "-new1", cat + "-new2", cat + "-absent", cat + "-absent2"} {
		if _, err := s.ReadStream(ctx, st, eventstore.Forward, 0, 10); !errors.Is(err, eventstore.ErrStreamNotFound) {
			t.Fatalf("a rejected batch left stream %s: %v", st, err)
		}
	}
	after, err := s.ReadAll(ctx, eventstore.Start, 1000, eventstore.Filter{StreamPrefix: cat + "-"})
	if err != nil || len(after) != len(before) {
		t.Fatalf("rejected batches changed the log: %d events before, %d after (%v)", len(before), len(after), err)
	}
	// The streams are untouched: the right expectations now succeed.
	res, err := m.AppendMulti(ctx,
		eventstore.StreamAppend{Stream: cat + "-new1", Expected: eventstore.NoStream, Events: events("m.n", 1)},
		eventstore.StreamAppend{Stream: old, Expected: eventstore.Exact(1), Events: events("m.n", 1)},
	)
	if err != nil || res[0].Version != 0 || res[1].Version != 2 {
		t.Fatalf("after the rejected batches: %+v %v", res, err)
	}
}

func testMultiIdempotent(t *testing.T, h Harness) {
	s, ctx := open(t, h)
	m := multiOrSkip(t, s)
	cat := Category()
	a, b, c := cat+"-a", cat+"-b", cat+"-c"
	mustAppend(t, ctx, s, b, eventstore.NoStream, events("m.x", 1)...)
	parts := []eventstore.StreamAppend{
		{Stream: a, Expected: eventstore.NoStream, Events: events("m.a", 2)},
		{Stream: b, Expected: eventstore.Exact(0), Events: events("m.b", 2)},
	}
	r1, err := m.AppendMulti(ctx, parts...)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := m.AppendMulti(ctx, parts...)
	if err != nil || fmt.Sprint(r2) != fmt.Sprint(r1) {
		t.Fatalf("re-append returned %+v (%v), first %+v", r2, err, r1)
	}
	// Part of a batch already stored (as a non-atomic fallback leaves it): that part is a
	// no-op, the rest is written.
	next := eventstore.StreamAppend{Stream: c, Expected: eventstore.NoStream, Events: events("m.c", 1)}
	r3, err := m.AppendMulti(ctx, parts[1], next)
	if err != nil || r3[0] != r1[1] || r3[1].Version != 0 || r3[1].Position <= r1[1].Position {
		t.Fatalf("batch with a stored part: %+v (%v), first %+v", r3, err, r1)
	}
	// Any and StreamExists parts repeated are no-ops too.
	anyPart := eventstore.StreamAppend{Stream: a, Expected: eventstore.Any, Events: events("m.a", 1)}
	sePart := eventstore.StreamAppend{Stream: b, Expected: eventstore.StreamExists, Events: events("m.b", 1)}
	r4, err := m.AppendMulti(ctx, anyPart, sePart)
	if err != nil {
		t.Fatal(err)
	}
	r5, err := m.AppendMulti(ctx, anyPart, sePart)
	if err != nil || fmt.Sprint(r5) != fmt.Sprint(r4) {
		t.Fatalf("re-append with Any/StreamExists returned %+v (%v), first %+v", r5, err, r4)
	}
	// New IDs at the stale versions conflict.
	_, err = m.AppendMulti(ctx,
		eventstore.StreamAppend{Stream: a, Expected: eventstore.NoStream, Events: events("m.a", 2)},
		eventstore.StreamAppend{Stream: b, Expected: eventstore.Exact(0), Events: events("m.b", 2)},
	)
	if !errors.Is(err, eventstore.ErrWrongExpectedVersion) {
		t.Fatalf("new events at stale versions: %v", err)
	}
	for st, n := range map[string]int{a: 3, b: 4, c: 1} {
		if got := len(readAllOfStream(t, ctx, s, st)); got != n {
			t.Fatalf("%s holds %d events after retries, want %d", st, got, n)
		}
	}
}

// testMultiConcurrentConflicts: batches racing on one hot stream at one expected version,
// each also creating a stream of its own: exactly one batch lands, and no loser leaves
// its own stream behind.
func testMultiConcurrentConflicts(t *testing.T, h Harness) {
	s, ctx := open(t, h)
	m := multiOrSkip(t, s)
	cat := Category()
	hot := cat + "-hot"
	mustAppend(t, ctx, s, hot, eventstore.NoStream, NewEvent("c.x", 0))
	const n = 30
	var ok, conflict atomic.Int32
	var winner atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := m.AppendMulti(ctx,
				eventstore.StreamAppend{Stream: fmt.Sprintf("%s-own%d", cat, i), Expected: eventstore.NoStream, Events: events("c.own", 2)},
				eventstore.StreamAppend{Stream: hot, Expected: eventstore.Exact(0), Events: events("c.hot", 1)},
			)
			switch {
			case err == nil:
				ok.Add(1)
				winner.Store(int32(i))
			case errors.Is(err, eventstore.ErrWrongExpectedVersion):
				conflict.Add(1)
			default:
				t.Errorf("multi-append: %v", err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if ok.Load() != 1 || conflict.Load() != n-1 {
		t.Fatalf("%d batches succeeded, %d conflicted; want 1 and %d", ok.Load(), conflict.Load(), n-1)
	}
	for i := range n {
		_, err := s.ReadStream(ctx, fmt.Sprintf("%s-own%d", cat, i), eventstore.Forward, 0, 10)
		if i == int(winner.Load()) {
			if err != nil {
				t.Fatalf("the winning batch's own stream: %v", err)
			}
		} else if !errors.Is(err, eventstore.ErrStreamNotFound) {
			t.Fatalf("losing batch %d left its own stream: %v", i, err)
		}
	}
	if got := len(readAllOfStream(t, ctx, s, hot)); got != 2 {
		t.Fatalf("hot stream holds %d events, want 2", got)
	}
}

// testMultiNoSkipped: writers commit multi-stream batches concurrently while a subscriber
// tails the log: it sees every event once, in position order, each batch as one
// uninterrupted run; afterwards every stream's chain verifies.
func testMultiNoSkipped(t *testing.T, h Harness) {
	s, ctx := open(t, h)
	m := multiOrSkip(t, s)
	cat := Category()
	writers := max(2, h.GapWriters/2)
	batches := max(10, h.GapAppends/10)
	const width = 4 // streams per batch

	// Every batch is built before the clock starts, so the maps are read-only meanwhile.
	plan := make([][][]eventstore.StreamAppend, writers)
	versions := map[string]int{}   // events planned per stream
	batchOf := map[uuid.UUID]int{} // event → batch number
	sizes := map[int]int{}
	total := 0
	for w := range writers {
		plan[w] = make([][]eventstore.StreamAppend, batches)
		for i := range batches {
			parts := make([]eventstore.StreamAppend, width)
			for j := range parts {
				st := fmt.Sprintf("%s-w%d_%d", cat, w, j)
				exp := eventstore.Exact(uint64(versions[st]) - 1)
				if versions[st] == 0 {
					exp = eventstore.NoStream
				}
				if j == width-1 {
					// A stream shared with other writers, at Any: batches contend on it.
					st, exp = fmt.Sprintf("%s-shared%d", cat, w%2), eventstore.Any
				}
				n := 1 + (i+j)%2
				versions[st] += n
				parts[j] = eventstore.StreamAppend{Stream: st, Expected: exp, Events: events("mg.x", n)}
			}
			id := w*batches + i
			for _, e := range partIDs(parts) {
				batchOf[e] = id
			}
			sizes[id] = len(partIDs(parts))
			total += sizes[id]
			plan[w][i] = parts
		}
	}

	sub, err := s.SubscribeAll(ctx, eventstore.Start, eventstore.Filter{StreamPrefix: cat + "-"})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, parts := range plan[w] {
				if _, err := m.AppendMulti(ctx, parts...); err != nil {
					t.Errorf("writer %d batch %d: %v", w, i, err)
					cancel() // the subscriber would wait for events that never come
					return
				}
			}
		}()
	}
	seen := make(map[uuid.UUID]bool, total)
	var last uint64
	run, runLeft := -1, 0
	for len(seen) < total {
		e, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("subscriber after %d of %d events: %v", len(seen), total, err)
		}
		if seen[e.ID] {
			t.Fatalf("event %s delivered twice", e.ID)
		}
		if e.Position <= last {
			t.Fatalf("position %d delivered after %d", e.Position, last)
		}
		b, ok := batchOf[e.ID]
		if !ok {
			t.Fatalf("unknown event %s in %s", e.ID, e.Stream)
		}
		if runLeft == 0 {
			run, runLeft = b, sizes[b]
		} else if b != run {
			t.Fatalf("event of batch %d in the middle of batch %d", b, run)
		}
		runLeft--
		seen[e.ID] = true
		last = e.Position
	}
	wg.Wait()
	streams := []string{cat + "-shared0", cat + "-shared1"}
	for w := range writers {
		for j := range width - 1 {
			streams = append(streams, fmt.Sprintf("%s-w%d_%d", cat, w, j))
		}
	}
	for _, st := range streams {
		rep, err := eventstore.VerifyChains(ctx, s, st, nil)
		if err != nil || rep.Broken != nil {
			t.Fatalf("chain of %s: %+v %v", st, rep.Broken, err)
		}
	}
}

func testMultiBadInput(t *testing.T, h Harness) {
	s, ctx := open(t, h)
	m := multiOrSkip(t, s)
	cat := Category()
	ok := func(n int) eventstore.StreamAppend {
		return eventstore.StreamAppend{Stream: fmt.Sprintf("%s-%d", cat, n), Expected: eventstore.NoStream, Events: events("bad.x", 1)}
	}
	dupID := NewEvent("bad.x", 0)
	over := eventstore.DefaultMaxEventsPerAppend/2 + 1
	cases := []struct {
		name  string
		parts []eventstore.StreamAppend
	}{
		{"no parts", nil},
		{"part without events", []eventstore.StreamAppend{ok(1), {Stream: cat + "-2", Expected: eventstore.NoStream}}},
		{"stream twice", []eventstore.StreamAppend{ok(1), ok(1)}},
		{"event ID in two parts", []eventstore.StreamAppend{
			{Stream: cat + "-1", Expected: eventstore.NoStream, Events: []eventstore.EventData{dupID}},
			{Stream: cat + "-2", Expected: eventstore.NoStream, Events: []eventstore.EventData{dupID}},
		}},
		{"bad stream name", []eventstore.StreamAppend{ok(1), {Stream: "$" + cat + "-x", Expected: eventstore.Any, Events: events("bad.x", 1)}}},
		{"bad event in a later part", []eventstore.StreamAppend{ok(1), {Stream: cat + "-2", Expected: eventstore.Any, Events: []eventstore.EventData{{ID: uuid.New(), Type: "bad.x", Data: []byte(`{`)}}}}},
		{"more events in all than one append may carry", []eventstore.StreamAppend{
			{Stream: cat + "-1", Expected: eventstore.NoStream, Events: events("bad.x", over)},
			{Stream: cat + "-2", Expected: eventstore.NoStream, Events: events("bad.x", over)},
		}},
	}
	for _, c := range cases {
		if _, err := m.AppendMulti(ctx, c.parts...); !errors.Is(err, eventstore.ErrInvalidEvent) {
			t.Errorf("%s: got %v, want ErrInvalidEvent", c.name, err)
		}
		if _, err := eventstore.AppendMulti(ctx, s, c.parts...); !errors.Is(err, eventstore.ErrInvalidEvent) {
			t.Errorf("%s through the helper: got %v, want ErrInvalidEvent", c.name, err)
		}
	}
	all, err := s.ReadAll(ctx, eventstore.Start, 10, eventstore.Filter{StreamPrefix: cat + "-"})
	if err != nil || len(all) != 0 {
		t.Fatalf("rejected batches left %d events in the log (%v)", len(all), err)
	}
}

// singleOnly hides a store's multi-stream append, as a store without one would be.
type singleOnly struct{ eventstore.Store }

// testMultiFallback: eventstore.AppendMulti on a store without the capability appends part
// by part; a failure after the first part reports what was written, and retrying the batch
// completes it.
func testMultiFallback(t *testing.T, h Harness) {
	st, ctx := open(t, h)
	s := singleOnly{st}
	if eventstore.CanAppendMulti(s) {
		t.Fatal("wrapper still offers multi-stream appends")
	}
	cat := Category()
	a, b := cat+"-a", cat+"-b"
	parts := []eventstore.StreamAppend{
		{Stream: a, Expected: eventstore.NoStream, Events: events("f.a", 2)},
		{Stream: b, Expected: eventstore.NoStream, Events: events("f.b", 1)},
	}
	res, err := eventstore.AppendMulti(ctx, s, parts...)
	if err != nil || len(res) != 2 || res[0].Version != 1 || res[1].Version != 0 || res[1].Position <= res[0].Position {
		t.Fatalf("fallback: %+v %v", res, err)
	}
	again, err := eventstore.AppendMulti(ctx, s, parts...)
	if err != nil || fmt.Sprint(again) != fmt.Sprint(res) {
		t.Fatalf("fallback re-append: %+v (%v), first %+v", again, err, res)
	}
	// The second part conflicts: the first is written (the fallback is not atomic).
	c := cat + "-c"
	blocker := events("f.c", 1)
	mustAppend(t, ctx, s, c, eventstore.NoStream, blocker...)
	batch := []eventstore.StreamAppend{
		{Stream: a, Expected: eventstore.Exact(1), Events: events("f.a", 1)},
		{Stream: c, Expected: eventstore.NoStream, Events: events("f.c", 1)},
	}
	_, err = eventstore.AppendMulti(ctx, s, batch...)
	var partial *eventstore.PartialAppendError
	if !errors.As(err, &partial) || partial.Part != 1 || len(partial.Written) != 1 || !errors.Is(err, eventstore.ErrWrongExpectedVersion) {
		t.Fatalf("fallback with a conflicting second part: %v", err)
	}
	if got := len(readAllOfStream(t, ctx, s, a)); got != 3 {
		t.Fatalf("first part not written by the fallback: %s holds %d events", a, got)
	}
	// A conflict on the first part writes nothing and is returned as is.
	_, err = eventstore.AppendMulti(ctx, s, batch[1], eventstore.StreamAppend{Stream: cat + "-d", Expected: eventstore.NoStream, Events: events("f.d", 1)})
	if !errors.Is(err, eventstore.ErrWrongExpectedVersion) || errors.As(err, &partial) {
		t.Fatalf("fallback with a conflicting first part: %v", err)
	}
	if _, err := s.ReadStream(ctx, cat+"-d", eventstore.Forward, 0, 1); !errors.Is(err, eventstore.ErrStreamNotFound) {
		t.Fatalf("fallback wrote after a conflicting first part: %v", err)
	}
	// Retrying after the conflict is resolved completes the batch; the written part is a
	// no-op.
	batch[1].Expected = eventstore.Exact(0)
	res, err = eventstore.AppendMulti(ctx, s, batch...)
	if err != nil || res[0] != partial.Written[0] || res[1].Version != 1 {
		t.Fatalf("fallback retry: %+v %v (first part was %+v)", res, err, partial.Written[0])
	}
}
