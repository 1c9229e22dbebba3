package domain

import (
	"fmt"
	"testing"
	"time"

	"pgregory.net/rapid"
)

var o1Paid = []Event{o1Placed, o1Authorized, o1Confirmed}

func fulfil(id string, lines ...LineQuantity) FulfilOrder {
	return FulfilOrder{OrderID: "o1", FulfillmentID: id, Lines: lines, Carrier: "DHL", TrackingNumber: "T-" + id}
}

func lq(sku string, n int64) LineQuantity { return LineQuantity{SKU: sku, Quantity: n} }

func TestUnitsShareCumulativeFloor(t *testing.T) {
	a, err := priceLine(eur(1000), 3, eur(100), TaxRate{Rate: 1900})
	if err != nil {
		t.Fatal(err)
	}
	l := Line{SKU: "X", Quantity: 3, UnitPrice: eur(1000), LineAmounts: a} // net 2900, tax 551
	var disc, tax, amount []int64
	for k := int64(0); k < 3; k++ {
		s := l.UnitsShare(k, 1)
		disc, tax, amount = append(disc, s.Discount.Amount), append(tax, s.Tax.Amount), append(amount, s.Amount.Amount)
	}
	if fmt.Sprint(disc) != "[33 33 34]" || fmt.Sprint(tax) != "[183 184 184]" || fmt.Sprint(amount) != "[1150 1151 1150]" {
		t.Fatalf("unit shares: discount %v tax %v amount %v", disc, tax, amount)
	}
	if all := l.UnitsShare(0, 3); all.Amount != l.Gross || all.Tax != l.Tax || all.Discount != l.Discount {
		t.Fatalf("all units %+v ≠ line %+v", all, l.LineAmounts)
	}
}

