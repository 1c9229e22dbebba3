package storebench

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/eventstore/sqlite"
)

func tinyConfig() Config {
	return Config{
		Streams:         200,
		EventsPerStream: 5,
		Writers:         4,
		HotDuration:     300 * time.Millisecond,
	}
}

func openSQLite(t *testing.T) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "events.db"), sqlite.Options{PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// checkResults asserts every result passed with sane numbers.
func checkResults(t *testing.T, rs []Result, want []string) {
	t.Helper()
	var got []string
	for _, r := range rs {
		got = append(got, r.Workload)
		if !r.OK || r.Error != "" {
			t.Errorf("%s failed: %s", r.Workload, r.Error)
		}
		if r.Duplicates != 0 || r.Missing != 0 || r.OutOfOrder != 0 || r.Unexpected != 0 {
			t.Errorf("%s: %d duplicates, %d missing, %d out of order, %d unexpected", r.Workload, r.Duplicates, r.Missing, r.OutOfOrder, r.Unexpected)
		}
		if r.EventsPerS <= 0 || r.Events <= 0 || r.DurationS <= 0 {
			t.Errorf("%s: events/s %v, events %d, duration %v", r.Workload, r.EventsPerS, r.Events, r.DurationS)
		}
		if r.Workload != CatchupNoop && (r.P50Ms <= 0 || r.P99Ms < r.P50Ms) {
			t.Errorf("%s: p50 %v ms, p99 %v ms", r.Workload, r.P50Ms, r.P99Ms)
		}
		if r.EventsPerS > 50_000_000 {
			t.Errorf("%s: implausible %v events/s", r.Workload, r.EventsPerS)
		}
		switch r.Workload {
		case AppendB1, AppendB10, RawInsertB1, RawInsertBN:
			if r.Events != int64(r.Streams*r.EventsPerStream) || r.AppendsPerS <= 0 {
				t.Errorf("%s: %d events, %v appends/s", r.Workload, r.Events, r.AppendsPerS)
			}
			if wantAppends := r.Events / int64(r.Batch); r.Appends != wantAppends {
				t.Errorf("%s: %d appends, want %d", r.Workload, r.Appends, wantAppends)
			}
		case HotStream:
			if r.CommitsPerS == nil || *r.CommitsPerS <= 0 || r.ConflictRate == nil || *r.ConflictRate < 0 || *r.ConflictRate >= 1 {
				t.Errorf("hot_stream: commits/s %v, conflict rate %v", r.CommitsPerS, r.ConflictRate)
			}
			if r.Attempts != r.Events+r.Conflicts { // every attempt commits or conflicts
				t.Errorf("hot_stream: %d attempts, %d commits, %d conflicts", r.Attempts, r.Events, r.Conflicts)
			}
		case ReadStreams:
			if r.Events != int64(r.Streams*r.EventsPerStream) || r.Appends != int64(r.Streams) {
				t.Errorf("read_streams: %d events in %d reads", r.Events, r.Appends)
			}
		}
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("workloads %v, want %v", got, want)
	}
}

func TestRunSQLite(t *testing.T) {
	store := openSQLite(t)
	ctx := context.Background()
	cfg := tinyConfig()
	var progress bytes.Buffer
	cfg.Progress = &progress
	rs, err := Run(ctx, store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkResults(t, rs, []string{AppendB1, AppendB10, MultiS4, SingleS4, HotStream, ReadStreams, CatchupNoop})

	// catchup_noop consumed everything the run wrote, and nothing else.
	var b1, b10, m4, s4, hot, catchup Result
	for _, r := range rs {
		switch r.Workload {
		case AppendB1:
			b1 = r
		case AppendB10:
			b10 = r
		case MultiS4:
			m4 = r
		case SingleS4:
			s4 = r
		case HotStream:
			hot = r
		case CatchupNoop:
			catchup = r
		}
	}
	if want := b1.Events + b10.Events + m4.Events + s4.Events + hot.Events; catchup.Events != want {
		t.Errorf("catchup_noop consumed %d events, want %d", catchup.Events, want)
	}
	if b10.Appends != int64(cfg.Streams) || b10.Batch != cfg.EventsPerStream {
		t.Errorf("append_b10: %d appends of %d", b10.Appends, b10.Batch)
	}
	for _, r := range []Result{m4, s4} {
		groups := cfg.Streams / 4
		if r.Batch != 4 || r.Appends != int64(groups*cfg.EventsPerStream) || r.Events != int64(4*groups*cfg.EventsPerStream) || r.Atomic == nil {
			t.Errorf("%s: %d batches of %d, %d events, atomic %v", r.Workload, r.Appends, r.Batch, r.Events, r.Atomic)
		}
	}
	if !*m4.Atomic || *s4.Atomic {
		t.Errorf("multi_s4 atomic=%v, single_s4 atomic=%v; want true, false", *m4.Atomic, *s4.Atomic)
	}

	var table, lines bytes.Buffer
	PrintTable(&table, rs)
	PrintResultLines(&lines, rs)
	t.Logf("\n%s", table.String())
	for _, w := range []string{"workload", AppendB1, HotStream, "commits/s", "conflict rate"} {
		if !strings.Contains(table.String(), w) {
			t.Errorf("table lacks %q:\n%s", w, table.String())
		}
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(lines.String()), "\n") {
		js, ok := strings.CutPrefix(line, "RESULT ")
		if !ok {
			t.Fatalf("line %q is not a RESULT line", line)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(js), &m); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		for _, k := range []string{"workload", "events_per_s", "appends_per_s", "p50_ms", "p99_ms", "duplicates", "missing",
			"ok", "streams", "events_per_stream", "writers", "batch", "data_bytes", "metadata_bytes", "duration_s"} {
			if _, ok := m[k]; !ok {
				t.Errorf("%s lacks %q", line, k)
			}
		}
		if m["workload"] == HotStream {
			for _, k := range []string{"commits_per_s", "conflict_rate"} {
				if _, ok := m[k]; !ok {
					t.Errorf("%s lacks %q", line, k)
				}
			}
		}
		n++
	}
	if n != len(rs) {
		t.Errorf("%d RESULT lines for %d results", n, len(rs))
	}

	p := progress.String()
	for _, w := range Workloads[:7] {
		if !strings.Contains(p, w) {
			t.Errorf("progress lacks %s: %q", w, p)
		}
	}
	if strings.Count(p, "\n") != 7 || !strings.Contains(p, "\r") || !strings.Contains(p, "ok\n") {
		t.Errorf("progress output %q", p)
	}

	// A second run on the same, now non-empty, store only sees its own streams.
	cfg.Progress = nil
	cfg.Workloads = []string{AppendB10, ReadStreams, CatchupNoop}
	rs, err = Run(ctx, store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkResults(t, rs, cfg.Workloads)
}

func TestEventSizes(t *testing.T) {
	g := newGenerator(DefaultDataBytes, DefaultMetadataBytes)
	e := g.event("bench.b1", "benchabcdef0123-b1_0000042", 7)
	if len(e.Data) != DefaultDataBytes || len(e.Metadata) != DefaultMetadataBytes {
		t.Errorf("data %d bytes, metadata %d bytes", len(e.Data), len(e.Metadata))
	}
	if err := eventstore.Validate(eventstore.Limits{}, "benchabcdef0123-b1_0000042", []eventstore.EventData{e}); err != nil {
		t.Error(err)
	}
	for _, size := range [][2]int{{16, 2}, {17, 21}, {30, 22}, {100, 79}, {5000, 3000}} {
		g := newGenerator(size[0], size[1])
		e := g.event("bench.b1", "benchabcdef0123-b1_0000042", 123456)
		if err := eventstore.Validate(eventstore.Limits{}, "benchabcdef0123-b1_0000042", []eventstore.EventData{e}); err != nil {
			t.Errorf("sizes %v: %v (%s / %s)", size, err, e.Data, e.Metadata)
		}
		if size[0] >= 100 && len(e.Data) != size[0] {
			t.Errorf("data %d bytes, want %d", len(e.Data), size[0])
		}
	}
}

func TestValidate(t *testing.T) {
	if err := (Config{}).Validate(); err != nil {
		t.Fatalf("zero config: %v", err)
	}
	if err := tinyConfig().Validate(); err != nil {
		t.Fatalf("tiny config: %v", err)
	}
	d := Config{}.WithDefaults()
	if d.Streams != 10_000 || d.EventsPerStream != 10 || d.Writers != 8 || d.DataBytes != 300 || d.MetadataBytes != 100 || d.HotDuration != 20*time.Second {
		t.Errorf("defaults %+v", d)
	}
	if strings.Join(d.Workloads, ",") != "append_b1,append_b10,multi_s4,single_s4,hot_stream,read_streams,catchup_noop" {
		t.Errorf("default workloads without PostgreSQL: %v", d.Workloads)
	}
	for _, tc := range []struct {
		cfg  Config
		want []string
	}{
		{Config{Streams: -1}, []string{"streams must be"}},
		{Config{Streams: -5, Writers: -2, EventsPerStream: -1}, []string{"streams must be", "writers must be", "events per stream must be"}},
		{Config{EventsPerStream: 20_000}, []string{"events per stream must be"}},
		{Config{Streams: 10_000_000, EventsPerStream: 100}, []string{"at most 100,000,000"}},
		{Config{Writers: 5000}, []string{"writers must be"}},
		{Config{DataBytes: 3}, []string{"data bytes"}},
		{Config{MetadataBytes: 1}, []string{"metadata bytes"}},
		{Config{DataBytes: 2 << 20}, []string{"data + metadata"}},
		{Config{HotDuration: -time.Second}, []string{"hot duration"}},
		{Config{Workloads: []string{"append_b2"}}, []string{`unknown workload "append_b2"`}},
		{Config{Workloads: []string{AppendB1, AppendB1}}, []string{"listed twice"}},
		{Config{Workloads: []string{RawInsertB1}}, []string{"needs a PostgreSQL pool"}},
		{Config{Workloads: []string{ReadStreams, HotStream}}, []string{"read_streams needs"}},
		{Config{Workloads: []string{CatchupNoop}}, []string{"catchup_noop needs"}},
	} {
		err := tc.cfg.Validate()
		if err == nil {
			t.Errorf("%+v: no error", tc.cfg)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%+v: error %q lacks %q", tc.cfg, err, w)
			}
		}
	}
	if _, err := Run(context.Background(), openSQLite(t), Config{Writers: -1}); err == nil {
		t.Error("Run accepted an invalid config")
	}
}

// rec builds the recorded event of stream s at version v, position p.
func rec(s string, v, p uint64, id uuid.UUID) eventstore.RecordedEvent {
	return eventstore.RecordedEvent{Stream: s, Version: v, Position: p, ID: id}
}

func TestChecker(t *testing.T) {
	ids := func(n int) []uuid.UUID {
		out := make([]uuid.UUID, n)
		for i := range out {
			out[i] = uuid.New()
		}
		return out
	}
	a, b := ids(3), ids(2)
	x := Expectation{"x-a": a, "x-b": b}
	// The correct $all order: a0 b0 a1 b1 a2.
	good := []eventstore.RecordedEvent{
		rec("x-a", 0, 10, a[0]), rec("x-b", 0, 11, b[0]), rec("x-a", 1, 12, a[1]), rec("x-b", 1, 13, b[1]), rec("x-a", 2, 14, a[2]),
	}
	cp := func(evs ...eventstore.RecordedEvent) []eventstore.RecordedEvent { return evs }
	for _, tc := range []struct {
		name   string
		events []eventstore.RecordedEvent
		global bool
		want   Report
	}{
		{"ok", good, true, Report{Events: 5}},
		{"ok per stream", cp(good[1], good[3], good[0], good[2], good[4]), false, Report{Events: 5}},
		{"missing", cp(good[0], good[1], good[3], good[4]), true, Report{Events: 4, Missing: 1, OutOfOrder: 1}},
		{"missing last", good[:4], true, Report{Events: 4, Missing: 1}},
		{"nothing", nil, true, Report{Missing: 5}},
		{"delivered twice", cp(good[0], good[1], good[2], good[2], good[3], good[4]), true, Report{Events: 6, Duplicates: 1}},
		{"redelivered from the start", append(cp(good...), good...), true, Report{Events: 10, Duplicates: 5}},
		{"stored twice", append(cp(good...), rec("x-a", 3, 15, a[1])), true, Report{Events: 6, Duplicates: 1}},
		{"versions swapped", cp(good[0], good[1], good[4], good[3], good[2]), false, Report{Events: 5, OutOfOrder: 2}},
		{"positions out of order", cp(good[1], good[0], good[2], good[3], good[4]), true, Report{Events: 5, OutOfOrder: 1}},
		{"positions out of order, per stream reader", cp(good[1], good[0], good[2], good[3], good[4]), false, Report{Events: 5}},
		{"position repeated", cp(good[0], rec("x-b", 0, 10, b[0]), good[2], good[3], good[4]), true, Report{Events: 5, OutOfOrder: 1}},
		{"stream position goes back", cp(good[0], good[1], rec("x-a", 1, 9, a[1]), good[3], good[4]), false, Report{Events: 5, OutOfOrder: 1}},
		{"unknown stream", append(cp(good...), rec("y-a", 0, 20, uuid.New())), true, Report{Events: 6, Unexpected: 1}},
		{"foreign id", cp(good[0], good[1], rec("x-a", 1, 12, uuid.New()), good[3], good[4]), true, Report{Events: 5, Missing: 1, Unexpected: 1, OutOfOrder: 1}},
		{"extra version", append(cp(good...), rec("x-b", 2, 20, uuid.New())), true, Report{Events: 6, Unexpected: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewChecker(x, tc.global)
			for _, e := range tc.events {
				c.Observe(e)
			}
			got := c.Report()
			if got != tc.want {
				t.Errorf("report %+v, want %+v", got, tc.want)
			}
			if got.OK() != (tc.want == Report{Events: tc.want.Events}) {
				t.Errorf("OK() = %v for %+v", got.OK(), got)
			}
			if !got.OK() && got.String() == "" {
				t.Error("a failed report has no description")
			}
		})
	}
}

// faultyStore wraps a store to break it in one way.
type faultyStore struct {
	eventstore.Store
	// ignoreExpected appends with Any whatever the caller expects (no optimistic concurrency).
	ignoreExpected bool
	// dropRead drops the second event of every stream read; faultySub also repeats one.
	dropRead bool
}

func (f *faultyStore) Append(ctx context.Context, stream string, exp eventstore.ExpectedVersion, evs ...eventstore.EventData) (eventstore.AppendResult, error) {
	if f.ignoreExpected {
		exp = eventstore.Any
	}
	return f.Store.Append(ctx, stream, exp, evs...)
}

func (f *faultyStore) ReadStream(ctx context.Context, stream string, dir eventstore.Direction, from uint64, limit int) ([]eventstore.RecordedEvent, error) {
	evs, err := f.Store.ReadStream(ctx, stream, dir, from, limit)
	if f.dropRead && len(evs) > 2 {
		evs = append(evs[:1], evs[2:]...)
	}
	return evs, err
}

func (f *faultyStore) SubscribeAll(ctx context.Context, from uint64, filter eventstore.Filter) (eventstore.Subscription, error) {
	sub, err := f.Store.SubscribeAll(ctx, from, filter)
	if err != nil || !f.dropRead {
		return sub, err
	}
	return &faultySub{Subscription: sub}, nil
}

// faultySub loses the 3rd event and delivers the 5th twice.
type faultySub struct {
	eventstore.Subscription
	n    int
	prev *eventstore.RecordedEvent
	mu   sync.Mutex
}

func (s *faultySub) Next(ctx context.Context) (eventstore.RecordedEvent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.prev != nil {
		e := *s.prev
		s.prev = nil
		return e, nil
	}
	for {
		e, err := s.Subscription.Next(ctx)
		if err != nil {
			return e, err
		}
		s.n++
		switch s.n {
		case 3:
			continue
		case 5:
			s.prev = &e
		}
		return e, nil
	}
}

func TestFailuresAreReported(t *testing.T) {
	ctx := context.Background()
	cfg := tinyConfig()
	cfg.Streams = 20

	t.Run("lost and repeated reads", func(t *testing.T) {
		store := &faultyStore{Store: openSQLite(t), dropRead: true}
		rs, err := Run(ctx, store, cfg)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			switch r.Workload {
			case ReadStreams, CatchupNoop, HotStream:
				if r.OK || r.Missing == 0 || r.EventsPerS != 0 || r.P50Ms != 0 || r.Error == "" {
					t.Errorf("%s did not report the lost events: %+v", r.Workload, r)
				}
				if r.Workload == CatchupNoop && r.Duplicates != 1 {
					t.Errorf("catchup_noop: %d duplicates, want 1", r.Duplicates)
				}
				if r.Workload == HotStream && (r.CommitsPerS == nil || *r.CommitsPerS != 0) {
					t.Errorf("hot_stream failed but reports %v commits/s", r.CommitsPerS)
				}
			default:
				if !r.OK {
					t.Errorf("%s: %s", r.Workload, r.Error)
				}
			}
		}
		var table bytes.Buffer
		PrintTable(&table, rs)
		t.Logf("\n%s", table.String())
		if !strings.Contains(table.String(), "FAIL") || !strings.Contains(table.String(), "missing") {
			t.Errorf("table does not show the failure:\n%s", table.String())
		}
	})

	t.Run("no optimistic concurrency", func(t *testing.T) {
		store := &faultyStore{Store: openSQLite(t), ignoreExpected: true}
		cfg := cfg
		cfg.Workloads = []string{HotStream}
		rs, err := Run(ctx, store, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) != 1 || rs[0].OK || rs[0].EventsPerS != 0 || rs[0].Error == "" {
			t.Fatalf("hot_stream without optimistic concurrency passed: %+v", rs)
		}
		t.Log(rs[0].Error)
	})

	t.Run("store error", func(t *testing.T) {
		s := openSQLite(t)
		s.Close()
		rs, err := Run(ctx, &faultyStore{Store: s}, Config{Workloads: []string{AppendB1}})
		if err == nil && (len(rs) != 1 || rs[0].OK || !strings.Contains(rs[0].Error, "closed")) {
			t.Fatalf("append_b1 on a closed store: %+v", rs)
		}
	})
}

func TestCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cfg := tinyConfig()
	cfg.HotDuration = time.Minute
	cfg.Workloads = []string{AppendB1, HotStream, CatchupNoop}
	time.AfterFunc(500*time.Millisecond, cancel)
	start := time.Now()
	rs, err := Run(ctx, openSQLite(t), cfg)
	if err == nil || time.Since(start) > 20*time.Second {
		t.Fatalf("Run did not stop when canceled: %v after %s", err, time.Since(start))
	}
	if len(rs) == 0 || rs[len(rs)-1].OK {
		t.Errorf("results of a canceled run: %+v", rs)
	}
}

func TestCommas(t *testing.T) {
	for f, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 1234567.4: "1,234,567", 69000: "69,000", -1234: "-1,234"} {
		if got := commas(f); got != want {
			t.Errorf("commas(%v) = %q, want %q", f, got, want)
		}
	}
}

// TestMultiWithoutCapability: on a store without atomic multi-stream appends, multi_s4
// runs through the fallback and says so.
func TestMultiWithoutCapability(t *testing.T) {
	store := singleOnly{openSQLite(t)}
	cfg := tinyConfig()
	cfg.Workloads = []string{MultiS4, CatchupNoop}
	rs, err := Run(context.Background(), store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkResults(t, rs, cfg.Workloads)
	if rs[0].Atomic == nil || *rs[0].Atomic {
		t.Fatalf("multi_s4 on a store without the capability: atomic %v", rs[0].Atomic)
	}
	if rs[1].Events != rs[0].Events {
		t.Fatalf("catchup consumed %d events, multi_s4 wrote %d", rs[1].Events, rs[0].Events)
	}
}
