// Package eventstoretest is the conformance suite every event-store adapter passes.
//
// An adapter's test calls Run with a Harness. Tests use streams of their own random
// category, so a harness may hand out one shared store (as a KurrentDB server is) or a
// fresh one per test.
package eventstoretest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orderengine/orderengine/eventstore"
)

// Harness adapts the suite to one adapter.
type Harness struct {
	// New returns a store for one test; the harness closes it (t.Cleanup).
	New func(t *testing.T) eventstore.Store
	// Corrupt changes one stored byte of the data of event (stream, version), bypassing the
	// store. Nil skips the tamper-evidence test.
	Corrupt func(t *testing.T, s eventstore.Store, stream string, version uint64)
	// GapWriters × GapAppends is the size of the concurrent-commit test (default 16 × 1000).
	GapWriters, GapAppends int
}

// Run runs the whole suite.
func Run(t *testing.T, h Harness) {
	if h.GapWriters == 0 {
		h.GapWriters = 16
	}
	if h.GapAppends == 0 {
		h.GapAppends = 1000
	}
	t.Run("ExpectedVersion", func(t *testing.T) { testExpectedVersion(t, h) })
	t.Run("IdempotentAppend", func(t *testing.T) { testIdempotent(t, h) })
	t.Run("EventFields", func(t *testing.T) { testEventFields(t, h) })
	t.Run("ReadStream", func(t *testing.T) { testReadStream(t, h) })
	t.Run("ReadAll", func(t *testing.T) { testReadAll(t, h) })
	t.Run("Subscribe", func(t *testing.T) { testSubscribe(t, h) })
	t.Run("SubscribeResume", func(t *testing.T) { testSubscribeResume(t, h) })
	t.Run("ConcurrentSameVersion", func(t *testing.T) { testConcurrentSameVersion(t, h) })
	t.Run("ConcurrentAny", func(t *testing.T) { testConcurrentAny(t, h) })
	t.Run("NoSkippedEvents", func(t *testing.T) { testNoSkippedEvents(t, h) })
	t.Run("TamperEvidence", func(t *testing.T) { testTamper(t, h) })
	t.Run("BadInput", func(t *testing.T) { testBadInput(t, h) })
	runMulti(t, h)
	runDelete(t, h)
}

// Category returns a random stream category, unique to a test.
func Category() string {
	return "t" + strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
}

// NewEvent builds a test event with a JSON body.
func NewEvent(typ string, n int) eventstore.EventData {
	return eventstore.EventData{
		ID:       uuid.New(),
		Type:     typ,
		Data:     []byte(fmt.Sprintf(`{"n":%d,"note":"conformance"}`, n)),
		Metadata: []byte(fmt.Sprintf(`{"correlationId":"%s","actor":"suite"}`, uuid.NewString())),
	}
}

func events(typ string, n int) []eventstore.EventData {
	out := make([]eventstore.EventData, n)
	for i := range out {
		out[i] = NewEvent(typ, i)
	}
	return out
}

