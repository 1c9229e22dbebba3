package kurrentdb

// Pure logic of the adapter, tested without any server.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/orderengine/orderengine/eventstore"
)

func TestNormalizeConnString(t *testing.T) {
	cases := []struct{ in, want string }{
		{"kurrentdb://localhost:2113?tls=false", "esdb://localhost:2113?tls=false"},
		{"KurrentDB://admin:changeit@localhost:2113", "esdb://admin:changeit@localhost:2113"},
		{"kurrentdb+discover://cluster.example.com:2113", "esdb+discover://cluster.example.com:2113"},
		{"kurrent://h:1", "esdb://h:1"},
		{"kdb+discover://h:1", "esdb+discover://h:1"},
		{"esdb://h1:2113,h2:2113,h3:2113?tls=false", "esdb://h1:2113,h2:2113,h3:2113?tls=false"},
		{"esdb+discover://h:2113", "esdb+discover://h:2113"},
		{"  kurrentdb://h:2113  ", "esdb://h:2113"},
	}
	for _, c := range cases {
		got, err := normalizeConnString(c.in)
		if err != nil || got != c.want {
			t.Errorf("normalizeConnString(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "localhost:2113", "://h", "postgres://h/db", "http://h:2113", "sqlite:"} {
		if got, err := normalizeConnString(bad); err == nil {
			t.Errorf("normalizeConnString(%q) = %q, want an error", bad, got)
		}
	}
}

// The rewritten strings are ones the v4 client parses, settings included.
func TestConnStringParsesInClient(t *testing.T) {
	cs, err := normalizeConnString("kurrentdb://admin:changeit@localhost:2113?tls=false&defaultDeadline=5000")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := esdb.ParseConnectionString(cs)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Address != "localhost:2113" || !cfg.DisableTLS || cfg.Username != "admin" || cfg.Password != "changeit" {
		t.Fatalf("parsed %+v", cfg)
	}
	cs, _ = normalizeConnString("kurrentdb+discover://cluster.local:2113")
	if cfg, err = esdb.ParseConnectionString(cs); err != nil || !cfg.DnsDiscover {
		t.Fatalf("discover: %+v %v", cfg, err)
	}
	cs, _ = normalizeConnString("kurrentdb://h1:2113,h2:2114?tls=false")
	if cfg, err = esdb.ParseConnectionString(cs); err != nil || len(cfg.GossipSeeds) != 2 {
		t.Fatalf("gossip seeds: %+v %v", cfg, err)
	}
}

func TestExpectedRevision(t *testing.T) {
	cases := []struct {
		in   eventstore.ExpectedVersion
		want esdb.ExpectedRevision
	}{
		{eventstore.Any, esdb.Any{}},
		{eventstore.NoStream, esdb.NoStream{}},
		{eventstore.StreamExists, esdb.StreamExists{}},
		{eventstore.Exact(0), esdb.Revision(0)},
		{eventstore.Exact(41), esdb.Revision(41)},
	}
	for _, c := range cases {
		if got := expectedRevision(c.in); got != c.want {
			t.Errorf("expectedRevision(%s) = %#v, want %#v", c.in, got, c.want)
		}
	}
}

func TestPositionEncoding(t *testing.T) {
	if got := positionOf(esdb.Position{Commit: 4096, Prepare: 4096}); got != 4096 {
		t.Fatalf("positionOf = %d", got)
	}
	// Servers older than 22.6 send "no position" (-1) on stream reads.
	if got := positionOf(esdb.Position{Commit: math.MaxUint64, Prepare: math.MaxUint64}); got != 0 {
		t.Fatalf("positionOf(no position) = %d, want 0", got)
	}
	if got := allPosition(eventstore.Start); got != (esdb.Start{}) {
		t.Fatalf("allPosition(Start) = %#v", got)
	}
	for _, p := range []uint64{1, 4096, 1 << 40} {
		ap := allPosition(p)
		pos, ok := ap.(esdb.Position)
		if !ok || pos.Commit != p || pos.Prepare != p || positionOf(pos) != p {
			t.Fatalf("allPosition(%d) = %#v", p, ap)
		}
	}
}

// esdbError builds the client's error type with a given code, as the client does
// internally (its fields are unexported).
func esdbError(code esdb.ErrorCode, inner error) *esdb.Error {
	e := &esdb.Error{}
	v := reflect.ValueOf(e).Elem()
	set := func(name string, val reflect.Value) {
		f := v.FieldByName(name)
		reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().Set(val)
	}
	set("code", reflect.ValueOf(code))
	set("err", reflect.ValueOf(&inner).Elem())
	return e
}

func TestEsdbErrorHelper(t *testing.T) {
	e := esdbError(esdb.ErrorCodeResourceNotFound, errors.New("stream 'x' is not found"))
	if e.Code() != esdb.ErrorCodeResourceNotFound || !strings.Contains(e.Error(), "not found") {
		t.Fatalf("helper built %v (code %d)", e, e.Code())
	}
}

func TestActualFromError(t *testing.T) {
	cases := []struct {
		err    error
		v      uint64
		exists bool
		ok     bool
	}{
		// The client's rendering of the append response.
		{esdbError(esdb.ErrorCodeWrongExpectedVersion, errors.New("wrong expected version: expecting '0' but got '1'")), 1, true, true},
		{esdbError(esdb.ErrorCodeWrongExpectedVersion, errors.New("wrong expected version: expecting 'no_stream' but got '41'")), 41, true, true},
		{esdbError(esdb.ErrorCodeWrongExpectedVersion, errors.New("wrong expected version: expecting 'stream_exists' but got 'no_stream'")), 0, false, true},
		{fmt.Errorf("wrapped: %w", esdbError(esdb.ErrorCodeWrongExpectedVersion, errors.New("wrong expected version: expecting 'any' but got '7'"))), 7, true, true},
		// The server's RPC exception.
		{errors.New("rpc error: code = FailedPrecondition desc = Append failed due to WrongExpectedVersion. Stream: a-1, Expected version: 3, Actual version: 5"), 5, true, true},
		{errors.New("Append failed due to WrongExpectedVersion. Stream: a-1, Expected version: -1, Actual version: -1"), 0, false, true},
		{errors.New("Append failed due to WrongExpectedVersion. Stream: a-1, Expected version: 3, Actual version: "), 0, false, false},
		// Nothing to go by.
		{esdbError(esdb.ErrorCodeWrongExpectedVersion, nil), 0, false, false},
		{errors.New("connection reset"), 0, false, false},
		{nil, 0, false, false},
	}
	for i, c := range cases {
		v, exists, ok := actualFromError(c.err)
		if v != c.v || exists != c.exists || ok != c.ok {
			t.Errorf("case %d (%v): got %d,%v,%v want %d,%v,%v", i, c.err, v, exists, ok, c.v, c.exists, c.ok)
		}
	}
}

func TestIsWrongExpectedVersion(t *testing.T) {
	yes := []error{
		esdbError(esdb.ErrorCodeWrongExpectedVersion, nil),
		fmt.Errorf("x: %w", esdbError(esdb.ErrorCodeWrongExpectedVersion, errors.New("wrong expected version"))),
		errors.New("Append failed due to WrongExpectedVersion. Stream: a-1"),
	}
	no := []error{
		nil,
		esdbError(esdb.ErrorCodeResourceNotFound, nil),
		esdbError(esdb.ErrorUnavailable, errors.New("unavailable")),
		errors.New("boom"),
	}
	for _, e := range yes {
		if !isWrongExpectedVersion(e) {
			t.Errorf("isWrongExpectedVersion(%v) = false", e)
		}
	}
	for _, e := range no {
		if isWrongExpectedVersion(e) {
			t.Errorf("isWrongExpectedVersion(%v) = true", e)
		}
	}
}

func TestTranslate(t *testing.T) {
	ctx := context.Background()
	notFound := esdbError(esdb.ErrorCodeResourceNotFound, errors.New("stream 'a-1' is not found"))
	deleted := esdbError(esdb.ErrorCodeStreamDeleted, errors.New("stream 'a-1' is deleted"))
	closed := esdbError(esdb.ErrorCodeConnectionClosed, errors.New("connection is closed"))
	unavailable := esdbError(esdb.ErrorUnavailable, errors.New("rpc error: code = Unavailable"))
	tooBig := esdbError(esdb.ErrorCodeUnknown, errors.New("rpc error: code = InvalidArgument desc = Maximum Append Size of 1048576 Exceeded."))
	eventTooBig := esdbError(esdb.ErrorCodeUnknown, errors.New("rpc error: code = InvalidArgument desc = Event with Id: x, Size: 2000000, exceeds Maximum Append Event Size of 1048576."))

	cases := []struct {
		name    string
		err     error
		forRead bool
		is      error // the port error it must match, nil for none
	}{
		{"not found on read", notFound, true, eventstore.ErrStreamNotFound},
		{"deleted on read", deleted, true, eventstore.ErrStreamNotFound},
		{"deleted on write", deleted, false, nil},
		{"closed", closed, false, eventstore.ErrClosed},
		{"closed on read", closed, true, eventstore.ErrClosed},
		{"append too large", tooBig, false, eventstore.ErrInvalidEvent},
		{"event too large", eventTooBig, false, eventstore.ErrInvalidEvent},
		{"unavailable", unavailable, true, nil},
	}
	ports := []error{eventstore.ErrStreamNotFound, eventstore.ErrClosed, eventstore.ErrInvalidEvent, eventstore.ErrWrongExpectedVersion}
	for _, c := range cases {
		got := translate(ctx, "op", c.err, c.forRead)
		for _, p := range ports {
			if errors.Is(got, p) != (p == c.is) {
				t.Errorf("%s: translate = %v; errors.Is(%v) = %v", c.name, got, p, errors.Is(got, p))
			}
		}
		// The client error stays in the chain for callers that want the details.
		var e *esdb.Error
		if !errors.As(got, &e) || e != c.err {
			t.Errorf("%s: the client error is not in the chain of %v", c.name, got)
		}
	}
	if translate(ctx, "op", nil, true) != nil {
		t.Fatal("translate(nil) is not nil")
	}
	// Port errors pass through unchanged.
	wev := wrongVersion("a-1", eventstore.Exact(1), true, 3)
	if translate(ctx, "op", wev, false) != wev {
		t.Fatal("a port error was rewrapped")
	}
	// A cancelled context is reported as such, whatever the client made of it.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	got := translate(cctx, "op", esdbError(esdb.ErrorCodeUnknown, errors.New("rpc error: code = Canceled")), true)
	if !errors.Is(got, context.Canceled) {
		t.Fatalf("cancelled: %v", got)
	}
}

func TestWrongVersion(t *testing.T) {
	err := wrongVersion("order-1", eventstore.Exact(2), true, 4)
	var wev *eventstore.WrongExpectedVersionError
	if !errors.Is(err, eventstore.ErrWrongExpectedVersion) || !errors.As(err, &wev) {
		t.Fatalf("%v is not a WrongExpectedVersionError", err)
	}
	if wev.Stream != "order-1" || wev.Actual != 4 || !wev.StreamExists {
		t.Fatalf("%+v", wev)
	}
	_ = errors.As(wrongVersion("order-1", eventstore.StreamExists, false, 9), &wev)
	if wev.StreamExists || wev.Actual != 0 {
		t.Fatalf("absent stream: %+v", wev)
	}
}

// conflict takes the actual version from the server's answer without a read (the Store
// has no client here: a read would panic).
func TestConflictUsesServerAnswer(t *testing.T) {
	s := &Store{}
	cause := esdbError(esdb.ErrorCodeWrongExpectedVersion, errors.New("wrong expected version: expecting '0' but got '3'"))
	err := s.conflict(context.Background(), "order-1", eventstore.Exact(0), cause)
	var wev *eventstore.WrongExpectedVersionError
	if !errors.As(err, &wev) || wev.Actual != 3 || !wev.StreamExists || wev.Stream != "order-1" {
		t.Fatalf("conflict = %v", err)
	}
}

func TestIsSystem(t *testing.T) {
	for _, c := range []struct {
		stream, typ string
		want        bool
	}{
		{"order-1", "order.placed", false},
		{"$stats-127.0.0.1:2113", "$statsCollected", true},
		{"$$order-1", "$metadata", true},
		{"$ce-order", "$>", true},
		{"order-1", "$>", true},
		{"$et-order.placed", "order.placed", true},
	} {
		if got := isSystem(c.stream, c.typ); got != c.want {
			t.Errorf("isSystem(%q, %q) = %v", c.stream, c.typ, got)
		}
	}
}

func TestServerFilter(t *testing.T) {
	f := serverFilter(eventstore.Filter{StreamPrefix: "order-", EventTypes: []string{"order.paid"}})
	if f.Type != esdb.StreamFilterType || len(f.Prefixes) != 1 || f.Prefixes[0] != "order-" || f.Regex != "" {
		t.Fatalf("prefix and types: %+v", f)
	}
	f = serverFilter(eventstore.Filter{EventTypes: []string{"order.paid", "order.placed"}})
	if f.Type != esdb.EventFilterType || fmt.Sprint(f.Prefixes) != "[order.paid order.placed]" {
		t.Fatalf("types: %+v", f)
	}
	f = serverFilter(eventstore.Filter{})
	if f.Type != esdb.EventFilterType || f.Regex == "" || len(f.Prefixes) != 0 {
		t.Fatalf("no filter: %+v", f)
	}
}

func rec(stream, typ string, version, pos uint64) *esdb.RecordedEvent {
	return &esdb.RecordedEvent{
		EventID: uuid.New(), StreamID: stream, EventType: typ, EventNumber: version,
		Position: esdb.Position{Commit: pos, Prepare: pos}, CreatedDate: time.Now(),
		Data: []byte(`{}`), UserMetadata: []byte(`{}`),
	}
}

// fakeAll is a $all of n events at positions 100, 200, …; every third is a system event.
func fakeAll(n int) []*esdb.RecordedEvent {
	var log []*esdb.RecordedEvent
	for i := 1; i <= n; i++ {
		if i%3 == 0 {
			log = append(log, rec("$stats-node", "$statsCollected", uint64(i), uint64(i*100)))
		} else {
			log = append(log, rec(fmt.Sprintf("order-%d", i%2), "order.x", uint64(i), uint64(i*100)))
		}
	}
	return log
}

// forwardReader serves forward pages of log, including the start position (as the
// server does); reads counts how many requests were made.
func forwardReader(log []*esdb.RecordedEvent, reads *int) pageReader {
	return func(from esdb.AllPosition, count int) ([]*esdb.RecordedEvent, error) {
		*reads++
		var start uint64
		if p, ok := from.(esdb.Position); ok {
			start = p.Commit
		}
		var out []*esdb.RecordedEvent
		for _, e := range log {
			if e.Position.Commit >= start && len(out) < count {
				out = append(out, e)
			}
		}
		return out, nil
	}
}

func TestScanAll(t *testing.T) {
	log := fakeAll(3000)
	var reads int
	all, err := scanAll(eventstore.Start, 1_000_000, eventstore.Filter{}, forwardReader(log, &reads))
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2000 {
		t.Fatalf("scanAll returned %d events, want the 2000 user events", len(all))
	}
	for i, e := range all {
		if isSystem(e.Stream, e.Type) || (i > 0 && e.Position <= all[i-1].Position) {
			t.Fatalf("event %d: %s %s at %d", i, e.Stream, e.Type, e.Position)
		}
	}
	if reads < 3 {
		t.Fatalf("expected paging, got %d reads", reads)
	}

	// Exclusive start, limit, filter.
	page, err := scanAll(all[9].Position, 5, eventstore.Filter{StreamPrefix: "order-1"}, forwardReader(log, &reads))
	if err != nil || len(page) != 5 {
		t.Fatalf("page: %d events, %v", len(page), err)
	}
	if page[0].Position <= all[9].Position {
		t.Fatalf("start not exclusive: first %d after %d", page[0].Position, all[9].Position)
	}
	for _, e := range page {
		if e.Stream != "order-1" {
			t.Fatalf("filter let through %s", e.Stream)
		}
	}
	// Nothing after the end; a zero limit reads nothing.
	if rest, err := scanAll(log[len(log)-1].Position.Commit, 10, eventstore.Filter{}, forwardReader(log, &reads)); err != nil || len(rest) != 0 {
		t.Fatalf("after the end: %d, %v", len(rest), err)
	}
	reads = 0
	if none, err := scanAll(0, 0, eventstore.Filter{}, forwardReader(log, &reads)); err != nil || len(none) != 0 || reads != 0 {
		t.Fatalf("limit 0: %d events, %d reads, %v", len(none), reads, err)
	}
	// Errors pass through.
	boom := errors.New("boom")
	if _, err := scanAll(0, 10, eventstore.Filter{}, func(esdb.AllPosition, int) ([]*esdb.RecordedEvent, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("error: %v", err)
	}
}

func TestScanHead(t *testing.T) {
	backward := func(log []*esdb.RecordedEvent, inclusive bool) pageReader {
		return func(from esdb.AllPosition, count int) ([]*esdb.RecordedEvent, error) {
			end := uint64(math.MaxUint64)
			if p, ok := from.(esdb.Position); ok {
				end = p.Commit
			}
			var out []*esdb.RecordedEvent
			for i := len(log) - 1; i >= 0 && len(out) < count; i-- {
				if p := log[i].Position.Commit; p < end || (inclusive && p == end) {
					out = append(out, log[i])
				}
			}
			return out, nil
		}
	}
	log := fakeAll(10) // last user event at 1000 (10 % 3 != 0)
	for _, inclusive := range []bool{false, true} {
		if h, err := scanHead(backward(log, inclusive)); err != nil || h != 1000 {
			t.Fatalf("head = %d, %v", h, err)
		}
		// Many system events at the end: Head pages back past them.
		long := append([]*esdb.RecordedEvent{}, log...)
		for i := 0; i < 3*headPage; i++ {
			long = append(long, rec("$stats-node", "$statsCollected", uint64(i), uint64(2000+i)))
		}
		if h, err := scanHead(backward(long, inclusive)); err != nil || h != 1000 {
			t.Fatalf("head behind system events (inclusive=%v) = %d, %v", inclusive, h, err)
		}
		// Only system events, or nothing at all.
		if h, err := scanHead(backward(long[len(log):], inclusive)); err != nil || h != 0 {
			t.Fatalf("only system events: %d, %v", h, err)
		}
		if h, err := scanHead(backward(nil, inclusive)); err != nil || h != 0 {
			t.Fatalf("empty: %d, %v", h, err)
		}
	}
}

func TestBackwardRestart(t *testing.T) {
	evs := func(versions ...uint64) []eventstore.RecordedEvent {
		out := make([]eventstore.RecordedEvent, len(versions))
		for i, v := range versions {
			out[i].Version = v
		}
		return out
	}
	cases := []struct {
		name        string
		got         []eventstore.RecordedEvent
		from, count uint64
		again       esdb.StreamPosition
	}{
		{"in range", evs(9, 8, 7), 9, 3, nil},
		{"reaches version 0", evs(2, 1, 0), 2, 10, nil},
		{"start far past the end", evs(), 50, 2, esdb.End{}},
		{"start just past the end", evs(9, 8), 10, 3, esdb.Revision(9)},
		{"past the end, stream shorter than count", evs(1, 0), 5, 10, nil},
		{"past the end, enough events", evs(9, 8), 12, 2, nil},
	}
	for _, c := range cases {
		again, ok := backwardRestart(c.got, c.from, c.count)
		if ok != (c.again != nil) || again != c.again {
			t.Errorf("%s: backwardRestart = %#v, %v; want %#v", c.name, again, ok, c.again)
		}
	}
}

func TestSelector(t *testing.T) {
	sel := &selector{filter: eventstore.Filter{StreamPrefix: "order-"}, last: 200}
	steps := []struct {
		ev   *esdb.RecordedEvent
		want bool
	}{
		{rec("order-1", "a", 0, 200), false},       // the start position is exclusive
		{rec("order-1", "a", 1, 300), true},        // after it
		{rec("$ce-order", "$>", 0, 400), false},    // system
		{rec("cart-1", "a", 0, 500), false},        // filtered out
		{rec("order-1", "a", 1, 300), false},       // redelivered: never twice
		{rec("order-2", "order.x", 0, 600), true},  // next
		{rec("order-2", "order.x", 1, 550), false}, // out of order
		{rec("order-$weird", "$metadata", 0, 700), false},
	}
	for i, s := range steps {
		if got := sel.accept(s.ev); got != s.want {
			t.Errorf("step %d (%s %s @%d): accept = %v", i, s.ev.StreamID, s.ev.EventType, s.ev.Position.Commit, got)
		}
	}
}

func TestSameIDs(t *testing.T) {
	a, b := uuid.New(), uuid.New()
	stored := []eventstore.RecordedEvent{{ID: a}, {ID: b}}
	if !sameIDs(stored, []eventstore.EventData{{ID: a}, {ID: b}}) {
		t.Fatal("same IDs not recognised")
	}
	if sameIDs(stored, []eventstore.EventData{{ID: b}, {ID: a}}) || sameIDs(stored[:1], []eventstore.EventData{{ID: a}, {ID: b}}) {
		t.Fatal("different IDs accepted")
	}
}

func TestToRecorded(t *testing.T) {
	created := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	id := uuid.New()
	got := toRecorded(&esdb.RecordedEvent{
		EventID: id, EventType: "order.placed", ContentType: "application/json", StreamID: "order-1",
		EventNumber: 7, Position: esdb.Position{Commit: 9000, Prepare: 9000}, CreatedDate: created,
		Data: []byte(`{"a":1}`), UserMetadata: []byte(`{"chainHash":"x"}`), SystemMetadata: map[string]string{"type": "order.placed"},
	})
	want := eventstore.RecordedEvent{ID: id, Stream: "order-1", Type: "order.placed", Version: 7, Position: 9000,
		Data: []byte(`{"a":1}`), Metadata: []byte(`{"chainHash":"x"}`), RecordedAt: created}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("toRecorded = %+v\nwant %+v", got, want)
	}
}

// Invalid input is rejected before anything is sent: this Store has no client.
func TestAppendValidatesFirst(t *testing.T) {
	s := &Store{}
	_, err := s.Append(context.Background(), "order-1", eventstore.Any, eventstore.EventData{ID: uuid.New(), Type: "x", Data: []byte(`{`)})
	if !errors.Is(err, eventstore.ErrInvalidEvent) {
		t.Fatalf("invalid data: %v", err)
	}
	_, err = s.Append(context.Background(), "$all", eventstore.Any, eventstore.EventData{ID: uuid.New(), Type: "x", Data: []byte(`{}`)})
	if !errors.Is(err, eventstore.ErrInvalidEvent) {
		t.Fatalf("system stream: %v", err)
	}
}

func TestClosedStore(t *testing.T) {
	s := &Store{closed: true}
	ctx := context.Background()
	ev := eventstore.EventData{ID: uuid.New(), Type: "x", Data: []byte(`{}`)}
	if _, err := s.Append(ctx, "order-1", eventstore.Any, ev); !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("Append: %v", err)
	}
	if _, err := s.ReadStream(ctx, "order-1", eventstore.Forward, 0, 1); !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("ReadStream: %v", err)
	}
	if _, err := s.ReadAll(ctx, 0, 1, eventstore.Filter{}); !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("ReadAll: %v", err)
	}
	if _, err := s.Head(ctx); !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("Head: %v", err)
	}
	if _, err := s.SubscribeAll(ctx, 0, eventstore.Filter{}); !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("SubscribeAll: %v", err)
	}
}

