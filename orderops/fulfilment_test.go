package orderops

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orderengine/orderengine/checkout"
	"github.com/orderengine/orderengine/commands"
	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/payment"
)

// orderOf places an order of several SKUs for alice and waits until it is paid.
func (e *env) orderOf(lines ...domain.LineQuantity) string {
	e.t.Helper()
	meta := commands.Meta{Actor: "alice", Customer: "alice"}
	c, err := e.svc.CreateCart(e.ctx, domain.CreateCart{Currency: "EUR"}, meta)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, l := range lines {
		if _, err := e.svc.AddCartItem(e.ctx, c.State.ID, l.SKU, l.Quantity, meta); err != nil {
			e.t.Fatal(err)
		}
	}
	r, err := e.svc.PlaceOrder(e.ctx, commands.PlaceOrderInput{CartID: c.State.ID, ShippingAddress: &home, PaymentToken: payment.TokenVisa}, meta)
	if err != nil {
		e.t.Fatal(err)
	}
	e.waitStep(r.State.ID, checkout.StepCompleted)
	return r.State.ID
}

func (e *env) payment(id string) domain.Payment {
	e.t.Helper()
	l, err := commands.Load(e.ctx, e.rt, payments, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return l.State
}

func lq(sku string, n int64) domain.LineQuantity { return domain.LineQuantity{SKU: sku, Quantity: n} }

func keyed(key string) commands.Meta { m := admin; m.IdempotencyKey = key; return m }

// checkMoney asserts the invariants between order, payment and gateway.
func (e *env) checkMoney(id string) domain.Order {
	e.t.Helper()
	o, p := e.orderState(id), e.payment(id)
	auth := e.sim.Authorizations(id)[0]
	if o.Captured != p.Captured || auth.Captured != p.Captured.Amount || o.Refunded != p.Refunded || auth.Refunded != p.Refunded.Amount ||
		o.ReleasedTotal() != p.Released || e.sim.Released(auth.GatewayRef) != p.Released.Amount {
		e.t.Fatalf("order captured %v refunded %v released %v; payment %v %v %v; gateway %d %d %d",
			o.Captured, o.Refunded, o.ReleasedTotal(), p.Captured, p.Refunded, p.Released, auth.Captured, auth.Refunded, e.sim.Released(auth.GatewayRef))
	}
	if o.Refunded.Amount > o.Captured.Amount || o.Captured.Amount+o.ReleasedTotal().Amount > o.Authorized.Amount {
		e.t.Fatalf("refunded %v captured %v released %v authorized %v", o.Refunded, o.Captured, o.ReleasedTotal(), o.Authorized)
	}
	for _, l := range o.Progress {
		if l.Fulfilled+l.Cancelled > l.Ordered || l.Returned > l.Fulfilled || l.Restocked > l.Returned+l.Cancelled || l.Refunded > l.Fulfilled {
			e.t.Fatalf("line %+v", l)
		}
	}
	return o
}

func TestFulfilInPartsReturnAndRefund(t *testing.T) {
	e := newEnv(t, payment.SimulatorConfig{AsyncDelay: -1})
	e.product("TEE", 2000, 10)
	e.product("MUG", 900, 10)
	id := e.orderOf(lq("TEE", 2), lq("MUG", 1))
	total := e.orderState(id).Totals.GrandTotal

	r, err := e.ops.Fulfil(e.ctx, id, FulfilInput{Lines: []domain.LineQuantity{lq("TEE", 1)}, Warehouse: "main", Carrier: "DHL", TrackingNumber: "P1"}, keyed("f1"))
	if err != nil || r.State.Status != domain.OrderStatusPartiallyFulfilled || r.State.Captured.Amount != 2000+r.State.Totals.Shipping.Amount {
		t.Fatalf("first parcel: %s captured %v, %v", r.State.Status, r.State.Captured, err)
	}
	if _, err := e.ops.Fulfil(e.ctx, id, FulfilInput{Lines: []domain.LineQuantity{lq("TEE", 1)}, Carrier: "DHL", TrackingNumber: "P1"}, keyed("f1")); err != nil || e.sim.Calls("capture_part") != 1 {
		t.Fatalf("a repeated request fulfilled again: %v, %d captures", err, e.sim.Calls("capture_part"))
	}
	if _, err := e.ops.Fulfil(e.ctx, id, FulfilInput{Lines: []domain.LineQuantity{lq("TEE", 2)}, Carrier: "DHL", TrackingNumber: "P2"}, admin); !errors.Is(err, domain.ErrIllegalTransition) {
		t.Fatalf("beyond what is left: %v", err)
	}
	if _, err := e.ops.Fulfil(e.ctx, id, FulfilInput{Lines: []domain.LineQuantity{lq("MUG", 1)}, Warehouse: "elsewhere", Carrier: "DHL", TrackingNumber: "P2"}, admin); !errors.Is(err, domain.ErrValidation) {
		t.Fatalf("a warehouse that holds nothing: %v", err)
	}
	r, err = e.ops.Ship(e.ctx, id, "UPS", "P2", admin)
	if err != nil || r.State.Status != domain.OrderStatusFulfilled || r.State.Captured != total || len(r.State.Fulfillments) != 2 {
		t.Fatalf("ship the rest: %s captured %v of %v, %v", r.State.Status, r.State.Captured, total, err)
	}
	e.checkMoney(id)
	f1, f2 := r.State.Fulfillments[0].ID, r.State.Fulfillments[1].ID
	if r, err = e.ops.DeliverFulfillment(e.ctx, id, f1, admin); err != nil || r.State.Status != domain.OrderStatusFulfilled {
		t.Fatalf("one parcel delivered: %s %v", r.State.Status, err)
	}
	if r, err = e.ops.DeliverFulfillment(e.ctx, id, f2, admin); err != nil || r.State.Status != domain.OrderStatusDelivered {
		t.Fatalf("both parcels delivered: %s %v", r.State.Status, err)
	}

	// Alice returns one shirt; the admin approves and receives it with restock.
	alice := commands.Meta{Actor: "alice", Customer: "alice", IdempotencyKey: "ret-1"}
	_, ret, err := e.ops.RequestReturn(e.ctx, id, []domain.ReturnLine{{SKU: "TEE", Quantity: 1, Reason: "too small"}}, alice)
	if err != nil || ret.Status != domain.ReturnRequested {
		t.Fatalf("request return: %+v %v", ret, err)
	}
	if _, _, err := e.ops.RequestReturn(e.ctx, id, []domain.ReturnLine{{SKU: "TEE", Quantity: 1}}, commands.Meta{Actor: "bob", Customer: "bob"}); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("someone else's order: %v", err)
	}
	if got, _ := ReturnOrder(ret.ID); got != id {
		t.Fatalf("return id %s does not lead to order %s", ret.ID, id)
	}
	if _, _, err := e.ops.ReceiveReturn(e.ctx, ret.ID, []domain.ReceivedLine{{SKU: "TEE", Quantity: 1, Restock: true}}, false, admin); !errors.Is(err, domain.ErrIllegalTransition) {
		t.Fatalf("receive before approval: %v", err)
	}
	if _, ret, err = e.ops.ApproveReturn(e.ctx, ret.ID, admin); err != nil || ret.Status != domain.ReturnApproved {
		t.Fatalf("approve: %+v %v", ret, err)
	}
	onHand := e.inv("TEE").Totals().OnHand
	r, ret, err = e.ops.ReceiveReturn(e.ctx, ret.ID, []domain.ReceivedLine{{SKU: "TEE", Quantity: 1, Restock: true}}, false, keyed("recv"))
	if err != nil || ret.Status != domain.ReturnReceived || r.State.Status != domain.OrderStatusPartiallyReturned || r.State.Refunded.Amount != 2000 {
		t.Fatalf("receive: %+v %s refunded %v %v", ret, r.State.Status, r.State.Refunded, err)
	}
	if got := e.inv("TEE").Totals(); got.OnHand != onHand+1 || got.Available() != 10-2+1 {
		t.Fatalf("restock: %+v (was %d on hand)", got, onHand)
	}
	if _, _, err := e.ops.ReceiveReturn(e.ctx, ret.ID, []domain.ReceivedLine{{SKU: "TEE", Quantity: 1, Restock: true}}, false, admin); err != nil ||
		e.sim.Calls("refund") != 1 || e.inv("TEE").Totals().OnHand != onHand+1 {
		t.Fatalf("a repeated receive: %v, %d refunds", err, e.sim.Calls("refund"))
	}

	// Goodwill refund of the mug, with the shipping; then nothing more can be refunded for it.
	r, err = e.ops.RefundLines(e.ctx, id, []domain.RefundLine{{SKU: "MUG", Quantity: 1}}, true, "chipped", keyed("gw"))
	if err != nil || r.State.Refunded.Amount != 2000+900+r.State.Totals.Shipping.Amount {
		t.Fatalf("goodwill refund: refunded %v, %v", r.State.Refunded, err)
	}
	if _, err := e.ops.RefundLines(e.ctx, id, []domain.RefundLine{{SKU: "MUG", Quantity: 1}}, false, "again", admin); !errors.Is(err, domain.ErrIllegalTransition) {
		t.Fatalf("refunding the mug twice: %v", err)
	}
	e.checkMoney(id)
}

