package webhooks_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/integration"
	"github.com/orderengine/orderengine/webhooks"
)

// TestReceiverDownThenUpDeliversEverythingInOrder: the receiver fails every request for a
// while; once it is back, every event arrives, signed, each order's in log order.
func TestReceiverDownThenUpDeliversEverythingInOrder(t *testing.T) {
	e := newEnv(t)
	rc := newReceiver(t)
	e.register(rc)
	var down atomic.Bool
	down.Store(true)
	rc.setStatus(func(received) int {
		if down.Load() {
			return 503
		}
		return 200
	})
	e.start(e.cfg)
	orders := []string{"a", "b", "c", "d"}
	want := 0
	for step := range 6 {
		for _, o := range orders {
			e.orderStep(o, step)
			want++
		}
	}
	waitFor(t, "failed attempts", 5*time.Second, func() bool { rc.mu.Lock(); defer rc.mu.Unlock(); return rc.calls >= 8 })
	if n := len(rc.received()); n != 0 {
		t.Fatalf("%d accepted while down", n)
	}
	down.Store(false)
	waitFor(t, "every event", 10*time.Second, func() bool { return len(rc.distinct()) == want })
	checkOrder(t, rc.received())
	if rc.bad != 0 {
		t.Fatalf("%d requests failed signature verification", rc.bad)
	}
	types := map[string]int{}
	for _, r := range rc.distinct() {
		types[r.ev.Type]++
	}
	for _, typ := range []string{"order.placed", "payment.authorized", "order.confirmed", "payment.captured", "order.fulfilled", "order.delivered"} {
		if types[typ] != len(orders) {
			t.Fatalf("%s arrived %d times, want %d (%v)", typ, types[typ], len(orders), types)
		}
	}
}

// TestFailingOrderHoldsBackOnlyItsOwnEvents: while one order's first event keeps failing,
// its later events wait and other orders' events flow.
func TestFailingOrderHoldsBackOnlyItsOwnEvents(t *testing.T) {
	e := newEnv(t)
	rc := newReceiver(t)
	e.register(rc)
	var blockA atomic.Bool
	blockA.Store(true)
	rc.setStatus(func(r received) int {
		if r.ev.OrderID == "A" && blockA.Load() {
			return 500
		}
		return 200
	})
	e.start(e.cfg)
	for step := range 3 {
		e.orderStep("A", step)
		e.orderStep("B", step)
	}
	waitFor(t, "order B", 5*time.Second, func() bool { return len(rc.distinct()) == 3 })
	time.Sleep(50 * time.Millisecond)
	for _, r := range rc.received() {
		if r.ev.OrderID == "A" {
			t.Fatalf("an event of the failing order was accepted: %+v", r.ev)
		}
	}
	rc.mu.Lock()
	calls := rc.calls
	rc.mu.Unlock()
	if calls <= 3+1 {
		t.Fatalf("only %d calls: A was not retried", calls)
	}
	blockA.Store(false)
	waitFor(t, "order A", 5*time.Second, func() bool { return len(rc.distinct()) == 6 })
	checkOrder(t, rc.received())
	// While A failed, only its first event was tried: later ones waited behind it.
	var seenA []uint64
	for _, r := range rc.received() {
		if r.ev.OrderID == "A" {
			seenA = append(seenA, r.ev.Position)
		}
	}
	if !slices.IsSorted(seenA) || len(seenA) != 3 {
		t.Fatalf("A arrived as %v", seenA)
	}
}

// TestWorkerKilledMidDeliveryResumesFromCheckpoint cancels the worker in the middle of
// deliveries, starts a new one on the same store, and checks that everything arrives and
// every duplicate carries the webhook-id (and body) of its first delivery.
func TestWorkerKilledMidDeliveryResumesFromCheckpoint(t *testing.T) {
	e := newEnv(t)
	rc := newReceiver(t)
	rc.delay = 3 * time.Millisecond
	e.register(rc)
	orders := []string{"o1", "o2", "o3", "o4", "o5", "o6", "o7", "o8"}
	want := 0
	for step := range 6 {
		for _, o := range orders {
			e.orderStep(o, step)
			want++
		}
	}
	rounds := 0
	for ; len(rc.distinct()) < want && rounds < 20; rounds++ {
		stop := e.start(e.cfg)
		before := len(rc.received())
		waitFor(t, "some deliveries", 5*time.Second, func() bool { return len(rc.received()) >= before+5 || len(rc.distinct()) == want })
		stop() // mid-delivery: requests are in flight
	}
	stop := e.start(e.cfg)
	waitFor(t, "every event", 10*time.Second, func() bool { return len(rc.distinct()) == want })
	stop()
	got := rc.received()
	checkOrder(t, got)
	first := map[string]received{}
	for _, r := range got {
		f, ok := first[r.id]
		if !ok {
			first[r.id] = r
			continue
		}
		if f.ev.ID != r.ev.ID || string(f.body) != string(r.body) {
			t.Fatalf("webhook-id %s carried two different events", r.id)
		}
	}
	t.Logf("%d events, %d requests accepted (%d duplicates) over %d kills", want, len(got), len(got)-want, rounds)
	// Only requests in flight at a kill are sent again: at most Concurrency per kill.
	if dup := len(got) - want; dup > (rounds+1)*4 {
		t.Fatalf("%d duplicates after %d kills: more than the requests in flight", dup, rounds)
	}
}