func TestOrderFulfilInParts(t *testing.T) {
	d := NewOrderDecider()
	f1 := OrderFulfilled{OrderID: "o1", FulfillmentID: "f1", Lines: []LineQuantity{lq("TEE-RED-M", 1)}, LineAmounts: []Money{eur(1999)},
		Carrier: "DHL", TrackingNumber: "T-f1", Amount: eur(1999 + 495), Shipping: eur(495), At: t0}
	given(t, d, o1Paid...).when(fulfil("f1", lq("TEE-RED-M", 1))).then(f1).thenState(func(t *testing.T, o Order) {
		if o.Status != OrderStatusPartiallyFulfilled || o.Progress[0].Fulfilled != 1 || !o.Pending() || o.Captured.Amount != 0 {
			t.Fatalf("after a first parcel: %s %+v pending=%v captured %v", o.Status, o.Progress, o.Pending(), o.Captured)
		}
	})
	given(t, d, append(o1Paid, f1)...).when(fulfil("f1", lq("TEE-RED-M", 1))).thenNothing()
	given(t, d, append(o1Paid, f1)...).when(fulfil("f2", lq("TEE-RED-M", 2))).thenError(ErrIllegalTransition)
	given(t, d, o1Paid...).when(fulfil("f2", lq("NOPE", 1))).thenError(ErrValidation)
	given(t, d, o1Paid...).when(fulfil("f2")).thenError(ErrValidation)
	given(t, d, o1Placed).when(fulfil("f2", lq("MUG", 1))).thenError(ErrIllegalTransition)

	c1 := OrderFulfillmentCaptured{OrderID: "o1", FulfillmentID: "f1", Amount: eur(2494), At: t0}
	given(t, d, append(o1Paid, f1)...).when(MarkFulfillmentCaptured{OrderID: "o1", FulfillmentID: "f1"}).then(c1)
	f2 := OrderFulfilled{OrderID: "o1", FulfillmentID: "f2", Lines: []LineQuantity{lq("TEE-RED-M", 1), lq("MUG", 1)}, LineAmounts: []Money{eur(1999), eur(799)},
		Carrier: "DHL", TrackingNumber: "T-f2", Amount: eur(2798), Shipping: eur(0), At: t0}
	given(t, d, append(o1Paid, f1, c1)...).when(fulfil("f2", lq("MUG", 1), lq("TEE-RED-M", 1))).then(f2).thenState(func(t *testing.T, o Order) {
		if o.Status != OrderStatusFulfilled || o.FulfillmentStatus != FulfillmentShipped {
			t.Fatalf("all units shipped: %s/%s", o.Status, o.FulfillmentStatus)
		}
	})
	c2 := OrderFulfillmentCaptured{OrderID: "o1", FulfillmentID: "f2", Amount: eur(2798), At: t0}
	// The last capture completes the shipment: OrderShipped for readers of the whole order.
	shipped := OrderShipped{OrderID: "o1", Carrier: "DHL", TrackingNumber: "T-f2", At: t0}
	given(t, d, append(o1Paid, f1, c1, f2)...).when(MarkFulfillmentCaptured{OrderID: "o1", FulfillmentID: "f2"}).then(c2, shipped).
		thenState(func(t *testing.T, o Order) {
			if o.Status != OrderStatusFulfilled || !o.AllShipped {
				t.Fatalf("after the last capture: %s", o.Status)
			}
		})
	c2 = OrderFulfillmentCaptured{OrderID: "o1", FulfillmentID: "f2", Amount: eur(2798), At: t0}
	d1 := OrderFulfillmentDelivered{OrderID: "o1", FulfillmentID: "f1", At: t0}
	given(t, d, append(o1Paid, f1, c1, f2, c2, shipped)...).when(DeliverFulfillment{OrderID: "o1", FulfillmentID: "f1"}).then(d1).thenState(func(t *testing.T, o Order) {
		if o.Status != OrderStatusFulfilled || o.Captured != o.Authorized {
			t.Fatalf("one of two parcels delivered: %s, captured %v of %v", o.Status, o.Captured, o.Authorized)
		}
	})
	given(t, d, append(o1Paid, f1, c1, f2, c2, shipped, d1)...).when(DeliverFulfillment{OrderID: "o1", FulfillmentID: "f2"}).
		then(OrderFulfillmentDelivered{OrderID: "o1", FulfillmentID: "f2", At: t0}, OrderDelivered{OrderID: "o1", At: t0}).thenState(func(t *testing.T, o Order) {
		if o.Status != OrderStatusDelivered || o.DeliveredAt == nil {
			t.Fatalf("every parcel delivered: %s", o.Status)
		}
	})
	given(t, d, append(o1Paid, f1, c1, f2, c2, shipped, d1)...).when(DeliverFulfillment{OrderID: "o1", FulfillmentID: "f1"}).thenNothing()
	given(t, d, append(o1Paid, f1)...).when(DeliverFulfillment{OrderID: "o1", FulfillmentID: "nope"}).thenError(ErrNotFound)
}