func TestCancelLinesReleasesStockAndAuthorization(t *testing.T) {
	e := newEnv(t, payment.SimulatorConfig{AsyncDelay: -1})
	e.product("TEE", 2000, 10)
	e.product("MUG", 900, 10)
	id := e.orderOf(lq("TEE", 2), lq("MUG", 1))
	before := e.orderState(id).Totals.GrandTotal
	r, err := e.ops.CancelLines(e.ctx, id, []domain.LineQuantity{lq("MUG", 1)}, "no longer made", keyed("c1"))
	if err != nil || r.State.Totals.GrandTotal.Amount != before.Amount-900 || r.State.Status != domain.OrderStatusPaid || e.inv("MUG").Available() != 10 {
		t.Fatalf("cancel the mug: %v %s, mug available %d, %v", r.State.Totals.GrandTotal, r.State.Status, e.inv("MUG").Available(), err)
	}
	if _, err := e.ops.CancelLines(e.ctx, id, []domain.LineQuantity{lq("MUG", 1)}, "no longer made", keyed("c1")); err != nil || e.sim.Calls("void_part") != 1 || e.inv("MUG").Available() != 10 {
		t.Fatalf("a repeated cancellation: %v, %d voids, %d available", err, e.sim.Calls("void_part"), e.inv("MUG").Available())
	}
	if r, err = e.ops.Ship(e.ctx, id, "DHL", "T", admin); err != nil || r.State.Status != domain.OrderStatusFulfilled || r.State.Captured.Amount != before.Amount-900 {
		t.Fatalf("ship the rest: %s captured %v, %v", r.State.Status, r.State.Captured, err)
	}
	e.checkMoney(id)

	// Cancelling everything of an order that shipped nothing is the checkout's cancellation.
	whole := e.orderOf(lq("TEE", 1))
	if r, err = e.ops.CancelLines(e.ctx, whole, nil, "", admin); err != nil || r.State.Status != domain.OrderStatusCancelled || r.State.PaymentStatus != domain.PaymentStatusVoided {
		t.Fatalf("cancel all lines: %s/%s %v", r.State.Status, r.State.PaymentStatus, err)
	}
}

