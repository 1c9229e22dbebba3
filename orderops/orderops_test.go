package orderops

import (
	"errors"
	"testing"

	"github.com/orderengine/orderengine/checkout"
	"github.com/orderengine/orderengine/commands"
	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/payment"
)

func TestCancelShipDeliverRefund(t *testing.T) {
	e := newEnv(t, payment.SimulatorConfig{AsyncDelay: -1})
	e.product("BOOK-1", 2000, 10)
	ops := e.ops

	// Ship captures, deliver, refund never more than captured.
	shipped := e.order(payment.TokenVisa, "BOOK-1", 1)
	e.waitStep(shipped, checkout.StepCompleted)
	r, err := ops.Ship(e.ctx, shipped, "DHL", "TRACK-1", admin)
	if err != nil || r.State.Status != domain.OrderStatusFulfilled || r.State.PaymentStatus != domain.PaymentStatusCaptured {
		t.Fatalf("ship: %+v %v", r.State, err)
	}
	if _, err := ops.Ship(e.ctx, shipped, "DHL", "TRACK-1", admin); err != nil || e.sim.Calls("capture_part") != 1 {
		t.Fatalf("repeated ship: %v, %d captures", err, e.sim.Calls("capture_part"))
	}
	if _, err := ops.Cancel(e.ctx, shipped, "", admin); !errors.Is(err, domain.ErrIllegalTransition) {
		t.Fatalf("cancel after shipment: %v", err)
	}
	if r, err := ops.Deliver(e.ctx, shipped, admin); err != nil || r.State.Status != domain.OrderStatusDelivered {
		t.Fatalf("deliver: %v", err)
	}
	total := r.State.Totals.GrandTotal
	part := domain.Money{Amount: total.Amount / 2, Currency: total.Currency}
	meta := admin
	meta.IdempotencyKey = "refund-1"
	if r, err := ops.Refund(e.ctx, shipped, part, "damaged", meta); err != nil || r.State.Refunded != part {
		t.Fatalf("refund: %+v %v", r.State, err)
	}
	if _, err := ops.Refund(e.ctx, shipped, part, "damaged", meta); err != nil || e.sim.Calls("refund") != 1 {
		t.Fatalf("repeated refund: %v, %d refunds", err, e.sim.Calls("refund"))
	}
	tooMuch := domain.Money{Amount: total.Amount - part.Amount + 1, Currency: total.Currency}
	if _, err := ops.Refund(e.ctx, shipped, tooMuch, "", admin); !errors.Is(err, domain.ErrValidation) || e.sim.Calls("refund") != 1 {
		t.Fatalf("refund above captured: %v, %d refunds", err, e.sim.Calls("refund"))
	}

	// Cancelling a confirmed order voids the authorization and restocks.
	paid := e.order(payment.TokenVisa, "BOOK-1", 2)
	e.waitStep(paid, checkout.StepCompleted)
	onHand := e.inv("BOOK-1").Totals().OnHand
	st, err := ops.Cancel(e.ctx, paid, "changed my mind", commands.Meta{Actor: "alice"})
	if err != nil || !st.Terminal || st.Outcome != checkout.OutcomeCancelled || st.Code != checkout.CodeCancelled {
		t.Fatalf("cancel paid: %+v %v", st, err)
	}
	if o := e.orderState(paid); o.Status != domain.OrderStatusCancelled || o.PaymentStatus != domain.PaymentStatusVoided {
		t.Fatalf("order %+v", o)
	}
	if got := e.inv("BOOK-1").Totals().OnHand; got != onHand+2 {
		t.Fatalf("on hand %d, want %d", got, onHand+2)
	}
	if a := e.sim.Authorizations(paid); a[0].State != "voided" {
		t.Fatalf("authorization %+v", a)
	}

	// Cancelling while the payment is pending releases the stock and voids it.
	pending := e.order(payment.TokenAsync, "BOOK-1", 1)
	e.waitStep(pending, checkout.StepAwaitingPayment)
	if st, err := ops.Cancel(e.ctx, pending, "", admin); err != nil || st.Outcome != checkout.OutcomeCancelled {
		t.Fatalf("cancel pending: %+v %v", st, err)
	}
	if n := e.countFor("inventory-BOOK-1", "inventory.released", pending); n != 1 {
		t.Fatalf("%d releases", n)
	}
	if a := e.sim.Authorizations(pending); len(a) != 1 || a[0].State != "voided" {
		t.Fatalf("pending authorization %+v", a)
	}
	if tot := e.inv("BOOK-1").Totals(); tot.Reserved != 0 {
		t.Fatalf("stock %+v", tot)
	}
}

// TestShipAndCancelRace runs Ship and Cancel of one confirmed order at once, many times:
// exactly one wins, and the loser changes nothing (no capture of a voided order, no
// cancellation of a shipped one).
func TestShipAndCancelRace(t *testing.T) {
	e := newEnv(t, payment.SimulatorConfig{AsyncDelay: -1})
	e.product("MUG-1", 900, 50)
	for i := range 8 {
		id := e.order(payment.TokenVisa, "MUG-1", 1)
		e.waitStep(id, checkout.StepCompleted)
		var shipErr, cancelErr error
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, shipErr = e.ops.Ship(e.ctx, id, "DHL", "T-1", admin)
		}()
		_, cancelErr = e.ops.Cancel(e.ctx, id, "", admin)
		<-done
		o := e.orderState(id)
		switch {
		case shipErr == nil && errors.Is(cancelErr, domain.ErrIllegalTransition):
			if o.Status != domain.OrderStatusFulfilled || o.PaymentStatus != domain.PaymentStatusCaptured {
				t.Fatalf("round %d: ship won but order %s/%s", i, o.Status, o.PaymentStatus)
			}
		case cancelErr == nil && errors.Is(shipErr, domain.ErrIllegalTransition):
			if o.Status != domain.OrderStatusCancelled || o.PaymentStatus != domain.PaymentStatusVoided {
				t.Fatalf("round %d: cancel won but order %s/%s", i, o.Status, o.PaymentStatus)
			}
		default:
			t.Fatalf("round %d: ship %v, cancel %v, order %s/%s", i, shipErr, cancelErr, o.Status, o.PaymentStatus)
		}
	}
}

func TestNewRequiresItsPorts(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Fatal("New accepted an empty Config")
	}
}
