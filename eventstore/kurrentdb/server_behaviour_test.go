package kurrentdb_test

// The real server's behaviours that the adapter must handle (docs/adapters.md lists each
// with its source in the KurrentDB code): each is reproduced by the fake
// (fakeserver_test.go), shown with the bare client where that matters, and the adapter is
// tested against it.

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/eventstore/eventstoretest"
	"github.com/orderengine/orderengine/eventstore/kurrentdb"
)

// rawClient is the bare client library on url, as the adapter uses it but without it.
func rawClient(t *testing.T, url string) *esdb.Client {
	t.Helper()
	cfg, err := esdb.ParseConnectionString(strings.Replace(url, "kurrentdb://", "esdb://", 1))
	if err != nil {
		t.Fatal(err)
	}
	c, err := esdb.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func openURL(t *testing.T, url string, opt kurrentdb.Options) *kurrentdb.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	opt.Logger = testLogger(t)
	s, err := kurrentdb.Open(ctx, url, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func readIDs(t *testing.T, ctx context.Context, s eventstore.Store, stream string) []uuid.UUID {
	t.Helper()
	evs, err := s.ReadStream(ctx, stream, eventstore.Forward, 0, 1000)
	if err != nil {
		t.Fatalf("read %s: %v", stream, err)
	}
	ids := make([]uuid.UUID, len(evs))
	for i, e := range evs {
		ids[i] = e.ID
	}
	return ids
}

func sameIDs(got []uuid.UUID, want ...eventstore.EventData) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i].ID {
			return false
		}
	}
	return true
}

// sized is an event whose stored size, as the server counts it, is exactly n bytes.
func sized(t *testing.T, typ string, n int) eventstore.EventData {
	t.Helper()
	e := eventstore.EventData{ID: uuid.New(), Type: typ, Data: []byte(`{"p":""}`), Metadata: []byte(`{}`)}
	p := eventstore.Chain([32]byte{}, []eventstore.EventData{e})[0]
	typeSize := 0
	for _, r := range typ {
		typeSize += 2
		if r >= 0x10000 {
			typeSize += 2
		}
	}
	pad := n - (len(p.Data) + len(p.Metadata) + typeSize)
	if pad < 0 {
		t.Fatalf("cannot size an event to %d bytes", n)
	}
	e.Data = []byte(`{"p":"` + strings.Repeat("x", pad) + `"}`)
	return e
}