func TestOrderCancelLines(t *testing.T) {
	d := NewOrderDecider()
	f1 := OrderFulfilled{OrderID: "o1", FulfillmentID: "f1", Lines: []LineQuantity{lq("TEE-RED-M", 1)}, LineAmounts: []Money{eur(1999)},
		Carrier: "DHL", TrackingNumber: "T-f1", Amount: eur(2494), Shipping: eur(495), At: t0}
	c1 := OrderFulfillmentCaptured{OrderID: "o1", FulfillmentID: "f1", Amount: eur(2494), At: t0}
	cancelMug := CancelOrderLines{OrderID: "o1", CancellationID: "x1", Lines: []LineQuantity{lq("MUG", 1)}, Reason: "out of print"}
	given(t, d, o1Paid...).when(cancelMug).then(OrderLinesCancelled{OrderID: "o1", CancellationID: "x1", Lines: []LineQuantity{lq("MUG", 1)},
		LineAmounts: []UnitShare{{Subtotal: eur(899), Discount: eur(100), Tax: eur(128), Amount: eur(799)}}, Amount: eur(799), Reason: "out of print", At: t0}).
		thenState(func(t *testing.T, o Order) {
			if o.Totals.GrandTotal.Amount != 5292-799 || o.Totals.Tax.Amount != 766-128 || o.Status != OrderStatusPaid || len(o.PendingReleases) != 1 {
				t.Fatalf("after cancelling the mug: %+v %s", o.Totals, o.Status)
			}
		})
	// Everything with nothing shipped is a whole-order cancellation, not this.
	given(t, d, o1Paid...).when(CancelOrderLines{OrderID: "o1", CancellationID: "x1", Reason: "r"}).thenError(ErrIllegalTransition)
	// All that is left after one shirt shipped: the other shirt (from the back) and the mug.
	given(t, d, append(o1Paid, f1, c1)...).when(CancelOrderLines{OrderID: "o1", CancellationID: "x1", Reason: "r"}).thenState(func(t *testing.T, o Order) {
		if o.Status != OrderStatusFulfilled || o.PendingReleases[0].Amount.Amount != 1999+799 || o.Captured.Amount+o.PendingReleases[0].Amount.Amount != o.Authorized.Amount {
			t.Fatalf("after cancelling the rest: %s %+v", o.Status, o.PendingReleases)
		}
	})
	given(t, d, append(o1Paid, f1, c1)...).when(CancelOrderLines{OrderID: "o1", CancellationID: "x1", Lines: []LineQuantity{lq("TEE-RED-M", 2)}, Reason: "r"}).thenError(ErrIllegalTransition)
	rel := OrderAuthorizationReleased{OrderID: "o1", CancellationID: "x1", Amount: eur(799), At: t0}
	cancelled := OrderLinesCancelled{OrderID: "o1", CancellationID: "x1", Lines: []LineQuantity{lq("MUG", 1)},
		LineAmounts: []UnitShare{{Subtotal: eur(899), Discount: eur(100), Tax: eur(128), Amount: eur(799)}}, Amount: eur(799), Reason: "r", At: t0}
	given(t, d, append(o1Paid, cancelled)...).when(MarkAuthorizationReleased{OrderID: "o1", CancellationID: "x1"}).then(rel)
	given(t, d, append(o1Paid, cancelled, rel)...).when(cancelMug).thenNothing()
	given(t, d, append(o1Paid, cancelled, rel)...).when(fulfil("f1", lq("MUG", 1))).thenError(ErrIllegalTransition)
}