// TestReplayFromPosition delivers, then replays from a position: the events from there on
// arrive again, with their first webhook-ids, and nothing before it.
func TestReplayFromPosition(t *testing.T) {
	e := newEnv(t)
	rc := newReceiver(t)
	ep := e.register(rc)
	stop := e.start(e.cfg)
	var positions []uint64
	for step := range 4 {
		positions = append(positions, e.orderStep("r1", step))
	}
	waitFor(t, "first delivery", 5*time.Second, func() bool { return len(rc.received()) == 4 })
	firstIDs := map[uint64]string{}
	for _, r := range rc.received() {
		firstIDs[r.ev.Position] = r.id
	}
	if _, err := e.eps.Replay(context.Background(), ep.ID, positions[2]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "replay", 5*time.Second, func() bool { return len(rc.received()) == 6 })
	time.Sleep(50 * time.Millisecond)
	got := rc.received()
	if len(got) != 6 {
		t.Fatalf("%d requests after the replay, want 6", len(got))
	}
	for _, r := range got[4:] {
		if r.ev.Position < positions[2] {
			t.Fatalf("replay sent position %d, before %d", r.ev.Position, positions[2])
		}
		if r.id != firstIDs[r.ev.Position] {
			t.Fatalf("replayed webhook-id %s, first %s", r.id, firstIDs[r.ev.Position])
		}
	}
	stop()
	// Replay by time: everything recorded from before the first event.
	from, err := e.eps.PositionAt(context.Background(), time.Now().Add(-time.Hour))
	if err != nil || from != 1 {
		t.Fatalf("PositionAt = %d, %v", from, err)
	}
	from, err = e.eps.PositionAt(context.Background(), time.Now().Add(time.Hour))
	head, _ := e.store.Head(context.Background())
	if err != nil || from != head+1 {
		t.Fatalf("PositionAt(future) = %d, %v (head %d)", from, err, head)
	}
}

// TestGoneDisablesEndpoint: a 410 answer disables the endpoint, calls the hook, and
// nothing more is sent.
func TestGoneDisablesEndpoint(t *testing.T) {
	e := newEnv(t)
	rc := newReceiver(t)
	rc.setStatus(func(received) int { return 410 })
	ep := e.register(rc)
	var disabled atomic.Value
	cfg := e.cfg
	cfg.Hooks.Disabled = func(id, reason string) { disabled.Store(id + ": " + reason) }
	e.start(cfg)
	e.orderStep("g", 0)
	e.orderStep("g", 1)
	waitFor(t, "disabled", 5*time.Second, func() bool {
		got, _ := e.eps.Get(context.Background(), ep.ID)
		return !got.Enabled
	})
	got, _ := e.eps.Get(context.Background(), ep.ID)
	if !strings.Contains(got.DisabledReason, "410") {
		t.Fatalf("reason %q", got.DisabledReason)
	}
	waitFor(t, "hook", 5*time.Second, func() bool { return disabled.Load() != nil })
	rc.mu.Lock()
	calls := rc.calls
	rc.mu.Unlock()
	e.orderStep("g", 2)
	time.Sleep(100 * time.Millisecond)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.calls != calls || calls != 1 {
		t.Fatalf("%d calls after disabling (%d before)", rc.calls, calls)
	}
}