func open(t *testing.T, h Harness) (eventstore.Store, context.Context) {
	t.Helper()
	s := h.New(t)
	t.Cleanup(func() { _ = s.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return s, ctx
}

func mustAppend(t *testing.T, ctx context.Context, s eventstore.Store, stream string, exp eventstore.ExpectedVersion, evs ...eventstore.EventData) eventstore.AppendResult {
	t.Helper()
	res, err := s.Append(ctx, stream, exp, evs...)
	if err != nil {
		t.Fatalf("append %s at %s: %v", stream, exp, err)
	}
	return res
}

func wantWrongVersion(t *testing.T, err error, exists bool, actual uint64) {
	t.Helper()
	if !errors.Is(err, eventstore.ErrWrongExpectedVersion) {
		t.Fatalf("want ErrWrongExpectedVersion, got %v", err)
	}
	var wev *eventstore.WrongExpectedVersionError
	if !errors.As(err, &wev) {
		t.Fatalf("error %v is not a *WrongExpectedVersionError", err)
	}
	if wev.StreamExists != exists || (exists && wev.Actual != actual) {
		t.Fatalf("actual version: got exists=%v version=%d, want exists=%v version=%d", wev.StreamExists, wev.Actual, exists, actual)
	}
}

func readAllOfStream(t *testing.T, ctx context.Context, s eventstore.Store, stream string) []eventstore.RecordedEvent {
	t.Helper()
	evs, err := s.ReadStream(ctx, stream, eventstore.Forward, 0, 100000)
	if err != nil {
		t.Fatalf("read %s: %v", stream, err)
	}
	return evs
}

func testExpectedVersion(t *testing.T, h Harness) {
	s, ctx := open(t, h)
	stream := Category() + "-1"

	_, err := s.Append(ctx, stream, eventstore.StreamExists, NewEvent("a.x", 0))
	wantWrongVersion(t, err, false, 0)
	_, err = s.Append(ctx, stream, eventstore.Exact(0), NewEvent("a.x", 0))
	wantWrongVersion(t, err, false, 0)

	r1 := mustAppend(t, ctx, s, stream, eventstore.NoStream, NewEvent("a.x", 0), NewEvent("a.x", 1))
	if r1.Version != 1 || r1.Position == 0 {
		t.Fatalf("first append result %+v, want version 1 and a position", r1)
	}
	_, err = s.Append(ctx, stream, eventstore.NoStream, NewEvent("a.x", 2))
	wantWrongVersion(t, err, true, 1)
	_, err = s.Append(ctx, stream, eventstore.Exact(0), NewEvent("a.x", 2))
	wantWrongVersion(t, err, true, 1)
	_, err = s.Append(ctx, stream, eventstore.Exact(7), NewEvent("a.x", 2))
	wantWrongVersion(t, err, true, 1)

	r2 := mustAppend(t, ctx, s, stream, eventstore.Exact(1), NewEvent("a.x", 2))
	if r2.Version != 2 || r2.Position <= r1.Position {
		t.Fatalf("second append result %+v after %+v", r2, r1)
	}
	r3 := mustAppend(t, ctx, s, stream, eventstore.StreamExists, NewEvent("a.x", 3))
	r4 := mustAppend(t, ctx, s, stream, eventstore.Any, NewEvent("a.x", 4))
	if r3.Version != 3 || r4.Version != 4 || r4.Position <= r3.Position || r3.Position <= r2.Position {
		t.Fatalf("results %+v then %+v", r3, r4)
	}
	other := Category() + "-2"
	if r := mustAppend(t, ctx, s, other, eventstore.Any, NewEvent("a.x", 0)); r.Version != 0 {
		t.Fatalf("Any on a new stream: %+v", r)
	}
	if got := len(readAllOfStream(t, ctx, s, stream)); got != 5 {
		t.Fatalf("stream holds %d events, want 5", got)
	}
	head, err := s.Head(ctx)
	if err != nil || head < r4.Position {
		t.Fatalf("head %d (%v) is before the last append %d", head, err, r4.Position)
	}
}

func testIdempotent(t *testing.T, h Harness) {
	s, ctx := open(t, h)
	stream := Category() + "-1"
	batch := events("b.x", 3)
	r1 := mustAppend(t, ctx, s, stream, eventstore.NoStream, batch...)
	r1again := mustAppend(t, ctx, s, stream, eventstore.NoStream, batch...)
	if r1again != r1 {
		t.Fatalf("re-append returned %+v, first append %+v", r1again, r1)
	}
	next := events("b.x", 2)
	r2 := mustAppend(t, ctx, s, stream, eventstore.Exact(2), next...)
	r2again := mustAppend(t, ctx, s, stream, eventstore.Exact(2), next...)
	if r2again != r2 {
		t.Fatalf("re-append at Exact(2) returned %+v, first %+v", r2again, r2)
	}
	if _, err := s.Append(ctx, stream, eventstore.Any, next...); err != nil {
		t.Fatalf("re-append with Any: %v", err)
	}
	// New IDs at a stale version still conflict.
	_, err := s.Append(ctx, stream, eventstore.Exact(2), events("b.x", 2)...)
	wantWrongVersion(t, err, true, 4)

	got := readAllOfStream(t, ctx, s, stream)
	if len(got) != 5 {
		t.Fatalf("stream holds %d events after retries, want 5", len(got))
	}
	want := append(append([]eventstore.EventData{}, batch...), next...)
	for i, e := range got {
		if e.ID != want[i].ID || e.Version != uint64(i) {
			t.Fatalf("event %d is %s v%d, want %s", i, e.ID, e.Version, want[i].ID)
		}
	}
}

func testEventFields(t *testing.T, h Harness) {
	s, ctx := open(t, h)
	stream := Category() + "-abc"
	before := time.Now().Add(-5 * time.Second)
	in := []eventstore.EventData{
		{ID: uuid.New(), Type: "order.placed", Data: []byte(`{"total":{"amount":1299,"currency":"EUR"},"lines":[1,2]}`), Metadata: []byte(`{"correlationId":"c1","actor":"alice"}`)},
		{ID: uuid.New(), Type: "order.paid", Data: []byte(`{"ok":true}`)}, // no metadata
		{ID: uuid.New(), Type: "order.note", Data: []byte(`"just a string with ünïcode"`), Metadata: []byte(`{}`)},
	}
	res := mustAppend(t, ctx, s, stream, eventstore.NoStream, in...)
	got := readAllOfStream(t, ctx, s, stream)
	if len(got) != len(in) {
		t.Fatalf("read %d events, want %d", len(got), len(in))
	}
	var last uint64
	for i, e := range got {
		if e.ID != in[i].ID || e.Type != in[i].Type || e.Stream != stream || e.Version != uint64(i) {
			t.Fatalf("event %d: got %s %s %s v%d", i, e.ID, e.Type, e.Stream, e.Version)
		}
		if !bytes.Equal(e.Data, in[i].Data) {
			t.Fatalf("event %d data %s, want %s", i, e.Data, in[i].Data)
		}
		_, orig, err := eventstore.SplitChainHash(e.Metadata)
		if err != nil {
			t.Fatalf("event %d metadata %s: %v", i, e.Metadata, err)
		}
		wantMD := in[i].Metadata
		if len(wantMD) == 0 {
			wantMD = []byte("{}")
		}
		if !bytes.Equal(orig, wantMD) {
			t.Fatalf("event %d metadata %s, want %s", i, orig, wantMD)
		}
		if e.Position <= last {
			t.Fatalf("event %d position %d not after %d", i, e.Position, last)
		}
		last = e.Position
		if e.RecordedAt.Before(before) || e.RecordedAt.After(time.Now().Add(5*time.Second)) {
			t.Fatalf("event %d recorded at %v, not about now", i, e.RecordedAt)
		}
	}
	if res.Position != last || res.Version != 2 {
		t.Fatalf("append result %+v, last event at position %d", res, last)
	}
}

func testReadStream(t *testing.T, h Harness) {
	s, ctx := open(t, h)
	cat := Category()
	stream := cat + "-1"
	if _, err := s.ReadStream(ctx, stream, eventstore.Forward, 0, 10); !errors.Is(err, eventstore.ErrStreamNotFound) {
		t.Fatalf("read of absent stream: %v, want ErrStreamNotFound", err)
	}
	if _, err := s.ReadStream(ctx, stream, eventstore.Backward, eventstore.End, 10); !errors.Is(err, eventstore.ErrStreamNotFound) {
		t.Fatalf("backward read of absent stream: %v, want ErrStreamNotFound", err)
	}
	mustAppend(t, ctx, s, stream, eventstore.NoStream, events("r.x", 10)...)
	mustAppend(t, ctx, s, cat+"-2", eventstore.NoStream, events("r.x", 3)...)

	versions := func(evs []eventstore.RecordedEvent) []uint64 {
		out := make([]uint64, len(evs))
		for i, e := range evs {
			out[i] = e.Version
		}
		return out
	}
	cases := []struct {
		dir   eventstore.Direction
		from  uint64
		limit int
		want  []uint64
	}{
		{eventstore.Forward, 0, 3, []uint64{0, 1, 2}},
		{eventstore.Forward, 8, 10, []uint64{8, 9}},
		{eventstore.Forward, 10, 10, []uint64{}},
		{eventstore.Backward, eventstore.End, 3, []uint64{9, 8, 7}},
		{eventstore.Backward, 2, 10, []uint64{2, 1, 0}},
		{eventstore.Backward, 50, 2, []uint64{9, 8}},
	}
	for _, c := range cases {
		got, err := s.ReadStream(ctx, stream, c.dir, c.from, c.limit)
		if err != nil {
			t.Fatalf("read dir=%d from=%d limit=%d: %v", c.dir, c.from, c.limit, err)
		}
		if fmt.Sprint(versions(got)) != fmt.Sprint(c.want) {
			t.Fatalf("read dir=%d from=%d limit=%d: versions %v, want %v", c.dir, c.from, c.limit, versions(got), c.want)
		}
		for _, e := range got {
			if e.Stream != stream {
				t.Fatalf("read of %s returned an event of %s", stream, e.Stream)
			}
		}
	}
}

func testReadAll(t *testing.T, h Harness) {
	s, ctx := open(t, h)
	cat := Category()
	var appended []uuid.UUID
	for i := 0; i < 5; i++ {
		evs := events("all.a", 2)
		evs[1].Type = "all.b"
		mustAppend(t, ctx, s, fmt.Sprintf("%s-%d", cat, i), eventstore.NoStream, evs...)
		appended = append(appended, evs[0].ID, evs[1].ID)
	}
	all, err := s.ReadAll(ctx, eventstore.Start, 1_000_000, eventstore.Filter{StreamPrefix: cat + "-"})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(appended) {
		t.Fatalf("ReadAll by category returned %d events, want %d", len(all), len(appended))
	}
	for i, e := range all {
		if e.ID != appended[i] {
			t.Fatalf("ReadAll event %d is %s, want %s (append order)", i, e.ID, appended[i])
		}
		if i > 0 && e.Position <= all[i-1].Position {
			t.Fatalf("ReadAll positions not increasing at %d", i)
		}
	}
	// Paging from an exclusive position.
	page, err := s.ReadAll(ctx, all[3].Position, 4, eventstore.Filter{StreamPrefix: cat + "-"})
	if err != nil || len(page) != 4 || page[0].ID != all[4].ID || page[3].ID != all[7].ID {
		t.Fatalf("ReadAll from %d limit 4: %d events, err %v", all[3].Position, len(page), err)
	}
	// By type, combined with the category.
	bs, err := s.ReadAll(ctx, eventstore.Start, 1_000_000, eventstore.Filter{StreamPrefix: cat + "-", EventTypes: []string{"all.b"}})
	if err != nil || len(bs) != 5 {
		t.Fatalf("ReadAll by type: %d events, err %v", len(bs), err)
	}
	for _, e := range bs {
		if e.Type != "all.b" {
			t.Fatalf("type filter let through %s", e.Type)
		}
	}
}

type collected struct {
	mu  sync.Mutex
	evs []eventstore.RecordedEvent
}

// consume reads n events from sub.
func consume(t *testing.T, ctx context.Context, sub eventstore.Subscription, n int) []eventstore.RecordedEvent {
	t.Helper()
	out := make([]eventstore.RecordedEvent, 0, n)
	for len(out) < n {
		e, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("subscription after %d of %d events: %v", len(out), n, err)
		}
		out = append(out, e)
	}
	return out
}

func testSubscribe(t *testing.T, h Harness) {
	s, ctx := open(t, h)
	cat, otherCat := Category(), Category()
	for i := 0; i < 3; i++ {
		mustAppend(t, ctx, s, fmt.Sprintf("%s-%d", cat, i), eventstore.NoStream, NewEvent("s.hist", i))
		mustAppend(t, ctx, s, fmt.Sprintf("%s-%d", otherCat, i), eventstore.NoStream, NewEvent("s.hist", i))
	}
	sub, err := s.SubscribeAll(ctx, eventstore.Start, eventstore.Filter{StreamPrefix: cat + "-"})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	typed, err := s.SubscribeAll(ctx, eventstore.Start, eventstore.Filter{StreamPrefix: cat + "-", EventTypes: []string{"s.live"}})
	if err != nil {
		t.Fatal(err)
	}
	defer typed.Close()

	hist := consume(t, ctx, sub, 3)
	// Live events arrive after the subscription has caught up.
	go func() {
		for i := 0; i < 3; i++ {
			_, _ = s.Append(ctx, fmt.Sprintf("%s-%d", otherCat, i), eventstore.Any, NewEvent("s.live", i))
			_, _ = s.Append(ctx, fmt.Sprintf("%s-%d", cat, i), eventstore.Exact(0), NewEvent("s.live", i))
		}
	}()
	live := consume(t, ctx, sub, 3)
	all := append(hist, live...)
	for i, e := range all {
		if !strings.HasPrefix(e.Stream, cat+"-") {
			t.Fatalf("category filter let through %s", e.Stream)
		}
		if i > 0 && e.Position <= all[i-1].Position {
			t.Fatalf("subscription out of order at %d", i)
		}
		wantType := "s.hist"
		if i >= 3 {
			wantType = "s.live"
		}
		if e.Type != wantType {
			t.Fatalf("event %d type %s, want %s", i, e.Type, wantType)
		}
	}
	for i, e := range consume(t, ctx, typed, 3) {
		if e.Type != "s.live" || e.ID != live[i].ID {
			t.Fatalf("type-filtered subscription event %d: %s %s", i, e.Type, e.ID)
		}
	}
	// Nothing more arrives for the category.
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if e, err := sub.Next(short); err == nil {
		t.Fatalf("unexpected extra event %s %s", e.Stream, e.Type)
	}
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.Next(ctx); err == nil {
		t.Fatal("Next after Close returned no error")
	}
}

func testSubscribeResume(t *testing.T, h Harness) {
	s, ctx := open(t, h)
	cat := Category()
	const total = 300
	var produced sync.WaitGroup
	produced.Add(1)
	go func() {
		defer produced.Done()
		for i := 0; i < total; i++ {
			if _, err := s.Append(ctx, fmt.Sprintf("%s-%d", cat, i%7), eventstore.Any, NewEvent("resume.x", i)); err != nil {
				t.Errorf("append: %v", err)
				return
			}
		}
	}()
	seen := map[uuid.UUID]bool{}
	var last uint64
	for round := 0; len(seen) < total; round++ {
		if round > 200 {
			t.Fatalf("only %d of %d events after 200 resubscriptions", len(seen), total)
		}
		sub, err := s.SubscribeAll(ctx, last, eventstore.Filter{StreamPrefix: cat + "-"})
		if err != nil {
			t.Fatal(err)
		}
		take := 1 + round%37
		for i := 0; i < take && len(seen) < total; i++ {
			e, err := sub.Next(ctx)
			if err != nil {
				t.Fatalf("next: %v", err)
			}
			if seen[e.ID] {
				t.Fatalf("event %s delivered twice after resubscribing from %d", e.ID, last)
			}
			if e.Position <= last {
				t.Fatalf("position %d not after resume point %d", e.Position, last)
			}
			seen[e.ID] = true
			last = e.Position
		}
		_ = sub.Close()
	}
	produced.Wait()
}

func testConcurrentSameVersion(t *testing.T, h Harness) {
	s, ctx := open(t, h)
	stream := Category() + "-hot"
	mustAppend(t, ctx, s, stream, eventstore.NoStream, NewEvent("c.x", 0))
	const n = 50
	var ok, conflict, other atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			_, err := s.Append(ctx, stream, eventstore.Exact(0), NewEvent("c.x", i+1))
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, eventstore.ErrWrongExpectedVersion):
				conflict.Add(1)
			default:
				other.Add(1)
				t.Errorf("append: %v", err)
			}
		}(i)
	}
	close(start)
	wg.Wait()
	if ok.Load() != 1 || conflict.Load() != n-1 || other.Load() != 0 {
		t.Fatalf("%d succeeded, %d conflicted, %d other errors; want 1, %d, 0", ok.Load(), conflict.Load(), other.Load(), n-1)
	}
	got := readAllOfStream(t, ctx, s, stream)
	if len(got) != 2 || got[1].Version != 1 {
		t.Fatalf("stream holds %d events, want 2", len(got))
	}
}