// TestConcurrentFulfilCancelRefund fires fulfilments, cancellations and refunds of the same
// units at once: the invariants hold and no unit is taken twice.
func TestConcurrentFulfilCancelRefund(t *testing.T) {
	e := newEnv(t, payment.SimulatorConfig{AsyncDelay: -1})
	e.product("TEE", 1999, 50)
	// Two instances (two processes' worth of Ops: separate in-process locks).
	other, err := New(Config{Runtime: e.rt, Gateway: e.sim, Checkouts: e.co})
	if err != nil {
		t.Fatal(err)
	}
	pick := func(i int) *Ops {
		if i%2 == 0 {
			return other
		}
		return e.ops
	}
	for round := range 3 {
		id := e.orderOf(lq("TEE", 5))
		var wg sync.WaitGroup
		var fulfilled, cancelled atomic.Int64
		for i := range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				switch i % 3 {
				case 0, 1:
					if _, err := pick(i).Fulfil(e.ctx, id, FulfilInput{Lines: []domain.LineQuantity{lq("TEE", 1)}, Carrier: "DHL", TrackingNumber: fmt.Sprint("T", i)}, admin); err == nil {
						fulfilled.Add(1)
					} else if !errors.Is(err, domain.ErrIllegalTransition) {
						t.Errorf("fulfil: %v", err)
					}
				case 2:
					if _, err := pick(i).CancelLines(e.ctx, id, []domain.LineQuantity{lq("TEE", 1)}, "r", admin); err == nil {
						cancelled.Add(1)
					} else if !errors.Is(err, domain.ErrIllegalTransition) {
						t.Errorf("cancel: %v", err)
					}
				}
			}()
		}
		wg.Wait()
		for i := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := pick(i).RefundLines(e.ctx, id, []domain.RefundLine{{SKU: "TEE", Quantity: 1}}, i == 0, "r", admin); err != nil && !errors.Is(err, domain.ErrIllegalTransition) {
					t.Errorf("refund: %v", err)
				}
			}()
		}
		wg.Wait()
		o := e.checkMoney(id)
		p := o.Progress[0]
		if p.Fulfilled != fulfilled.Load() || p.Cancelled != cancelled.Load() || p.Fulfilled+p.Cancelled != 5 || p.Refunded != p.Fulfilled {
			t.Fatalf("round %d: %+v after %d fulfilments and %d cancellations", round, p, fulfilled.Load(), cancelled.Load())
		}
		if o.Refunded != o.Captured {
			t.Fatalf("round %d: refunded %v of captured %v", round, o.Refunded, o.Captured)
		}
	}
}