// TestFailingTooLongDisablesEndpoint: every attempt failing for DisableAfter disables it.
func TestFailingTooLongDisablesEndpoint(t *testing.T) {
	e := newEnv(t)
	rc := newReceiver(t)
	rc.setStatus(func(received) int { return 500 })
	ep := e.register(rc)
	var hook atomic.Int32
	cfg := e.cfg
	cfg.DisableAfter = 150 * time.Millisecond
	cfg.Hooks.Disabled = func(string, string) { hook.Add(1) }
	e.start(cfg)
	e.orderStep("f", 0)
	waitFor(t, "disabled", 5*time.Second, func() bool {
		got, err := e.eps.Get(context.Background(), ep.ID)
		if err != nil {
			t.Fatalf("get: %v", err)
		}
		return !got.Enabled
	})
	waitFor(t, "hook", 5*time.Second, func() bool { return hook.Load() > 0 })
	got, _ := e.eps.Get(context.Background(), ep.ID)
	if !strings.Contains(got.DisabledReason, "failed for") || hook.Load() != 1 {
		t.Fatalf("reason %q, hook %d", got.DisabledReason, hook.Load())
	}
	// Enabling it again resumes from its checkpoint: the event is delivered.
	rc.setStatus(func(received) int { return 200 })
	on := true
	if _, err := e.eps.Update(context.Background(), ep.ID, webhooks.Patch{Enabled: &on}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "delivery after re-enabling", 5*time.Second, func() bool { return len(rc.received()) == 1 })
}

// TestGiveUpThenManualRetry: after the schedule is exhausted the delivery is given up and
// the order's next event proceeds; a manual retry sends the given-up event again.
func TestGiveUpThenManualRetry(t *testing.T) {
	e := newEnv(t)
	rc := newReceiver(t)
	ep := e.register(rc)
	var failFirst atomic.Bool
	failFirst.Store(true)
	rc.setStatus(func(r received) int {
		if r.ev.Type == "order.placed" && failFirst.Load() {
			return 500
		}
		return 200
	})
	cfg := e.cfg
	cfg.Schedule = []time.Duration{5 * time.Millisecond, 5 * time.Millisecond}
	e.start(cfg)
	e.orderStep("m", 0)
	e.orderStep("m", 1)
	waitFor(t, "the second event", 5*time.Second, func() bool { return len(rc.received()) == 1 })
	ds, _, err := webhooks.Deliveries(context.Background(), e.store, ep.ID, 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	var placed webhooks.Delivery
	for _, d := range ds {
		if d.EventType == "order.placed" {
			placed = d
		}
	}
	if placed.Status != "failed" || len(placed.Attempts) != 3 || placed.Attempts[0].StatusCode != 500 {
		t.Fatalf("delivery log of the given-up event: %+v", placed)
	}
	failFirst.Store(false)
	if err := e.eps.RetryDelivery(context.Background(), placed.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "manual retry", 5*time.Second, func() bool { return len(rc.received()) == 2 })
	if got := rc.received()[1]; got.id != placed.ID || got.ev.Type != "order.placed" {
		t.Fatalf("retried %+v", got.ev)
	}
	if err := e.eps.RetryDelivery(context.Background(), "msg_nope"); !errors.Is(err, webhooks.ErrNotFound) {
		t.Fatalf("unknown delivery: %v", err)
	}
}

// TestRotationSignsWithBoth: after a rotation both secrets sign for the overlap (each
// alone verifies the request); after it only the new one.
func TestRotationSignsWithBoth(t *testing.T) {
	e := newEnv(t)
	rc := newReceiver(t)
	rc.now = e.clock.Now
	ep := e.register(rc)
	rc.mu.Lock()
	oldSecret := rc.secret
	rc.mu.Unlock()
	_, newSecret, err := e.eps.RotateSecret(context.Background(), ep.ID)
	if err != nil {
		t.Fatal(err)
	}
	if newSecret == oldSecret || !strings.HasPrefix(newSecret, "whsec_") {
		t.Fatalf("new secret %q", newSecret)
	}
	e.start(e.cfg)
	e.orderStep("rot", 0)
	waitFor(t, "delivery", 5*time.Second, func() bool { return len(rc.received()) == 1 })
	r := rc.received()[0]
	if len(r.sigs) != 2 {
		t.Fatalf("%d signatures during the overlap", len(r.sigs))
	}
	for _, secret := range []string{oldSecret, newSecret} {
		if err := verify(secret, r.header, r.body, e.clock.Now()); err != nil {
			t.Fatalf("a receiver holding one secret rejects: %v", err)
		}
	}
	// After 24 h only the new secret signs.
	e.clock.advance(25 * time.Hour)
	rc.mu.Lock()
	rc.secret = newSecret
	rc.mu.Unlock()
	e.orderStep("rot", 1)
	waitFor(t, "second delivery", 5*time.Second, func() bool { return len(rc.received()) == 2 })
	r = rc.received()[1]
	if len(r.sigs) != 1 {
		t.Fatalf("%d signatures after the overlap", len(r.sigs))
	}
	if verify(oldSecret, r.header, r.body, e.clock.Now()) == nil || verify(newSecret, r.header, r.body, e.clock.Now()) != nil {
		t.Fatal("after the overlap the old secret still verifies, or the new one does not")
	}
}

// TestDeliveryLogPages: following nextCursor lists every delivery once, newest first.
func TestDeliveryLogPages(t *testing.T) {
	e := newEnv(t)
	rc := newReceiver(t)
	ep := e.register(rc)
	stop := e.start(e.cfg)
	for i := range 7 {
		e.orderStep(fmt.Sprintf("page%d", i), 0)
	}
	waitFor(t, "recorded deliveries", 5*time.Second, func() bool {
		ds, _, _ := e.eps.Deliveries(context.Background(), ep.ID, 100, 0)
		return len(ds) == 7
	})
	stop()
	var all []webhooks.Delivery
	cursor := uint64(0)
	for page := 0; ; page++ {
		ds, next, err := e.eps.Deliveries(context.Background(), ep.ID, 3, cursor)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) > 3 || page > 5 {
			t.Fatalf("page %d has %d items", page, len(ds))
		}
		all = append(all, ds...)
		if next == 0 {
			break
		}
		cursor = next
	}
	if len(all) != 7 {
		t.Fatalf("%d deliveries listed, want 7", len(all))
	}
	seen := map[string]bool{}
	for i, d := range all {
		if seen[d.ID] || d.Status != "delivered" || len(d.Attempts) != 1 || (i > 0 && d.Position > all[i-1].Position) {
			t.Fatalf("delivery %d: %+v", i, d)
		}
		seen[d.ID] = true
	}
}