func TestOrderReturns(t *testing.T) {
	d := NewOrderDecider()
	f1 := OrderFulfilled{OrderID: "o1", FulfillmentID: "f1", Lines: []LineQuantity{lq("TEE-RED-M", 2), lq("MUG", 1)}, LineAmounts: []Money{eur(3998), eur(799)},
		Carrier: "DHL", TrackingNumber: "T-f1", Amount: eur(5292), Shipping: eur(495), At: t0}
	c1 := OrderFulfillmentCaptured{OrderID: "o1", FulfillmentID: "f1", Amount: eur(5292), At: t0}
	d1 := OrderFulfillmentDelivered{OrderID: "o1", FulfillmentID: "f1", At: t0}
	h := append(append([]Event{}, o1Paid...), f1, c1, OrderShipped{OrderID: "o1", Carrier: "DHL", TrackingNumber: "T-f1", At: t0}, d1)
	req := RequestReturn{OrderID: "o1", ReturnID: "r1", Lines: []ReturnLine{{SKU: "TEE-RED-M", Quantity: 1, Reason: "too small"}}, Window: 14 * 24 * time.Hour}
	requested := OrderReturnRequested{OrderID: "o1", ReturnID: "r1", Lines: req.Lines, At: t0.Add(time.Hour)}
	given(t, d, h...).at(t0.Add(time.Hour)).when(req).then(requested)
	given(t, d, h...).at(t0.Add(15 * 24 * time.Hour)).when(req).thenError(ErrIllegalTransition)
	byAdmin := req
	byAdmin.ByAdmin = true
	given(t, d, h...).at(t0.Add(15 * 24 * time.Hour)).when(byAdmin).then(OrderReturnRequested{OrderID: "o1", ReturnID: "r1", Lines: req.Lines, At: t0.Add(15 * 24 * time.Hour)})
	given(t, d, o1Paid[0], o1Paid[1], o1Paid[2], f1, c1).when(req).thenError(ErrIllegalTransition) // not delivered yet
	tooMany := req
	tooMany.ReturnID, tooMany.Lines = "r2", []ReturnLine{{SKU: "TEE-RED-M", Quantity: 2}}
	given(t, d, append(h, requested)...).when(tooMany).thenError(ErrIllegalTransition) // one already in a return

	receive := ReceiveReturn{OrderID: "o1", ReturnID: "r1", RefundID: "rf1", Lines: []ReceivedLine{{SKU: "TEE-RED-M", Quantity: 1, Restock: true, Warehouse: "main"}}, RefundShipping: true}
	given(t, d, append(h, requested)...).when(receive).thenError(ErrIllegalTransition) // not approved
	approved := OrderReturnApproved{OrderID: "o1", ReturnID: "r1", At: t0}
	given(t, d, append(h, requested)...).when(ApproveReturn{OrderID: "o1", ReturnID: "r1"}).then(approved)
	received := OrderReturnReceived{OrderID: "o1", ReturnID: "r1", RefundID: "rf1", Lines: receive.Lines, At: t0}
	refundReq := OrderRefundRequested{OrderID: "o1", RefundID: "rf1", ReturnID: "r1",
		Lines:    []RefundLine{{SKU: "TEE-RED-M", Quantity: 1, UnitShare: UnitShare{Subtotal: eur(1999), Discount: eur(0), Tax: eur(319), Amount: eur(1999)}}},
		Shipping: eur(495), Amount: eur(1999 + 495), Reason: "return r1", At: t0}
	given(t, d, append(h, requested, approved)...).when(receive).then(received, refundReq).thenState(func(t *testing.T, o Order) {
		p := o.Progress[0]
		if o.Status != OrderStatusPartiallyReturned || p.Returned != 1 || p.Restocked != 1 || p.Refunded != 1 || p.ReturnRequested != 0 || !o.ShippingRefunded {
			t.Fatalf("after receiving: %s %+v", o.Status, p)
		}
	})
	wrong := receive
	wrong.Lines = []ReceivedLine{{SKU: "TEE-RED-M", Quantity: 2}}
	given(t, d, append(h, requested, approved)...).when(wrong).thenError(ErrValidation)
	settled := OrderRefunded{OrderID: "o1", RefundID: "rf1", Amount: eur(2494), Reason: "return r1", At: t0}
	given(t, d, append(h, requested, approved, received, refundReq)...).when(RefundOrder{OrderID: "o1", RefundID: "rf1", Amount: eur(2494)}).then(settled).thenState(func(t *testing.T, o Order) {
		if o.Refunded.Amount != 2494 || len(o.PendingRefunds) != 0 || o.PaymentStatus != PaymentStatusPartiallyRefunded {
			t.Fatalf("after settling: %v %+v %s", o.Refunded, o.PendingRefunds, o.PaymentStatus)
		}
	})
	given(t, d, append(h, requested, approved, received, refundReq)...).when(RefundOrder{OrderID: "o1", RefundID: "rf1", Amount: eur(1)}).thenError(ErrValidation)
	given(t, d, append(h, requested, approved, received, refundReq, settled)...).when(receive).thenNothing()
	given(t, d, append(h, requested)...).when(RejectReturn{OrderID: "o1", ReturnID: "r1", Reason: "worn"}).
		then(OrderReturnRejected{OrderID: "o1", ReturnID: "r1", Reason: "worn", At: t0}).thenState(func(t *testing.T, o Order) {
		if o.Progress[0].ReturnRequested != 0 {
			t.Fatalf("a rejected return still holds units: %+v", o.Progress[0])
		}
	})

	// Goodwill refund by line: never more units than shipped and not yet refunded.
	goodwill := RefundOrderLines{OrderID: "o1", RefundID: "rf2", Lines: []RefundLine{{SKU: "MUG", Quantity: 1}}, Reason: "chipped"}
	given(t, d, h...).when(goodwill).then(OrderRefundRequested{OrderID: "o1", RefundID: "rf2",
		Lines:    []RefundLine{{SKU: "MUG", Quantity: 1, UnitShare: UnitShare{Subtotal: eur(899), Discount: eur(100), Tax: eur(128), Amount: eur(799)}}},
		Shipping: eur(0), Amount: eur(799), Reason: "chipped", At: t0})
	twice := goodwill
	twice.Lines = []RefundLine{{SKU: "MUG", Quantity: 2}}
	given(t, d, h...).when(twice).thenError(ErrIllegalTransition)
	given(t, d, o1Paid[0], o1Paid[1], o1Paid[2], f1).when(goodwill).thenError(ErrIllegalTransition) // capture pending
	// An amount refund counts against what line refunds can take, and the other way round.
	given(t, d, append(h, OrderRefunded{OrderID: "o1", RefundID: "rfa", Amount: eur(5000), At: t0})...).when(goodwill).thenError(ErrIllegalTransition)
}