func TestBackoff(t *testing.T) {
	ctx := context.Background()
	for attempt := 1; attempt <= 60; attempt++ {
		start := time.Now()
		if err := backoff(ctx, attempt); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > 500*time.Millisecond {
			t.Fatalf("attempt %d slept %v", attempt, d)
		}
		if attempt > 8 {
			break
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := backoff(cctx, 7); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled backoff: %v", err)
	}
}

func TestSizeOnDisk(t *testing.T) {
	cases := []struct {
		typ        string
		data, meta int
		want       int
	}{
		{"order.placed", 10, 5, 15 + 2*12},
		{"ö", 0, 0, 2},          // one UTF-16 unit, however many UTF-8 bytes
		{"\U0001D11E", 0, 0, 4}, // a surrogate pair
		{"a\U0001D11Eb", 1, 1, 2 + 2*4},
	}
	for _, c := range cases {
		if got := sizeOnDisk(c.typ, make([]byte, c.data), make([]byte, c.meta)); got != c.want {
			t.Errorf("sizeOnDisk(%q, %d, %d) = %d, want %d", c.typ, c.data, c.meta, got, c.want)
		}
	}
}

func TestSplitParams(t *testing.T) {
	cs, own, err := splitParams("esdb://h:2113?tls=false&maxAppendSize=4194304&nodePreference=leader&MaxAppendEventSize=100")
	if err != nil || cs != "esdb://h:2113?tls=false&nodePreference=leader" || own["maxappendsize"] != "4194304" || own["maxappendeventsize"] != "100" {
		t.Fatalf("splitParams = %q %v %v", cs, own, err)
	}
	if cs, own, err := splitParams("esdb://h:2113?maxAppendSize=1"); err != nil || cs != "esdb://h:2113" || own["maxappendsize"] != "1" {
		t.Fatalf("only ours: %q %v %v", cs, own, err)
	}
	if cs, own, err := splitParams("esdb://h:2113"); err != nil || cs != "esdb://h:2113" || len(own) != 0 {
		t.Fatalf("no query: %q %v %v", cs, own, err)
	}
	for _, bad := range []string{"0", "-1", "x", "4294967296"} {
		if _, err := sizeParam("maxAppendSize", bad); err == nil {
			t.Errorf("sizeParam(%q) accepted", bad)
		}
	}
	// Bad values fail Open before any connection is made.
	if _, err := Open(context.Background(), "kurrentdb://127.0.0.1:1?tls=false&maxAppendSize=lots", Options{}); err == nil || !strings.Contains(err.Error(), "maxAppendSize") {
		t.Fatalf("Open with a bad maxAppendSize: %v", err)
	}
}

func TestErrorClasses(t *testing.T) {
	notLeader := esdbError(esdb.ErrorCodeNotLeader, nil)
	noLeaderInfo := esdbError(esdb.ErrorCodeUnknown, status.Error(codes.Unknown, "No leader info available in response"))
	rawNotLeader := status.Error(codes.NotFound, "Leader info available")
	notReady := esdbError(esdb.ErrorUnavailable, status.Error(codes.Unavailable, "Server Is Not Ready"))
	timeout := esdbError(esdb.ErrorAborted, status.Error(codes.Aborted, "Operation timed out: Commit phase timeout."))
	deadline := esdbError(esdb.ErrorCodeDeadlineExceeded, status.Error(codes.DeadlineExceeded, "deadline"))
	eof := fmt.Errorf("could not send append request. Reason: %w", esdbError(esdb.ErrorCodeUnknown, io.EOF))
	denied := status.Error(codes.PermissionDenied, "Access Denied")
	notFound := esdbError(esdb.ErrorCodeResourceNotFound, errors.New("stream 'x' is not found"))
	for _, c := range []struct {
		err                                   error
		notLeader, transient, unknown, resume bool
	}{
		{notLeader, true, true, false, true},
		{noLeaderInfo, true, true, false, true},
		{rawNotLeader, true, true, false, true},
		{notReady, false, true, true, true},
		{timeout, false, false, true, true},
		{deadline, false, false, true, true},
		{eof, false, false, false, true},
		{denied, false, false, false, false},
		{notFound, false, false, false, false},
	} {
		if got := isNotLeader(c.err); got != c.notLeader {
			t.Errorf("isNotLeader(%v) = %v", c.err, got)
		}
		if got := isTransient(c.err); got != c.transient {
			t.Errorf("isTransient(%v) = %v", c.err, got)
		}
		if got := isUnknownOutcome(c.err); got != c.unknown {
			t.Errorf("isUnknownOutcome(%v) = %v", c.err, got)
		}
		if got := resumable(c.err); got != c.resume {
			t.Errorf("resumable(%v) = %v", c.err, got)
		}
	}
	if !isEarlyEnd(eof) || isEarlyEnd(timeout) {
		t.Error("isEarlyEnd")
	}
}

func TestLeaderOnlyOnce(t *testing.T) {
	ctx := leaderOnly(leaderOnly(context.Background()))
	md, _ := metadata.FromOutgoingContext(ctx)
	if v := md.Get("requires-leader"); len(v) != 1 || v[0] != "true" {
		t.Fatalf("requires-leader = %v", v)
	}
}

func TestFindAppended(t *testing.T) {
	ids := make([]uuid.UUID, 6)
	for i := range ids {
		ids[i] = uuid.New()
	}
	// Versions 5 … 0, newest first.
	var recent []eventstore.RecordedEvent
	for v := 5; v >= 0; v-- {
		recent = append(recent, eventstore.RecordedEvent{ID: ids[v], Version: uint64(v), Position: uint64(100 * (v + 1))})
	}
	ev := func(is ...int) []eventstore.EventData {
		out := make([]eventstore.EventData, len(is))
		for i, j := range is {
			out[i] = eventstore.EventData{ID: ids[j]}
		}
		return out
	}
	res, ok, err := findAppended("s-1", recent, ev(1, 2))
	if err != nil || !ok || res.Version != 2 || res.Position != 300 {
		t.Fatalf("1,2: %+v %v %v", res, ok, err)
	}
	if res, ok, err := findAppended("s-1", recent, ev(5)); err != nil || !ok || res.Version != 5 {
		t.Fatalf("tail: %+v %v %v", res, ok, err)
	}
	if _, ok, err := findAppended("s-1", recent, []eventstore.EventData{{ID: uuid.New()}}); err != nil || ok {
		t.Fatalf("new: %v %v", ok, err)
	}
	for _, bad := range [][]eventstore.EventData{ev(2, 1), ev(1, 3), ev(5, 0), append(ev(5), eventstore.EventData{ID: uuid.New()}), append([]eventstore.EventData{{ID: uuid.New()}}, ev(3)...)} {
		if _, _, err := findAppended("s-1", recent, bad); !errors.Is(err, eventstore.ErrInvalidEvent) {
			t.Errorf("partial retry %v: %v", bad, err)
		}
	}
	if _, ok, err := findAppended("s-1", nil, ev(1)); ok || err != nil {
		t.Fatal("empty stream")
	}
}