// TestManualRetryOfPendingDeliveryTriesNow: retrying a delivery that waits for its next
// try sends it at once, in its place: the order's later events still follow it.
func TestManualRetryOfPendingDeliveryTriesNow(t *testing.T) {
	e := newEnv(t)
	rc := newReceiver(t)
	ep := e.register(rc)
	var fail atomic.Bool
	fail.Store(true)
	rc.setStatus(func(received) int {
		if fail.Load() {
			return 503
		}
		return 200
	})
	cfg := e.cfg
	cfg.Schedule = []time.Duration{time.Hour} // the automatic retry would come in an hour
	e.start(cfg)
	e.orderStep("now", 0)
	e.orderStep("now", 1)
	var d webhooks.Delivery
	waitFor(t, "a pending delivery", 5*time.Second, func() bool {
		ds, _, _ := e.eps.Deliveries(context.Background(), ep.ID, 10, 0)
		if len(ds) == 1 && ds[0].Status == "pending" {
			d = ds[0]
			return true
		}
		return false
	})
	if d.NextAttemptAt == nil || time.Until(*d.NextAttemptAt) < 30*time.Minute {
		t.Fatalf("next attempt %v", d.NextAttemptAt)
	}
	fail.Store(false)
	if err := e.eps.RetryDelivery(context.Background(), d.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both events", 5*time.Second, func() bool { return len(rc.received()) == 2 })
	checkOrder(t, rc.received())
	if got := rc.received(); got[0].id != d.ID || len(got) != 2 {
		t.Fatalf("first accepted %s, want %s", got[0].id, d.ID)
	}
}

func TestParseSchedule(t *testing.T) {
	got, err := webhooks.ParseSchedule("5s, 5m,2h")
	if err != nil || !slices.Equal(got, []time.Duration{5 * time.Second, 5 * time.Minute, 2 * time.Hour}) {
		t.Fatalf("%v %v", got, err)
	}
	for _, bad := range []string{"", "5s,,1m", "-1s", "soon"} {
		if _, err := webhooks.ParseSchedule(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	var total time.Duration
	for _, d := range webhooks.DefaultSchedule {
		total += d
	}
	if total < 70*time.Hour || total > 74*time.Hour {
		t.Fatalf("the default schedule spans %s, want about 3 days", total)
	}
}

// TestLowStockDelivered: with WithLowStock, an endpoint subscribed to inventory.low_stock
// receives it when a reservation takes the stock to the threshold, and nothing else.
func TestLowStockDelivered(t *testing.T) {
	e := newEnv(t)
	rc := newReceiver(t)
	e.register(rc, "inventory.low_stock")
	cfg := e.cfg
	cfg.Translator = integration.NewTranslator(domain.NewDomainRegistry()).WithLowStock(e.store, 5)
	e.start(cfg)
	at := time.Now()
	e.append("inventory-CUP-1", domain.InventoryReceived{SKU: "CUP-1", Warehouse: "main", Quantity: 10, At: at})
	e.orderStep("low", 0)
	for i, n := range []int64{3, 3, 1} { // 7, 4 (low), 3
		e.append("inventory-CUP-1", domain.InventoryReserved{SKU: "CUP-1", OrderID: fmt.Sprint("o", i), Quantity: n,
			Allocations: []domain.Allocation{{Warehouse: "main", Quantity: n}}, ExpiresAt: at.Add(time.Hour), At: at})
	}
	waitFor(t, "low stock", 5*time.Second, func() bool { return len(rc.received()) == 1 })
	time.Sleep(100 * time.Millisecond)
	got := rc.received()
	if len(got) != 1 || got[0].ev.Type != "inventory.low_stock" || !strings.Contains(string(got[0].body), `"available":4`) {
		t.Fatalf("received %d: %s", len(got), got[0].body)
	}
}

// TestRestartWithAFailingOrderResendsLittle: one order fails for a long time while the
// others are delivered; a restart re-queues the failing order's events from the checkpoint
// and does not send the delivered ones again.
func TestRestartWithAFailingOrderResendsLittle(t *testing.T) {
	e := newEnv(t)
	rc := newReceiver(t)
	e.register(rc)
	var block atomic.Bool
	block.Store(true)
	rc.setStatus(func(r received) int {
		if r.ev.OrderID == "stuck" && block.Load() {
			return 500
		}
		return 200
	})
	cfg := e.cfg
	cfg.Schedule = []time.Duration{20 * time.Millisecond, time.Hour}
	stop := e.start(cfg)
	e.orderStep("stuck", 0)
	want := 0
	for step := range 3 {
		for i := range 10 {
			e.orderStep(fmt.Sprint("ok", i), step)
			want++
		}
	}
	e.orderStep("stuck", 1)
	waitFor(t, "the other orders", 5*time.Second, func() bool { return len(rc.distinct()) == want })
	time.Sleep(50 * time.Millisecond) // attempts recorded, checkpoint written
	stop()
	before := len(rc.received())
	block.Store(false)
	e.start(cfg)
	// The stuck event keeps its retry state over the restart: its next try is in an hour,
	// so nothing is sent; a manual retry sends it, then the order's next event follows.
	time.Sleep(150 * time.Millisecond)
	if n := len(rc.received()); n != before {
		t.Fatalf("%d requests accepted right after the restart", n-before)
	}
	id := e.mustEndpoint(t)
	var stuck webhooks.Delivery
	ds, _, _ := e.eps.Deliveries(context.Background(), id, 100, 0)
	for _, d := range ds {
		if d.OrderID == "stuck" {
			stuck = d
		}
	}
	if stuck.Status != "pending" || stuck.NextAttemptAt == nil || time.Until(*stuck.NextAttemptAt) < 30*time.Minute {
		t.Fatalf("stuck delivery %+v", stuck)
	}
	if err := e.eps.RetryDelivery(context.Background(), stuck.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the stuck order", 5*time.Second, func() bool { return len(rc.distinct()) == want+2 })
	time.Sleep(50 * time.Millisecond)
	got := rc.received()
	if resent := len(got) - before - 2; resent != 0 {
		t.Fatalf("%d delivered events were sent again after the restart", resent)
	}
	checkOrder(t, got)
	ds, _, _ = e.eps.Deliveries(context.Background(), id, 100, 0)
	for _, d := range ds {
		if d.ID == stuck.ID {
			if n := d.Attempts[len(d.Attempts)-1].Attempt; n != 3 || d.Status != "delivered" {
				t.Fatalf("the stuck event: status %s, last attempt number %d, want delivered at 3", d.Status, n)
			}
		}
	}
}

// TestIdleEndpointWritesNothing: once caught up, an idle endpoint adds nothing to the log
// (its own checkpoints move the head, which must not call for more checkpoints).
func TestIdleEndpointWritesNothing(t *testing.T) {
	e := newEnv(t)
	rc := newReceiver(t)
	e.register(rc)
	e.start(e.cfg)
	e.orderStep("idle", 0)
	waitFor(t, "delivery", 5*time.Second, func() bool { return len(rc.received()) == 1 })
	time.Sleep(200 * time.Millisecond)
	h1, _ := e.store.Head(context.Background())
	time.Sleep(500 * time.Millisecond) // 100 checkpoint intervals, 50 polls
	h2, _ := e.store.Head(context.Background())
	if h2 != h1 {
		t.Fatalf("an idle worker appended %d events", h2-h1)
	}
}