// paidOrder generates a paid order with random lines (prices, discounts, tax modes) and
// shipping, returned as its history.
func paidOrder(t *rapid.T) ([]Event, Order) {
	n := rapid.IntRange(1, 4).Draw(t, "lines")
	rate := TaxRate{Rate: BasisPoints(rapid.IntRange(0, 2500).Draw(t, "rate")), Inclusive: rapid.Bool().Draw(t, "inclusive")}
	var lines []Line
	for i := 0; i < n; i++ {
		qty := rapid.Int64Range(1, 7).Draw(t, "qty")
		unit := rapid.Int64Range(1, 50000).Draw(t, "unit")
		disc := rapid.Int64Range(0, unit*qty).Draw(t, "discount")
		a, err := priceLine(eur(unit), qty, eur(disc), rate)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, Line{SKU: fmt.Sprintf("SKU-%d", i), ProductID: "p", Name: "n", Quantity: qty, UnitPrice: eur(unit), LineAmounts: a})
	}
	place := placeO1
	place.Lines, place.Shipping = lines, eur(rapid.Int64Range(0, 1000).Draw(t, "shipping"))
	d := NewOrderDecider()
	var h []Event
	s := Order{}
	for _, c := range []OrderCommand{place, MarkOrderPaymentAuthorized{OrderID: "o1", PaymentID: "pay1"}, ConfirmOrder{OrderID: "o1"}} {
		if a, ok := c.(MarkOrderPaymentAuthorized); ok {
			a.Amount = s.Totals.GrandTotal
			c = a
		}
		var evs []Event
		var err error
		s, evs, err = run(t, d, s, c, t0)
		if err != nil {
			t.Fatalf("%T: %v", c, err)
		}
		h = append(h, evs...)
	}
	return h, s
}

// settle settles every pending money movement as the order operations do once the gateway
// answered.
func settle(t *rapid.T, s Order) Order {
	d := NewOrderDecider()
	var cmds []OrderCommand
	for _, f := range s.Fulfillments {
		if !f.Captured {
			cmds = append(cmds, MarkFulfillmentCaptured{OrderID: "o1", FulfillmentID: f.ID})
		}
	}
	for _, r := range s.PendingReleases {
		cmds = append(cmds, MarkAuthorizationReleased{OrderID: "o1", CancellationID: r.CancellationID})
	}
	for _, r := range s.PendingRefunds {
		cmds = append(cmds, RefundOrder{OrderID: "o1", RefundID: r.RefundID, Amount: r.Amount})
	}
	for _, c := range cmds {
		var err error
		if s, _, err = run(t, d, s, c, t0); err != nil {
			t.Fatalf("settle %T: %v", c, err)
		}
	}
	return s
}