func testConcurrentAny(t *testing.T, h Harness) {
	s, ctx := open(t, h)
	stream := Category() + "-any"
	const writers, each = 8, 25
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if _, err := s.Append(ctx, stream, eventstore.Any, NewEvent("any.x", w*each+i)); err != nil {
					t.Errorf("append Any: %v", err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	got := readAllOfStream(t, ctx, s, stream)
	if len(got) != writers*each {
		t.Fatalf("stream holds %d events, want %d", len(got), writers*each)
	}
	for i, e := range got {
		if e.Version != uint64(i) {
			t.Fatalf("versions not contiguous at %d: %d", i, e.Version)
		}
	}
	rep, err := eventstore.VerifyChains(ctx, s, stream, nil)
	if err != nil || rep.Broken != nil {
		t.Fatalf("chain after concurrent Any appends: %+v %v", rep.Broken, err)
	}
}

// testNoSkippedEvents: writers commit concurrently to different streams while a subscriber
// tails the log; it must see every event exactly once, in position order, including
// positions that were allocated early and committed late.
func testNoSkippedEvents(t *testing.T, h Harness) {
	s, ctx := open(t, h)
	cat := Category()
	total := h.GapWriters * h.GapAppends
	sub, err := s.SubscribeAll(ctx, eventstore.Start, eventstore.Filter{StreamPrefix: cat + "-"})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	var wg sync.WaitGroup
	for w := 0; w < h.GapWriters; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < h.GapAppends; i++ {
				stream := fmt.Sprintf("%s-%d-%d", cat, w, i%10)
				exp := eventstore.Exact(uint64(i/10) - 1)
				if i < 10 {
					exp = eventstore.NoStream
				}
				if _, err := s.Append(ctx, stream, exp, NewEvent("gap.x", i)); err != nil {
					t.Errorf("writer %d append %d: %v", w, i, err)
					return
				}
			}
		}(w)
	}
	seen := make(map[uuid.UUID]bool, total)
	var last uint64
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
		seen[e.ID] = true
		last = e.Position
	}
	wg.Wait()
	// And the log read afterwards agrees with what the subscriber saw.
	all, err := s.ReadAll(ctx, eventstore.Start, total+10, eventstore.Filter{StreamPrefix: cat + "-"})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != total {
		t.Fatalf("ReadAll has %d events, subscriber saw %d", len(all), total)
	}
	for _, e := range all {
		if !seen[e.ID] {
			t.Fatalf("subscriber skipped event at position %d", e.Position)
		}
	}
}