// The server refuses an append over MaxAppendSize while it reads the request stream and
// ends the call early: the bare client then reports the EOF of its send, not the server's
// "Maximum Append Size" status, and nothing is written.
func TestFakeRejectsOversizedAppendMidStream(t *testing.T) {
	f, url := startFakeServer(t)
	c := rawClient(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	before := f.stored()
	var evs []esdb.EventData
	for i := 0; i < 64; i++ { // 8 MiB in 128 KiB events
		evs = append(evs, esdb.EventData{EventID: uuid.New(), EventType: "big", ContentType: esdb.ContentTypeJson,
			Data: []byte(`{"p":"` + strings.Repeat("x", 128<<10) + `"}`)})
	}
	_, err := c.AppendToStream(ctx, "big-1", esdb.AppendToStreamOptions{}, evs...)
	if err == nil {
		t.Fatal("an 8 MiB append was accepted")
	}
	if f.stored() != before {
		t.Fatal("the refused append wrote events")
	}
	t.Logf("bare client error: %v", err)
	if !strings.Contains(err.Error(), "EOF") && !strings.Contains(err.Error(), "Maximum Append Size") {
		t.Fatalf("unexpected error: %v", err)
	}
}

// The adapter counts an append as the server does (data + stored metadata with the chain
// hash + 2 × the type's UTF-16 length) and refuses one over the limit with
// ErrInvalidEvent before sending it; the limit follows maxAppendSize in the connection
// string. On the old adapter the append went out and failed with a retryable-looking EOF.
func TestAppendOverMaxAppendSizeIsInvalid(t *testing.T) {
	f, url := startFakeServer(t)
	const limit = 8192
	f.setMaxAppendSize(limit)
	s := openURL(t, url+"&maxAppendSize=8192", kurrentdb.Options{})
	ctx := context.Background()
	cat := eventstoretest.Category()

	// Exactly at the limit, with a type outside the Basic Multilingual Plane: accepted.
	typ := "size.\U0001D11E"
	fit := []eventstore.EventData{sized(t, typ, 3000), sized(t, typ, limit-3000)}
	if _, err := s.Append(ctx, cat+"-fit", eventstore.NoStream, fit...); err != nil {
		t.Fatalf("append of exactly %d bytes: %v", limit, err)
	}
	// One byte more: refused before it is sent, whatever the expected version.
	over := []eventstore.EventData{sized(t, typ, 3000), sized(t, typ, limit-3000+1)}
	req, _ := f.counts()
	for _, exp := range []eventstore.ExpectedVersion{eventstore.NoStream, eventstore.Any, eventstore.Exact(1), eventstore.StreamExists} {
		_, err := s.Append(ctx, cat+"-fit", exp, over...)
		if !errors.Is(err, eventstore.ErrInvalidEvent) || !strings.Contains(err.Error(), "MaxAppendSize") {
			t.Fatalf("append one byte over the limit at %s: %v", exp, err)
		}
	}
	if r, _ := f.counts(); r != req {
		t.Fatalf("%d appends over the limit reached the server", r-req)
	}
	if ids := readIDs(t, ctx, s, cat+"-fit"); !sameIDs(ids, fit...) {
		t.Fatalf("stream holds %v", ids)
	}

	// The default is the server's default, 1 MiB.
	def := openURL(t, url, kurrentdb.Options{})
	f.setMaxAppendSize(1 << 20)
	big := []eventstore.EventData{sized(t, "b.x", 600<<10), sized(t, "b.x", 600<<10)}
	if _, err := def.Append(ctx, cat+"-big", eventstore.NoStream, big...); !errors.Is(err, eventstore.ErrInvalidEvent) {
		t.Fatalf("1.2 MiB append with the default limit: %v", err)
	}
	// A larger server limit, told to the adapter, lets it through.
	f.setMaxAppendSize(4 << 20)
	large := openURL(t, url+"&maxAppendSize=4194304", kurrentdb.Options{})
	if _, err := large.Append(ctx, cat+"-big", eventstore.NoStream, big...); err != nil {
		t.Fatalf("1.2 MiB append with maxAppendSize=4 MiB: %v", err)
	}
}

// A retry of an Any append whose events are no longer the stream's last ([x, y, x]) is a
// no-op returning the first result; the old adapter appended x again.
func TestAnyRetryAfterOtherAppendsIsIdempotent(t *testing.T) {
	_, s, ctx := openFake(t)
	testAnyRetry(t, ctx, s)
}

func testAnyRetry(t *testing.T, ctx context.Context, s eventstore.Store) {
	stream := eventstoretest.Category() + "-1"
	x := []eventstore.EventData{eventstoretest.NewEvent("a.x", 0), eventstoretest.NewEvent("a.x", 1)}
	y := eventstoretest.NewEvent("a.y", 2)
	first := mustAppend(t, ctx, s, stream, eventstore.Any, x...)
	mustAppend(t, ctx, s, stream, eventstore.Any, y)
	for _, exp := range []eventstore.ExpectedVersion{eventstore.Any, eventstore.StreamExists} {
		again, err := s.Append(ctx, stream, exp, x...)
		if err != nil || again != first {
			t.Fatalf("retry at %s after another append: %+v %v, first %+v", exp, again, err, first)
		}
	}
	if ids := readIDs(t, ctx, s, stream); !sameIDs(ids, x[0], x[1], y) {
		t.Fatalf("stream holds %v, want x0 x1 y", ids)
	}
	// Part of a stored append with new events is not a retry.
	_, err := s.Append(ctx, stream, eventstore.Any, x[1], eventstoretest.NewEvent("a.z", 3))
	if !errors.Is(err, eventstore.ErrInvalidEvent) {
		t.Fatalf("append repeating part of an earlier one: %v", err)
	}
}

// The window is bounded, as the PostgreSQL adapter's: beyond it an Any retry is written
// again (documented in docs/eventstore.md).
func TestAnyRetryWindowIsBounded(t *testing.T) {
	_, url := startFakeServer(t)
	s := openURL(t, url, kurrentdb.Options{IdempotencyWindow: 3})
	ctx := context.Background()
	stream := eventstoretest.Category() + "-1"
	x := eventstoretest.NewEvent("w.x", 0)
	mustAppend(t, ctx, s, stream, eventstore.Any, x)
	for i := 1; i <= 3; i++ {
		mustAppend(t, ctx, s, stream, eventstore.Any, eventstoretest.NewEvent("w.y", i))
	}
	mustAppend(t, ctx, s, stream, eventstore.Any, x) // 3 events after x: still in the window
	if n := len(readIDs(t, ctx, s, stream)); n != 4 {
		t.Fatalf("retry within the window: %d events", n)
	}
	mustAppend(t, ctx, s, stream, eventstore.Any, eventstoretest.NewEvent("w.y", 4))
	mustAppend(t, ctx, s, stream, eventstore.Any, x) // 4 events after x: outside it
	if n := len(readIDs(t, ctx, s, stream)); n != 6 {
		t.Fatalf("retry beyond the window: %d events, want it written again", n)
	}
}

// The server's own idempotency check for Any looks only at a bounded cache of recent
// events: a retry pushed out of it is written again. (The adapter never sends Any; this
// shows that the fake does not promise more than the server.)
func TestFakeWeakIdempotencyIsBounded(t *testing.T) {
	f, url := startFakeServer(t)
	c := rawClient(t, url)
	ctx := context.Background()
	x := esdb.EventData{EventID: uuid.New(), EventType: "x", ContentType: esdb.ContentTypeJson, Data: []byte(`{}`)}
	other := func() esdb.EventData {
		return esdb.EventData{EventID: uuid.New(), EventType: "y", ContentType: esdb.ContentTypeJson, Data: []byte(`{}`)}
	}
	for _, tc := range []struct {
		cap  int
		want uint64 // the stream's last revision after the retry
	}{{1000, 2}, {2, 3}} {
		f.setRecentCap(tc.cap)
		stream := "weak-" + uuid.NewString()[:8]
		x.EventID = uuid.New()
		for _, e := range []esdb.EventData{x, other(), other(), x} {
			if _, err := c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.Any{}}, e); err != nil {
				t.Fatal(err)
			}
		}
		rs, err := c.ReadStream(ctx, stream, esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1)
		if err != nil {
			t.Fatal(err)
		}
		last, err := rs.Recv()
		rs.Close()
		if err != nil || last.Event.EventNumber != tc.want {
			t.Fatalf("cache of %d: last revision %v (%v), want %d", tc.cap, last, err, tc.want)
		}
	}
}