// lossyGateway performs the gateway call and then loses the answer, as a crash right
// after the gateway moved the money does.
type lossyGateway struct {
	*payment.Simulator
	lose atomic.Int32 // calls to lose the answer of
}

var errLost = errors.New("connection reset (simulated crash after the gateway call)")

func (g *lossyGateway) CapturePart(ctx context.Context, req payment.CaptureRequest) (payment.Result, error) {
	r, err := g.Simulator.CapturePart(ctx, req)
	if g.lose.Add(-1) >= 0 {
		return payment.Result{}, errLost
	}
	return r, err
}

func (g *lossyGateway) Refund(ctx context.Context, req payment.RefundRequest) (payment.Result, error) {
	r, err := g.Simulator.Refund(ctx, req)
	if g.lose.Add(-1) >= 0 {
		return payment.Result{}, errLost
	}
	return r, err
}

// TestCrashMidFulfilmentAndReceiveResumes loses the gateway's answer of a capture and of a
// refund (the process dies after the money moved, before it was recorded); a fresh Ops
// (another process) resumes: the money moved once, and the order records it once.
func TestCrashMidFulfilmentAndReceiveResumes(t *testing.T) {
	e := newEnv(t, payment.SimulatorConfig{AsyncDelay: -1})
	e.product("TEE", 2000, 10)
	id := e.orderOf(lq("TEE", 2))
	lossy := &lossyGateway{Simulator: e.sim}
	crashing, err := New(Config{Runtime: e.rt, Gateway: lossy, Checkouts: e.co})
	if err != nil {
		t.Fatal(err)
	}
	lossy.lose.Store(1)
	if _, err := crashing.Fulfil(e.ctx, id, FulfilInput{Lines: []domain.LineQuantity{lq("TEE", 2)}, Carrier: "DHL", TrackingNumber: "T"}, keyed("f")); !errors.Is(err, errLost) {
		t.Fatalf("want the lost answer, got %v", err)
	}
	if o := e.orderState(id); !o.Pending() || o.Captured.Amount != 0 || e.sim.Calls("capture_part") != 1 {
		t.Fatalf("after the crash: pending %v captured %v gateway captures %d", o.Pending(), o.Captured, e.sim.Calls("capture_part"))
	}
	// The client retries with its key on another instance.
	r, err := e.ops.Fulfil(e.ctx, id, FulfilInput{Lines: []domain.LineQuantity{lq("TEE", 2)}, Carrier: "DHL", TrackingNumber: "T"}, keyed("f"))
	if err != nil || r.State.Pending() || r.State.Captured != r.State.Authorized || e.sim.Calls("capture_part") != 1 || len(r.State.Fulfillments) != 1 {
		t.Fatalf("resumed: %v captured %v, %d gateway captures, %d parcels", err, r.State.Captured, e.sim.Calls("capture_part"), len(r.State.Fulfillments))
	}
	if _, err := e.ops.Deliver(e.ctx, id, admin); err != nil {
		t.Fatal(err)
	}
	_, ret, err := e.ops.RequestReturn(e.ctx, id, []domain.ReturnLine{{SKU: "TEE", Quantity: 2}}, admin)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.ops.ApproveReturn(e.ctx, ret.ID, admin); err != nil {
		t.Fatal(err)
	}
	onHand := e.inv("TEE").Totals().OnHand
	lossy.lose.Store(1)
	if _, _, err := crashing.ReceiveReturn(e.ctx, ret.ID, []domain.ReceivedLine{{SKU: "TEE", Quantity: 2, Restock: true}}, true, admin); !errors.Is(err, errLost) {
		t.Fatalf("want the lost answer, got %v", err)
	}
	// Any later operation on the order settles it; here the explicit Settle of a sweeper.
	if err := e.ops.Settle(e.ctx, id, admin); err != nil {
		t.Fatal(err)
	}
	o := e.checkMoney(id)
	if o.Status != domain.OrderStatusReturned || o.Refunded != o.Captured || e.sim.Calls("refund") != 1 || o.Pending() || e.inv("TEE").Totals().OnHand != onHand+2 {
		t.Fatalf("after resuming: %s refunded %v of %v, %d gateway refunds, on hand %d (was %d)", o.Status, o.Refunded, o.Captured, e.sim.Calls("refund"), e.inv("TEE").Totals().OnHand, onHand)
	}
}