// splits draws a random split of n units into parts.
func splits(t *rapid.T, n int64, label string) []int64 {
	var out []int64
	for n > 0 {
		k := rapid.Int64Range(1, n).Draw(t, label)
		out = append(out, k)
		n -= k
	}
	return out
}

func TestPropertyRefundingEverythingRefundsWhatWasCaptured(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		_, s := paidOrder(t)
		d := NewOrderDecider()
		id := 0
		next := func() string { id++; return fmt.Sprintf("id%d", id) }
		// Fulfil every line in random parcels.
		for _, l := range s.Lines {
			for _, k := range splits(t, l.Quantity, "fulfil") {
				var err error
				if s, _, err = run(t, d, s, OrderCommand(FulfilOrder{OrderID: "o1", FulfillmentID: next(), Lines: []LineQuantity{lq(l.SKU, k)}, Carrier: "c", TrackingNumber: "t"}), t0); err != nil {
					t.Fatal(err)
				}
				s = settle(t, s)
				checkOrderInvariants(t, s)
			}
		}
		if s.Captured != s.Authorized || s.Status != OrderStatusFulfilled {
			t.Fatalf("fully fulfilled: captured %v of %v, %s", s.Captured, s.Authorized, s.Status)
		}
		// Refund every line in random splits; the shipping with a random one.
		shipAt := rapid.IntRange(0, len(s.Lines)-1).Draw(t, "shipAt")
		var tax int64
		for i, l := range s.Lines {
			for j, k := range splits(t, l.Quantity, "refund") {
				var evs []Event
				var err error
				cmd := RefundOrderLines{OrderID: "o1", RefundID: next(), Lines: []RefundLine{{SKU: l.SKU, Quantity: k}}, RefundShipping: i == shipAt && j == 0}
				if s, evs, err = run(t, d, s, OrderCommand(cmd), t0); err != nil {
					t.Fatalf("refund %+v: %v", cmd, err)
				}
				for _, e := range evs {
					if r, ok := e.(OrderRefundRequested); ok {
						for _, rl := range r.Lines {
							tax += rl.Tax.Amount
						}
					}
				}
				s = settle(t, s)
				checkOrderInvariants(t, s)
			}
		}
		if s.Refunded != s.Captured || s.PaymentStatus != PaymentStatusRefunded && s.Captured.IsPositive() {
			t.Fatalf("refunded %v of captured %v (%s)", s.Refunded, s.Captured, s.PaymentStatus)
		}
		if tax != s.Totals.Tax.Amount {
			t.Fatalf("tax refunded %d, order tax %d", tax, s.Totals.Tax.Amount)
		}
		for i, p := range s.Progress {
			if p.RefundedAmount != s.Lines[i].Gross || p.CapturedAmount != s.Lines[i].Gross {
				t.Fatalf("line %s: captured %v refunded %v gross %v", p.SKU, p.CapturedAmount, p.RefundedAmount, s.Lines[i].Gross)
			}
		}
	})
}