// A follower serves reads from its own lagging copy and forwards writes unless the call
// requires the leader; client v4 never sends that header itself. The adapter sends it,
// follows the follower's NotLeader to the leader, and so reads the leader's stream, appends
// after the leader's tail and subscribes to the leader. On the old adapter the read saw
// one event of two and Exact(1) failed with a wrong expected version.
func TestFollowerIsNeverUsed(t *testing.T) {
	leader, lurl := startFakeServer(t)
	a := openURL(t, lurl, kurrentdb.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream := eventstoretest.Category() + "-1"
	e0, e1 := eventstoretest.NewEvent("f.x", 0), eventstoretest.NewEvent("f.x", 1)
	mustAppend(t, ctx, a, stream, eventstore.NoStream, e0)
	_, furl := startFollower(t, leader) // holds e0 only
	mustAppend(t, ctx, a, stream, eventstore.Exact(0), e1)

	// The bare client, pointed at the follower, reads its stale copy.
	raw := rawClient(t, furl)
	rs, err := raw.ReadStream(ctx, stream, esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 10)
	if err != nil {
		t.Fatal(err)
	}
	stale, err := rs.Recv()
	rs.Close()
	if err != nil || stale.Event.EventNumber != 0 {
		t.Fatalf("follower's tail: %v %v, want the stale revision 0", stale, err)
	}

	b := openURL(t, furl, kurrentdb.Options{})
	if ids := readIDs(t, ctx, b, stream); !sameIDs(ids, e0, e1) {
		t.Fatalf("read through the follower's address: %v, want the leader's two events", ids)
	}
	e2 := eventstoretest.NewEvent("f.x", 2)
	if res, err := b.Append(ctx, stream, eventstore.Exact(1), e2); err != nil || res.Version != 2 {
		t.Fatalf("Exact(1) through the follower's address: %+v %v", res, err)
	}
	ha, _ := a.Head(ctx)
	hb, err := b.Head(ctx)
	if err != nil || hb != ha {
		t.Fatalf("Head through the follower's address %d (%v), leader's %d", hb, err, ha)
	}
	// A subscription opened through the follower's address sees new events.
	c := openURL(t, furl, kurrentdb.Options{})
	sub, err := c.SubscribeAll(ctx, eventstore.Start, eventstore.Filter{StreamPrefix: stream})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	e3 := eventstoretest.NewEvent("f.x", 3)
	mustAppend(t, ctx, a, stream, eventstore.Exact(2), e3)
	for i, want := range []eventstore.EventData{e0, e1, e2, e3} {
		got, err := sub.Next(ctx)
		if err != nil || got.ID != want.ID {
			t.Fatalf("subscription event %d: %v %v, want %s", i, got.ID, err, want.ID)
		}
	}
}

// Open refuses a node preference other than the leader.
func TestOpenRefusesFollowerPreference(t *testing.T) {
	for _, pref := range []string{"follower", "random", "readonlyreplica"} {
		s, err := kurrentdb.Open(context.Background(), "kurrentdb://127.0.0.1:1?tls=false&nodePreference="+pref, kurrentdb.Options{})
		if err == nil {
			_ = s.Close()
			t.Fatalf("nodePreference=%s accepted", pref)
		}
		if !strings.Contains(err.Error(), "nodePreference") {
			t.Fatalf("nodePreference=%s: %v", pref, err)
		}
	}
}

// A write timeout leaves the outcome unknown. The server answers Aborted; a retry of a
// write that landed but is not replicated yet is dropped and times out again; once
// replicated, the retry answers the original result.
func TestFakeWriteTimeoutAndDroppedRetry(t *testing.T) {
	f, url := startFakeServer(t)
	c := rawClient(t, url)
	ctx := context.Background()
	e := esdb.EventData{EventID: uuid.New(), EventType: "t", ContentType: esdb.ContentTypeJson, Data: []byte(`{}`)}
	f.timeoutNext(1, true, time.Second)
	_, err := c.AppendToStream(ctx, "to-1", esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, e)
	if status.Code(errors.Unwrap(err)) != codes.Aborted && !strings.Contains(err.Error(), "Operation timed out") {
		t.Fatalf("timed-out append: %v", err)
	}
	_, err = c.AppendToStream(ctx, "to-1", esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, e)
	if err == nil || !strings.Contains(err.Error(), "Operation timed out") {
		t.Fatalf("retry before replication: %v, want it dropped (timed out)", err)
	}
	// Retries are dropped until the original is replicated, then answered with it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		wr, err := c.AppendToStream(ctx, "to-1", esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, e)
		if err == nil {
			if wr.NextExpectedVersion != 0 || wr.CommitPosition == 0 {
				t.Fatalf("retry after replication: %+v", wr)
			}
			break
		}
		if !strings.Contains(err.Error(), "Operation timed out") || time.Now().After(deadline) {
			t.Fatalf("retry: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := f.stored(); n != 2 { // the initial $stats event and e
		t.Fatalf("log holds %d records, want e once", n)
	}
}

// The adapter sends a write whose outcome is unknown again, at the same revision, until
// the server answers; the events land once. On the old adapter the first timeout was the
// caller's error.
func TestAppendOutcomeUnknownIsResolved(t *testing.T) {
	for _, land := range []bool{true, false} {
		f, s, ctx := openFake(t)
		stream := eventstoretest.Category() + "-1"
		x := []eventstore.EventData{eventstoretest.NewEvent("u.x", 0), eventstoretest.NewEvent("u.x", 1)}
		f.timeoutNext(1, land, 5*time.Millisecond)
		res, err := s.Append(ctx, stream, eventstore.NoStream, x...)
		if err != nil {
			t.Fatalf("land=%v: NoStream append that timed out once: %v", land, err)
		}
		y := eventstoretest.NewEvent("u.y", 2)
		f.timeoutNext(1, land, 5*time.Millisecond)
		if _, err := s.Append(ctx, stream, eventstore.Exact(1), y); err != nil {
			t.Fatalf("land=%v: Exact append that timed out once: %v", land, err)
		}
		z := eventstoretest.NewEvent("u.z", 3)
		f.timeoutNext(1, land, 5*time.Millisecond)
		if _, err := s.Append(ctx, stream, eventstore.Any, z); err != nil {
			t.Fatalf("land=%v: Any append that timed out once: %v", land, err)
		}
		if ids := readIDs(t, ctx, s, stream); !sameIDs(ids, x[0], x[1], y, z) {
			t.Fatalf("land=%v: stream holds %v", land, ids)
		}
		got, _ := s.ReadStream(ctx, stream, eventstore.Forward, 1, 1)
		if res.Version != 1 || res.Position != got[0].Position {
			t.Fatalf("land=%v: result %+v, stored %d@%d", land, res, got[0].Version, got[0].Position)
		}
	}
}

// When the server never answers, the adapter gives up after a bounded number of sends
// and says that the outcome is unknown.
func TestAppendOutcomeUnknownGivesUp(t *testing.T) {
	f, s, ctx := openFake(t)
	f.timeoutNext(1000, false, 0)
	before, _ := f.counts()
	_, err := s.Append(ctx, eventstoretest.Category()+"-1", eventstore.NoStream, eventstoretest.NewEvent("u.x", 0))
	if err == nil || !strings.Contains(err.Error(), "outcome unknown") || errors.Is(err, eventstore.ErrWrongExpectedVersion) {
		t.Fatalf("append that always times out: %v", err)
	}
	if after, _ := f.counts(); after-before < 2 || after-before > 10 {
		t.Fatalf("%d sends", after-before)
	}
}

// The server can drop a subscription (a node shutting down, a lost connection): the
// adapter resubscribes from the last position it saw and delivers every event once, in
// order. On the old adapter Next returned the drop. A drop for a reason that will not pass
// (denied access) still ends the subscription with an error.
func TestSubscriptionSurvivesServerDrop(t *testing.T) {
	f, s, ctx := openFake(t)
	stream := eventstoretest.Category() + "-1"
	sub, err := s.SubscribeAll(ctx, eventstore.Start, eventstore.Filter{StreamPrefix: stream})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	var want []eventstore.EventData
	next := func(n int) {
		t.Helper()
		for i := 0; i < n; i++ {
			e := eventstoretest.NewEvent("d.x", len(want))
			want = append(want, e)
			mustAppend(t, ctx, s, stream, eventstore.Any, e)
		}
	}
	got := 0
	expect := func() {
		t.Helper()
		for ; got < len(want); got++ {
			e, err := sub.Next(ctx)
			if err != nil || e.ID != want[got].ID {
				t.Fatalf("event %d: %s %v, want %s", got, e.ID, err, want[got].ID)
			}
		}
	}
	next(5)
	expect()
	_, subsBefore := f.counts()
	f.dropSubscriptions(status.Error(codes.Unavailable, "Server Is Not Ready"))
	next(5)
	expect()
	f.dropSubscriptions(status.Error(codes.Unknown, "Unexpected error: live events channel completed without exception"))
	next(3)
	expect()
	if _, subsAfter := f.counts(); subsAfter < subsBefore+2 {
		t.Fatalf("%d resubscriptions, want 2", subsAfter-subsBefore)
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if e, err := sub.Next(short); err == nil {
		t.Fatalf("event %s delivered twice", e.ID)
	}

	f.dropSubscriptions(status.Error(codes.PermissionDenied, "Access Denied"))
	if _, err := sub.Next(ctx); err == nil || errors.Is(err, eventstore.ErrClosed) || !strings.Contains(err.Error(), "Access Denied") {
		t.Fatalf("Next after a final drop: %v", err)
	}
}

// A backward read from past a stream's end is answered as a read from its last revision:
// the server pages on from the clamped next event number.
func TestBackwardReadPastEndIsClamped(t *testing.T) {
	_, url := startFakeServer(t)
	testBackwardClamp(t, url)
}

func testBackwardClamp(t *testing.T, url string) {
	s := openURL(t, url, kurrentdb.Options{})
	ctx := context.Background()
	stream := eventstoretest.Category() + "-1"
	var evs []eventstore.EventData
	for i := 0; i < 10; i++ {
		evs = append(evs, eventstoretest.NewEvent("b.x", i))
	}
	mustAppend(t, ctx, s, stream, eventstore.NoStream, evs...)
	raw := rawClient(t, url)
	for _, from := range []uint64{10, 100} {
		rs, err := raw.ReadStream(ctx, stream, esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.Revision(from)}, 3)
		if err != nil {
			t.Fatal(err)
		}
		var versions []uint64
		for {
			e, err := rs.Recv()
			if err != nil {
				break
			}
			versions = append(versions, e.Event.EventNumber)
		}
		rs.Close()
		if len(versions) != 3 || versions[0] != 9 || versions[2] != 7 {
			t.Fatalf("bare backward read from %d: %v, want 9 8 7", from, versions)
		}
	}
	for _, from := range []uint64{10, 11, 40, 100, 1 << 40} {
		got, err := s.ReadStream(ctx, stream, eventstore.Backward, from, 3)
		if err != nil || len(got) != 3 || got[0].Version != 9 || got[2].Version != 7 {
			t.Fatalf("backward from %d: %d events %v", from, len(got), err)
		}
	}
}

// TestRealServerBehaviours checks, on a real server (ORDERENGINE_TEST_KURRENTDB_URL, see
// TestConformance), the behaviours above that need no fault injection: the size the
// adapter computes is the server's (an append of exactly MaxAppendSize is accepted), Any
// retries, and the backward-read clamp.
func TestRealServerBehaviours(t *testing.T) {
	url := os.Getenv(envURL)
	if url == "" {
		t.Skipf("%s is not set: skipping the real-server behaviour tests (make test-compose)", envURL)
	}
	realServerBehaviours(t, url)
}

// The same against the fake, so that the gated tests are known to pass where they can.
func TestRealServerBehavioursOnFake(t *testing.T) {
	_, url := startFakeServer(t)
	realServerBehaviours(t, url)
}

func realServerBehaviours(t *testing.T, url string) {
	ctx := context.Background()
	t.Run("AppendOfExactlyMaxAppendSize", func(t *testing.T) {
		s := openURL(t, url, kurrentdb.Options{})
		typ := "size.\U0001D11E"
		half := kurrentdb.DefaultMaxAppendSize / 2
		fit := []eventstore.EventData{sized(t, typ, half), sized(t, typ, kurrentdb.DefaultMaxAppendSize-half)}
		stream := eventstoretest.Category() + "-fit"
		if _, err := s.Append(ctx, stream, eventstore.NoStream, fit...); err != nil {
			t.Fatalf("append of exactly the server's default MaxAppendSize: %v", err)
		}
		over := []eventstore.EventData{sized(t, typ, half), sized(t, typ, kurrentdb.DefaultMaxAppendSize-half+1)}
		if _, err := s.Append(ctx, stream, eventstore.Exact(1), over...); !errors.Is(err, eventstore.ErrInvalidEvent) {
			t.Fatalf("one byte over: %v", err)
		}
	})
	t.Run("AnyRetryAfterOtherAppends", func(t *testing.T) {
		testAnyRetry(t, ctx, openURL(t, url, kurrentdb.Options{}))
	})
	t.Run("BackwardReadPastEnd", func(t *testing.T) { testBackwardClamp(t, url) })
}

// When the adapter is told a larger limit than the server's, the server ends the call
// while it is being sent: nothing is written, the adapter sends it once more (a broken
// connection looks the same) and then says what probably happened.
func TestAppendOverServerLimitUnknownToAdapter(t *testing.T) {
	f, url := startFakeServer(t)
	s := openURL(t, url+"&maxAppendSize=16777216", kurrentdb.Options{})
	ctx := context.Background()
	var big []eventstore.EventData
	for i := 0; i < 64; i++ {
		big = append(big, sized(t, "big.x", 128<<10))
	}
	before, _ := f.counts()
	stored := f.stored()
	_, err := s.Append(ctx, eventstoretest.Category()+"-1", eventstore.NoStream, big...)
	if err == nil {
		t.Fatal("an 8 MiB append was accepted by a server with a 1 MiB limit")
	}
	after, _ := f.counts()
	if f.stored() != stored {
		t.Fatal("the refused append wrote events")
	}
	switch {
	case strings.Contains(err.Error(), "ended the append"):
		if after-before != 2 {
			t.Fatalf("sent %d times, want 2", after-before)
		}
	case errors.Is(err, eventstore.ErrInvalidEvent) && strings.Contains(err.Error(), "Maximum Append Size"):
		// The client finished sending before the server ended the call and got its status.
	default:
		t.Fatalf("append over the server's limit: %v", err)
	}
	t.Logf("%d sends: %v", after-before, err)
}