func TestReturnWindow(t *testing.T) {
	e := newEnv(t, payment.SimulatorConfig{AsyncDelay: -1})
	e.product("TEE", 2000, 10)
	id := e.orderOf(lq("TEE", 1))
	if _, err := e.ops.Ship(e.ctx, id, "DHL", "T", admin); err != nil {
		t.Fatal(err)
	}
	alice := commands.Meta{Actor: "alice", Customer: "alice"}
	if _, _, err := e.ops.RequestReturn(e.ctx, id, []domain.ReturnLine{{SKU: "TEE", Quantity: 1}}, alice); !errors.Is(err, domain.ErrIllegalTransition) {
		t.Fatalf("a return before delivery: %v", err)
	}
	if _, err := e.ops.Deliver(e.ctx, id, admin); err != nil {
		t.Fatal(err)
	}
	late, err := New(Config{Runtime: e.rt, Gateway: e.sim, Checkouts: e.co, ReturnWindow: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Millisecond)
	if _, _, err := late.RequestReturn(e.ctx, id, []domain.ReturnLine{{SKU: "TEE", Quantity: 1}}, alice); !errors.Is(err, domain.ErrIllegalTransition) {
		t.Fatalf("a customer's return after the window: %v", err)
	}
	if _, _, err := late.RequestReturn(e.ctx, id, []domain.ReturnLine{{SKU: "TEE", Quantity: 1}}, admin); err != nil {
		t.Fatalf("an admin's return after the window: %v", err)
	}
}

// TestSettlerFinishesWhatACrashLeft: nobody retries; the settler of a restarted process
// finishes the capture, once.
func TestSettlerFinishesWhatACrashLeft(t *testing.T) {
	e := newEnv(t, payment.SimulatorConfig{AsyncDelay: -1})
	e.product("TEE", 2000, 10)
	id := e.orderOf(lq("TEE", 2))
	lossy := &lossyGateway{Simulator: e.sim}
	crashing, err := New(Config{Runtime: e.rt, Gateway: lossy, Checkouts: e.co})
	if err != nil {
		t.Fatal(err)
	}
	lossy.lose.Store(1)
	if _, err := crashing.Fulfil(e.ctx, id, FulfilInput{Lines: []domain.LineQuantity{lq("TEE", 1)}, Carrier: "DHL", TrackingNumber: "T"}, admin); !errors.Is(err, errLost) {
		t.Fatalf("want the lost answer, got %v", err)
	}
	ctx, stop := context.WithCancel(e.ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.ops.RunSettler(ctx, 10*time.Millisecond, func(context.Context) ([]string, error) { return []string{id}, nil }, nil)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for e.orderState(id).Pending() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	<-done
	o := e.checkMoney(id)
	if o.Pending() || e.sim.Calls("capture_part") != 1 || o.Captured.Amount != 2000+o.Totals.Shipping.Amount {
		t.Fatalf("after the settler: pending %v, %d gateway captures, captured %v", o.Pending(), e.sim.Calls("capture_part"), o.Captured)
	}
}