// TestPropertyInvariantsUnderAnyOperations fires random fulfilments, cancellations,
// returns and refunds (some of which must fail) and checks every invariant after each.
func TestPropertyInvariantsUnderAnyOperations(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		_, s := paidOrder(t)
		d := NewOrderDecider()
		now := t0
		for step := 0; step < 25; step++ {
			id := fmt.Sprintf("x%d", step)
			l := s.Lines[rapid.IntRange(0, len(s.Lines)-1).Draw(t, "line")]
			k := rapid.Int64Range(1, l.Quantity).Draw(t, "k")
			var c OrderCommand
			switch rapid.IntRange(0, 6).Draw(t, "op") {
			case 0:
				c = FulfilOrder{OrderID: "o1", FulfillmentID: id, Lines: []LineQuantity{lq(l.SKU, k)}, Carrier: "c", TrackingNumber: "t"}
			case 1:
				c = CancelOrderLines{OrderID: "o1", CancellationID: id, Lines: []LineQuantity{lq(l.SKU, k)}, Reason: "r"}
			case 2:
				c = RequestReturn{OrderID: "o1", ReturnID: id, Lines: []ReturnLine{{SKU: l.SKU, Quantity: k}}, ByAdmin: true}
			case 3:
				if len(s.Returns) > 0 {
					r := s.Returns[rapid.IntRange(0, len(s.Returns)-1).Draw(t, "ret")]
					c = ApproveReturn{OrderID: "o1", ReturnID: r.ID}
				}
			case 4:
				if len(s.Returns) > 0 {
					r := s.Returns[rapid.IntRange(0, len(s.Returns)-1).Draw(t, "ret")]
					c = ReceiveReturn{OrderID: "o1", ReturnID: r.ID, RefundID: id, Lines: []ReceivedLine{{SKU: r.Lines[0].SKU, Quantity: r.Lines[0].Quantity, Restock: rapid.Bool().Draw(t, "restock")}},
						RefundShipping: rapid.Bool().Draw(t, "ship")}
				}
			case 5:
				c = RefundOrderLines{OrderID: "o1", RefundID: id, Lines: []RefundLine{{SKU: l.SKU, Quantity: k, Restock: rapid.Bool().Draw(t, "restock")}}, RefundShipping: rapid.Bool().Draw(t, "ship")}
			case 6:
				for _, f := range s.Fulfillments {
					if f.DeliveredAt == nil {
						c = DeliverFulfillment{OrderID: "o1", FulfillmentID: f.ID}
					}
				}
			}
			if c == nil {
				continue
			}
			var err error
			s, _, err = run(t, d, s, c, now)
			expectedErr(t, err, ErrIllegalTransition, ErrValidation, ErrNotFound)
			if rapid.Bool().Draw(t, "settle") {
				s = settle(t, s)
			}
			checkOrderInvariants(t, s)
		}
		s = settle(t, s)
		checkOrderInvariants(t, s)
		var open int64
		for i, p := range s.Progress {
			open += s.Lines[i].UnitsShare(p.Fulfilled, p.Open()).Amount.Amount
		}
		shipping := s.Totals.Shipping.Amount
		if s.fulfilledAny() {
			shipping = 0
		}
		if s.Captured.Amount+s.ReleasedTotal().Amount+open+shipping != s.Authorized.Amount {
			t.Fatalf("captured %v + released %v + open %d + shipping %d ≠ authorized %v", s.Captured, s.ReleasedTotal(), open, shipping, s.Authorized)
		}
	})
}

func checkOrderInvariants(t *rapid.T, s Order) {
	if s.Refunded.Amount+s.pendingRefunds() > s.Captured.Amount+pendingCaptures(s) || s.Captured.Amount > s.Authorized.Amount {
		t.Fatalf("refunded %v (+%d pending) captured %v authorized %v", s.Refunded, s.pendingRefunds(), s.Captured, s.Authorized)
	}
	for _, p := range s.Progress {
		if p.Fulfilled+p.Cancelled > p.Ordered || p.Returned > p.Fulfilled || p.Restocked > p.Returned || p.Refunded > p.Fulfilled ||
			p.RefundedAmount.Amount > p.CapturedAmount.Amount || p.ReturnRequested < 0 || p.Returned+p.ReturnRequested > p.Fulfilled {
			t.Fatalf("line invariants broken: %+v", p)
		}
	}
}

func pendingCaptures(s Order) int64 {
	var n int64
	for _, f := range s.Fulfillments {
		if !f.Captured {
			n += f.Amount.Amount
		}
	}
	return n
}