func testTamper(t *testing.T, h Harness) {
	s, ctx := open(t, h)
	cat := Category()
	for i := 0; i < 3; i++ {
		mustAppend(t, ctx, s, fmt.Sprintf("%s-%d", cat, i), eventstore.NoStream, events("tamper.x", 5)...)
	}
	stream := cat + "-1"
	rep, err := eventstore.VerifyChains(ctx, s, stream, nil)
	if err != nil || rep.Broken != nil || rep.Events != 5 {
		t.Fatalf("clean stream: %+v, %v", rep, err)
	}
	if h.Corrupt == nil {
		t.Skip("adapter cannot alter stored bytes behind the store's back")
	}
	h.Corrupt(t, s, stream, 3)
	rep, err = eventstore.VerifyChains(ctx, s, stream, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Broken == nil || rep.Broken.Stream != stream || rep.Broken.Version != 3 {
		t.Fatalf("verify after corrupting %s v3 reported %+v", stream, rep.Broken)
	}
	rep, err = eventstore.VerifyChains(ctx, s, cat+"-2", nil)
	if err != nil || rep.Broken != nil {
		t.Fatalf("untouched stream: %+v, %v", rep.Broken, err)
	}
}

func testBadInput(t *testing.T, h Harness) {
	s, ctx := open(t, h)
	cat := Category()
	good := func() eventstore.EventData { return NewEvent("bad.x", 0) }
	dup := good()
	big := good()
	big.Data = []byte(`"` + strings.Repeat("x", eventstore.DefaultMaxEventSize) + `"`)
	cases := []struct {
		name   string
		stream string
		evs    []eventstore.EventData
	}{
		{"empty stream name", "", []eventstore.EventData{good()}},
		{"no category separator", cat, []eventstore.EventData{good()}},
		{"empty id", cat + "-", []eventstore.EventData{good()}},
		{"space in name", cat + "-a b", []eventstore.EventData{good()}},
		{"system stream", "$" + cat + "-1", []eventstore.EventData{good()}},
		{"no events", cat + "-1", nil},
		{"empty type", cat + "-1", []eventstore.EventData{{ID: uuid.New(), Data: []byte(`{}`)}}},
		{"data not JSON", cat + "-1", []eventstore.EventData{good(), {ID: uuid.New(), Type: "bad.x", Data: []byte(`{"unterminated":`)}}},
		{"empty data", cat + "-1", []eventstore.EventData{{ID: uuid.New(), Type: "bad.x"}}},
		{"metadata not an object", cat + "-1", []eventstore.EventData{{ID: uuid.New(), Type: "bad.x", Data: []byte(`1`), Metadata: []byte(`[1]`)}}},
		{"reserved metadata key", cat + "-1", []eventstore.EventData{{ID: uuid.New(), Type: "bad.x", Data: []byte(`1`), Metadata: []byte(`{"chainHash":"x"}`)}}},
		{"over size limit", cat + "-1", []eventstore.EventData{good(), big}},
		{"nil id", cat + "-1", []eventstore.EventData{good(), {Type: "bad.x", Data: []byte(`{}`)}}},
		{"duplicate id", cat + "-1", []eventstore.EventData{dup, dup}},
	}
	for _, c := range cases {
		_, err := s.Append(ctx, c.stream, eventstore.Any, c.evs...)
		if !errors.Is(err, eventstore.ErrInvalidEvent) {
			t.Errorf("%s: got %v, want ErrInvalidEvent", c.name, err)
		}
	}
	if _, err := s.ReadStream(ctx, cat+"-1", eventstore.Forward, 0, 10); !errors.Is(err, eventstore.ErrStreamNotFound) {
		t.Fatalf("a rejected append wrote something: %v", err)
	}
	all, err := s.ReadAll(ctx, eventstore.Start, 10, eventstore.Filter{StreamPrefix: cat})
	if err != nil || len(all) != 0 {
		t.Fatalf("rejected appends left %d events in the log (%v)", len(all), err)
	}
}
