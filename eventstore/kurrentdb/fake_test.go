package kurrentdb_test

// Behaviour beyond the conformance suite, against the in-process model of a KurrentDB
// node (fakeserver_test.go).

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/eventstore/eventstoretest"
	"github.com/orderengine/orderengine/eventstore/kurrentdb"
)

func openFake(t *testing.T) (*fakeServer, *kurrentdb.Store, context.Context) {
	t.Helper()
	f, url := startFakeServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	s, err := kurrentdb.Open(ctx, url, kurrentdb.Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return f, s, ctx
}

func mustAppend(t *testing.T, ctx context.Context, s eventstore.Store, stream string, exp eventstore.ExpectedVersion, evs ...eventstore.EventData) eventstore.AppendResult {
	t.Helper()
	res, err := s.Append(ctx, stream, exp, evs...)
	if err != nil {
		t.Fatalf("append %s at %s: %v", stream, exp, err)
	}
	return res
}

// The server's own events ($stats, "$>" category links) sit between user events in $all;
// the adapter's global reads never return them.
func TestFakeSystemEventsAreSkipped(t *testing.T) {
	f, s, ctx := openFake(t)
	cat := eventstoretest.Category()
	var last eventstore.AppendResult
	for i := 0; i < 12; i++ {
		last = mustAppend(t, ctx, s, cat+"-"+string(rune('a'+i%3)), eventstore.Any, eventstoretest.NewEvent("sys.x", i))
	}
	f.writeSystemEvent()
	f.writeSystemEvent()

	head, err := s.Head(ctx)
	if err != nil || head != last.Position {
		t.Fatalf("Head = %d (%v), want the last user event %d", head, err, last.Position)
	}
	all, err := s.ReadAll(ctx, eventstore.Start, 1000, eventstore.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 12 {
		t.Fatalf("ReadAll returned %d events, want the 12 user events", len(all))
	}
	for _, e := range all {
		if strings.HasPrefix(e.Stream, "$") || strings.HasPrefix(e.Type, "$") {
			t.Fatalf("ReadAll returned system event %s %s", e.Stream, e.Type)
		}
	}
	// Whole-log audit: system events would have no chain hash.
	rep, err := eventstore.VerifyChains(ctx, s, "", nil)
	if err != nil || rep.Broken != nil || rep.Events != 12 || rep.Streams != 3 {
		t.Fatalf("VerifyChains of the whole log: %+v %v", rep, err)
	}

	// Unfiltered subscription: the server drops system event types; nothing else leaks.
	sub, err := s.SubscribeAll(ctx, eventstore.Start, eventstore.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	for i := 0; i < 12; i++ {
		e, err := sub.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if e.ID != all[i].ID || e.Position != all[i].Position {
			t.Fatalf("subscription event %d is %s@%d, ReadAll has %s@%d", i, e.ID, e.Position, all[i].ID, all[i].Position)
		}
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if e, err := sub.Next(short); err == nil {
		t.Fatalf("unexpected event %s %s", e.Stream, e.Type)
	}
}

// With only event types, the server filters by type prefix; the adapter keeps exact
// matches only.
func TestFakeTypeFilterIsExact(t *testing.T) {
	_, s, ctx := openFake(t)
	cat := eventstoretest.Category()
	mustAppend(t, ctx, s, cat+"-1", eventstore.NoStream,
		eventstoretest.NewEvent("order.paid.v2", 0), eventstoretest.NewEvent("order.paid", 1), eventstoretest.NewEvent("order.placed", 2))
	sub, err := s.SubscribeAll(ctx, eventstore.Start, eventstore.Filter{EventTypes: []string{"order.paid"}})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	e, err := sub.Next(ctx)
	if err != nil || e.Type != "order.paid" || e.Version != 1 {
		t.Fatalf("first event %s v%d (%v), want order.paid v1", e.Type, e.Version, err)
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if e, err := sub.Next(short); err == nil {
		t.Fatalf("type filter let through %s", e.Type)
	}
}

// Store.Close ends its subscriptions; every later call reports ErrClosed.
func TestFakeCloseEndsEverything(t *testing.T) {
	_, s, ctx := openFake(t)
	stream := eventstoretest.Category() + "-1"
	mustAppend(t, ctx, s, stream, eventstore.NoStream, eventstoretest.NewEvent("c.x", 0))
	sub, err := s.SubscribeAll(ctx, eventstore.Start, eventstore.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sub.Next(ctx); err != nil {
		t.Fatal(err)
	}
	blocked := make(chan error, 1)
	go func() {
		_, err := sub.Next(ctx)
		blocked <- err
	}()
	time.Sleep(50 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-blocked:
		if !errors.Is(err, eventstore.ErrClosed) {
			t.Fatalf("Next blocked across Close returned %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Next still blocked after Store.Close")
	}
	if _, err := sub.Next(ctx); !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("Next after Close: %v", err)
	}
	if _, err := s.Append(ctx, stream, eventstore.Any, eventstoretest.NewEvent("c.x", 1)); !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("Append after Close: %v", err)
	}
	if _, err := s.ReadStream(ctx, stream, eventstore.Forward, 0, 1); !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("ReadStream after Close: %v", err)
	}
	if _, err := s.ReadAll(ctx, 0, 1, eventstore.Filter{}); !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("ReadAll after Close: %v", err)
	}
	if _, err := s.Head(ctx); !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("Head after Close: %v", err)
	}
	if _, err := s.SubscribeAll(ctx, 0, eventstore.Filter{}); !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("SubscribeAll after Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// A subscription whose SubscribeAll context ends reports ErrClosed, like the polling
// subscriptions of the other adapters.
func TestFakeSubscriptionContextEnds(t *testing.T) {
	_, s, ctx := openFake(t)
	subCtx, cancel := context.WithCancel(ctx)
	sub, err := s.SubscribeAll(subCtx, eventstore.Start, eventstore.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	cancel()
	if _, err := sub.Next(ctx); !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("Next after the subscription's context ended: %v", err)
	}
	// A Next context that ends is not sticky.
	sub2, err := s.SubscribeAll(ctx, eventstore.Start, eventstore.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	defer sub2.Close()
	short, cancel2 := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel2()
	if _, err := sub2.Next(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next with an expiring context: %v", err)
	}
	stream := eventstoretest.Category() + "-1"
	mustAppend(t, ctx, s, stream, eventstore.NoStream, eventstoretest.NewEvent("c.x", 0))
	if e, err := sub2.Next(ctx); err != nil || e.Stream != stream {
		t.Fatalf("Next after an expired Next: %v %v", e.Stream, err)
	}
}

// A stream written by another client (no chain hash) cannot be appended to: its chain
// cannot be continued.
func TestFakeForeignStream(t *testing.T) {
	f, s, ctx := openFake(t)
	stream := eventstoretest.Category() + "-foreign"
	f.writeRaw(stream, "legacy.event", []byte(`{"a":1}`), []byte(`{"by":"someone else"}`))
	_, err := s.Append(ctx, stream, eventstore.Exact(0), eventstoretest.NewEvent("x.y", 0))
	if err == nil || errors.Is(err, eventstore.ErrWrongExpectedVersion) || !strings.Contains(err.Error(), "chain hash") {
		t.Fatalf("append to a foreign stream: %v", err)
	}
	// Reading it works.
	got, err := s.ReadStream(ctx, stream, eventstore.Backward, eventstore.End, 5)
	if err != nil || len(got) != 1 || got[0].Type != "legacy.event" {
		t.Fatalf("read foreign stream: %+v %v", got, err)
	}
}

// Any retries against concurrent writers and keeps the chain intact; NoStream against an
// existing stream reports the actual version without reading it first.
func TestFakeWrongExpectedVersionActual(t *testing.T) {
	_, s, ctx := openFake(t)
	stream := eventstoretest.Category() + "-1"
	mustAppend(t, ctx, s, stream, eventstore.NoStream, eventstoretest.NewEvent("w.x", 0), eventstoretest.NewEvent("w.x", 1), eventstoretest.NewEvent("w.x", 2))
	_, err := s.Append(ctx, stream, eventstore.NoStream, eventstoretest.NewEvent("w.x", 3))
	var wev *eventstore.WrongExpectedVersionError
	if !errors.As(err, &wev) || !wev.StreamExists || wev.Actual != 2 || !wev.Expected.IsNoStream() || wev.Stream != stream {
		t.Fatalf("NoStream on a stream at 2: %v", err)
	}
	_, err = s.Append(ctx, stream, eventstore.Exact(5), eventstoretest.NewEvent("w.x", 3))
	if !errors.As(err, &wev) || !wev.StreamExists || wev.Actual != 2 {
		t.Fatalf("Exact(5) on a stream at 2: %v", err)
	}
	_, err = s.Append(ctx, eventstoretest.Category()+"-none", eventstore.StreamExists, eventstoretest.NewEvent("w.x", 0))
	if !errors.As(err, &wev) || wev.StreamExists {
		t.Fatalf("StreamExists on an absent stream: %v", err)
	}
}
