package domain

import (
	"fmt"
	"testing"

	"pgregory.net/rapid"
)

var (
	capProduct = &EditProduct{ProductID: "cap", Name: "Cap", UnitPrice: eur(1500)}
	e1Opened   = OrderEditOpened{OrderID: "o1", EditID: "e1", By: "admin", At: t0}
	e1AddCap   = OrderEditItemStaged{OrderID: "o1", EditID: "e1", Item: EditItem{SKU: "CAP", Quantity: 1, Product: capProduct}, At: t0}
	e1DropMug  = OrderEditItemStaged{OrderID: "o1", EditID: "e1", Item: EditItem{SKU: "MUG", Quantity: 0}, At: t0}
)

func TestOrderEditStageAndPreview(t *testing.T) {
	d := NewOrderDecider()
	given(t, d, o1Paid...).when(OpenOrderEdit{OrderID: "o1", EditID: "e1", By: "admin"}).then(e1Opened)
	given(t, d, o1Placed).when(OpenOrderEdit{OrderID: "o1", EditID: "e1", By: "admin"}).thenError(ErrIllegalTransition)
	given(t, d, append(o1Paid, e1Opened)...).when(OpenOrderEdit{OrderID: "o1", EditID: "e2", By: "admin"}).thenError(ErrIllegalTransition)
	given(t, d, append(o1Paid, e1Opened)...).when(OpenOrderEdit{OrderID: "o1", EditID: "e1", By: "admin"}).thenNothing()
	given(t, d, append(o1Paid, e1Opened)...).when(StageEditItem{OrderID: "o1", EditID: "e1", SKU: "CAP", Quantity: 1, Product: capProduct, Add: true}).then(e1AddCap)
	given(t, d, append(o1Paid, e1Opened)...).when(StageEditItem{OrderID: "o1", EditID: "e1", SKU: "MUG", Quantity: 1, Add: true}).thenError(ErrIllegalTransition)
	given(t, d, append(o1Paid, e1Opened)...).when(StageEditItem{OrderID: "o1", EditID: "e1", SKU: "NOPE", Quantity: 1}).thenError(ErrNotFound)
	given(t, d, append(o1Paid, e1Opened)...).when(StageEditItem{OrderID: "o1", EditID: "e1", SKU: "MUG", Quantity: -1}).thenError(ErrValidation)
	given(t, d, append(o1Paid, e1Opened)...).when(StageEditItem{OrderID: "o1", EditID: "e9", SKU: "MUG", Quantity: 0}).thenError(ErrNotFound)
	paris := berlin
	paris.Country = "FR"
	given(t, d, append(o1Paid, e1Opened)...).when(StageEditAddress{OrderID: "o1", EditID: "e1", Address: paris}).thenError(ErrValidation)

	s := FoldOrder(Order{}, append(o1Paid, e1Opened, e1AddCap, e1DropMug))
	pv, err := PreviewOrderEdit(s, *s.Edit)
	if err != nil {
		t.Fatal(err)
	}
	// CAP: 1500 gross, inclusive 19% → tax 239; MUG (799 paid) leaves.
	if pv.ToAuthorize != eur(1500) || pv.ToRelease != eur(799) || pv.Difference != eur(701) || pv.Totals.GrandTotal != eur(5993) ||
		pv.Totals.Tax != eur(638+239) || len(pv.Lines) != 3 || fmt.Sprint(pv.Reserve) != "[{CAP 1}]" || fmt.Sprint(pv.Release) != "[{MUG 1}]" {
		t.Fatalf("preview: %+v", pv)
	}
}

func TestOrderEditConfirmAllOrNothing(t *testing.T) {
	d := NewOrderDecider()
	staged := append(o1Paid, e1Opened, e1AddCap, e1DropMug)
	s := FoldOrder(Order{}, staged)
	plan, _ := PreviewOrderEdit(s, *s.Edit)
	restock := []EditRestock{{SKU: "MUG", Owner: "o1", Quantity: 1}}
	req := OrderEditConfirmRequested{OrderID: "o1", CustomerID: "alice", EditID: "e1", ConfirmationID: "e1.c1", By: "admin", Plan: plan, Restock: restock, At: t0}
	given(t, d, staged...).when(RequestEditConfirmation{OrderID: "o1", EditID: "e1", By: "admin", Restock: restock}).then(req)
	given(t, d, staged...).when(RequestEditConfirmation{OrderID: "o1", EditID: "e1", By: "admin"}).thenError(ErrValidation)
	confirming := append(staged, req)
	// Nothing else touches lines or money while the edit is being confirmed.
	given(t, d, confirming...).when(fulfil("f1", lq("MUG", 1))).thenError(ErrIllegalTransition)
	given(t, d, confirming...).when(CancelOrder{OrderID: "o1", Reason: "r"}).thenError(ErrIllegalTransition)
	given(t, d, confirming...).when(CancelOrderLines{OrderID: "o1", CancellationID: "c1", Lines: []LineQuantity{lq("MUG", 1)}, Reason: "r"}).thenError(ErrIllegalTransition)
	given(t, d, confirming...).when(StageEditItem{OrderID: "o1", EditID: "e1", SKU: "MUG", Quantity: 1}).thenError(ErrIllegalTransition)
	given(t, d, confirming...).when(RequestEditConfirmation{OrderID: "o1", EditID: "e1", By: "admin", Restock: restock}).thenNothing()

	applied := OrderEditApplied{OrderID: "o1", CustomerID: "alice", EditID: "e1", ConfirmationID: "e1.c1", By: "admin", Plan: plan, At: t0}
	given(t, d, confirming...).when(CompleteOrderEdit{OrderID: "o1", EditID: "e1"}).then(applied).thenState(func(t *testing.T, o Order) {
		if o.Totals != plan.Totals || len(o.Lines) != 3 || o.Progress[1].Cancelled != 1 || o.Progress[2].Ordered != 1 ||
			o.Authorized != eur(5292+1500) || len(o.PendingReleases) != 1 || o.PendingReleases[0].Amount != eur(799) ||
			o.Edit.Status != EditApplied || len(o.AppliedEdits) != 1 || o.AppliedEdits[0].Authorized != eur(1500) {
			t.Fatalf("after the edit: %+v", o)
		}
	})
	given(t, d, append(confirming, applied)...).when(CompleteOrderEdit{OrderID: "o1", EditID: "e1"}).thenNothing()
	given(t, d, append(confirming, applied)...).when(FailOrderEdit{OrderID: "o1", EditID: "e1", Reason: "x"}).thenError(ErrIllegalTransition)

	failed := OrderEditFailed{OrderID: "o1", EditID: "e1", ConfirmationID: "e1.c1", Reason: "declined", At: t0}
	given(t, d, confirming...).when(FailOrderEdit{OrderID: "o1", EditID: "e1", Reason: "declined"}).then(failed).thenState(func(t *testing.T, o Order) {
		before := FoldOrder(Order{}, o1Paid)
		if o.Totals != before.Totals || len(o.Lines) != 2 || o.Authorized != before.Authorized || o.Edit.Status != EditOpen || o.Edit.Reason != "declined" {
			t.Fatalf("a failed confirmation changed the order: %+v", o)
		}
	})
	// The edit is open again; its next confirmation has a new id (new reservations and keys).
	given(t, d, append(confirming, failed)...).when(RequestEditConfirmation{OrderID: "o1", EditID: "e1", By: "admin", Restock: restock}).
		then(OrderEditConfirmRequested{OrderID: "o1", CustomerID: "alice", EditID: "e1", ConfirmationID: "e1.c2", By: "admin", Plan: plan, Restock: restock, At: t0})
	given(t, d, append(confirming, failed)...).when(OpenOrderEdit{OrderID: "o1", EditID: "e2", By: "admin"}).thenError(ErrIllegalTransition)
	// A new edit may be opened after one closed.
	given(t, d, append(confirming, applied)...).when(OpenOrderEdit{OrderID: "o1", EditID: "e2", By: "admin"}).thenError(ErrIllegalTransition) // a release is pending
	given(t, d, append(staged, OrderEditCancelled{OrderID: "o1", EditID: "e1", By: "admin", At: t0})...).when(OpenOrderEdit{OrderID: "o1", EditID: "e2", By: "admin"}).
		then(OrderEditOpened{OrderID: "o1", EditID: "e2", By: "admin", At: t0})
	given(t, d, append(o1Paid, e1Opened)...).when(RequestEditConfirmation{OrderID: "o1", EditID: "e1", By: "admin"}).thenError(ErrIllegalTransition)
	given(t, d, append(o1Paid, e1Opened)...).when(CancelOrderEdit{OrderID: "o1", EditID: "e1", By: "admin"}).
		then(OrderEditCancelled{OrderID: "o1", EditID: "e1", By: "admin", At: t0})
}

func TestOrderEditOnlyUnfulfilledUnits(t *testing.T) {
	d := NewOrderDecider()
	f1 := OrderFulfilled{OrderID: "o1", FulfillmentID: "f1", Lines: []LineQuantity{lq("TEE-RED-M", 1)}, LineAmounts: []Money{eur(1999)},
		Carrier: "DHL", TrackingNumber: "T-f1", Amount: eur(1999 + 495), Shipping: eur(495), At: t0}
	c1 := OrderFulfillmentCaptured{OrderID: "o1", FulfillmentID: "f1", Amount: eur(2494), At: t0}
	h := append(o1Paid, f1, c1, e1Opened)
	given(t, d, h...).when(StageEditItem{OrderID: "o1", EditID: "e1", SKU: "TEE-RED-M", Quantity: 1}).thenState(func(t *testing.T, o Order) {})
	given(t, d, h...).when(StageEditItem{OrderID: "o1", EditID: "e1", SKU: "TEE-RED-M", Quantity: 0}).thenError(ErrIllegalTransition)
	given(t, d, h...).when(StageEditItem{OrderID: "o1", EditID: "e1", SKU: "TEE-RED-M", Quantity: 3}).thenError(ErrIllegalTransition)
	// A fully fulfilled order cannot be edited.
	f2 := OrderFulfilled{OrderID: "o1", FulfillmentID: "f2", Lines: []LineQuantity{lq("TEE-RED-M", 1), lq("MUG", 1)}, LineAmounts: []Money{eur(1999), eur(799)},
		Carrier: "DHL", TrackingNumber: "T-f2", Amount: eur(2798), Shipping: eur(0), At: t0}
	c2 := OrderFulfillmentCaptured{OrderID: "o1", FulfillmentID: "f2", Amount: eur(2798), At: t0}
	given(t, d, append(o1Paid, f1, c1, f2, c2)...).when(OpenOrderEdit{OrderID: "o1", EditID: "e1", By: "admin"}).thenError(ErrIllegalTransition)
}

// policyTotals prices the final quantities of an edit from scratch under the documented
// policy: kept units carry their share, grown lines are re-priced with the coupon's
// percent on the extra units, added lines at their catalog price.
func policyTotals(s Order, final map[string]int64, added map[string]Money, order []string, pct BasisPoints) (Totals, error) {
	var lines []LineAmounts
	var shares []UnitShare
	for i, l := range s.Lines {
		pr := s.Progress[i]
		a := pr.Ordered - pr.Cancelled
		q, ok := final[l.SKU]
		if !ok {
			q = a
		}
		if q <= a {
			shares = append(shares, l.UnitsShare(0, q))
			continue
		}
		extraDisc, _ := Money{l.UnitPrice.Amount * (q - a), "EUR"}.ApplyRate(pct)
		la, err := priceLine(l.UnitPrice, q, Money{l.Discount.Amount + extraDisc.Amount, "EUR"}, TaxRate{Rate: l.TaxRate, Inclusive: l.TaxInclusive})
		if err != nil {
			return Totals{}, err
		}
		lines = append(lines, la)
	}
	for _, sku := range order {
		q := final[sku]
		if q == 0 {
			continue
		}
		d, _ := Money{added[sku].Amount * q, "EUR"}.ApplyRate(pct)
		la, err := priceLine(added[sku], q, d, TaxRate{Rate: s.Lines[0].TaxRate, Inclusive: s.Lines[0].TaxInclusive})
		if err != nil {
			return Totals{}, err
		}
		lines = append(lines, la)
	}
	for _, la := range lines {
		shares = append(shares, UnitShare{Subtotal: la.Subtotal, Discount: la.Discount, Tax: la.Tax, Amount: la.Gross})
	}
	t := Totals{Subtotal: eur(0), Discount: eur(0), Net: eur(0), Tax: eur(0), Gross: eur(0), Shipping: s.Totals.Shipping}
	for _, sh := range shares {
		t.Subtotal.Amount += sh.Subtotal.Amount
		t.Discount.Amount += sh.Discount.Amount
		t.Tax.Amount += sh.Tax.Amount
		t.Gross.Amount += sh.Amount.Amount
		t.Net.Amount += sh.Amount.Amount - sh.Tax.Amount
	}
	t.GrandTotal = Money{t.Gross.Amount + t.Shipping.Amount, "EUR"}
	return t, nil
}

// TestPropertyOrderEditTotals stages any sequence of changes (after some fulfilments and
// cancellations), confirms and applies the edit, and checks: the order's totals equal a
// fresh pricing of the final lines under the policy; then, everything left fulfilled and
// settled, what was captured plus released equals what was authorized (both
// authorizations), and the order's invariants hold.
func TestPropertyOrderEditTotals(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		_, s := paidOrder(t)
		d := NewOrderDecider()
		for i := 0; i < rapid.IntRange(0, 3).Draw(t, "before"); i++ {
			l := s.Lines[rapid.IntRange(0, len(s.Lines)-1).Draw(t, "line")]
			k := rapid.Int64Range(1, l.Quantity).Draw(t, "k")
			var c OrderCommand = FulfilOrder{OrderID: "o1", FulfillmentID: fmt.Sprintf("f%d", i), Lines: []LineQuantity{lq(l.SKU, k)}, Carrier: "c", TrackingNumber: "t"}
			if rapid.Bool().Draw(t, "cancel") {
				c = CancelOrderLines{OrderID: "o1", CancellationID: fmt.Sprintf("c%d", i), Lines: []LineQuantity{lq(l.SKU, k)}, Reason: "r"}
			}
			var err error
			s, _, err = run(t, d, s, c, t0)
			expectedErr(t, err, ErrIllegalTransition)
			s = settle(t, s)
		}
		var coupon *Coupon
		pct := BasisPoints(0)
		if rapid.Bool().Draw(t, "coupon") {
			pct = BasisPoints(rapid.IntRange(1, 5000).Draw(t, "pct"))
			coupon = &Coupon{Code: s.CouponCode, Kind: CouponPercent, PercentOff: pct}
		}
		var err error
		s, _, err = run(t, d, s, OrderCommand(OpenOrderEdit{OrderID: "o1", EditID: "e1", By: "admin", Coupon: coupon}), t0)
		if s.editable() != "" {
			expectedErr(t, err, ErrIllegalTransition)
			return
		}
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		final := map[string]int64{}
		added := map[string]Money{}
		var addOrder []string
		for step := 0; step < rapid.IntRange(1, 8).Draw(t, "steps"); step++ {
			var c StageEditItem
			if rapid.Bool().Draw(t, "new") {
				sku := fmt.Sprintf("NEW-%d", rapid.IntRange(0, 2).Draw(t, "newSku"))
				price := eur(rapid.Int64Range(0, 30000).Draw(t, "price"))
				c = StageEditItem{OrderID: "o1", EditID: "e1", SKU: sku, Quantity: rapid.Int64Range(0, 5).Draw(t, "q"), Product: &EditProduct{ProductID: "p", Name: "n", UnitPrice: price}, Add: rapid.Bool().Draw(t, "add")}
			} else {
				l := s.Lines[rapid.IntRange(0, len(s.Lines)-1).Draw(t, "line")]
				c = StageEditItem{OrderID: "o1", EditID: "e1", SKU: l.SKU, Quantity: rapid.Int64Range(0, l.Quantity+3).Draw(t, "q")}
			}
			var evs []Event
			s, evs, err = run(t, d, s, OrderCommand(c), t0)
			expectedErr(t, err, ErrIllegalTransition, ErrValidation, ErrNotFound)
			for _, e := range evs {
				it := e.(OrderEditItemStaged).Item
				final[it.SKU] = it.Quantity
				if it.Product != nil {
					added[it.SKU] = it.Product.UnitPrice
					if !contains(addOrder, it.SKU) {
						addOrder = append(addOrder, it.SKU)
					}
				}
			}
		}
		want, err := policyTotals(s, final, added, addOrder, pct)
		if err != nil {
			t.Skip("amount overflow")
		}
		pv, err := PreviewOrderEdit(s, *s.Edit)
		if err != nil {
			t.Fatalf("preview: %v", err)
		}
		if pv.Totals != want {
			t.Fatalf("preview totals %+v, fresh pricing %+v", pv.Totals, want)
		}
		var restock []EditRestock
		for _, r := range pv.Release {
			restock = append(restock, EditRestock{SKU: r.SKU, Owner: "o1", Quantity: r.Quantity})
		}
		s, _, err = run(t, d, s, OrderCommand(RequestEditConfirmation{OrderID: "o1", EditID: "e1", By: "admin", Restock: restock}), t0)
		if err != nil {
			expectedErr(t, err, ErrIllegalTransition)
			return
		}
		if s, _, err = run(t, d, s, OrderCommand(CompleteOrderEdit{OrderID: "o1", EditID: "e1"}), t0); err != nil {
			t.Fatalf("complete: %v", err)
		}
		if s.Totals != want {
			t.Fatalf("order totals %+v, fresh pricing %+v", s.Totals, want)
		}
		checkTotalsMatchLines(t, s)
		s = settle(t, s)
		checkOrderInvariants(t, s)
		if open := s.UnfulfilledLines(); len(open) > 0 {
			if s, _, err = run(t, d, s, OrderCommand(FulfilOrder{OrderID: "o1", FulfillmentID: "rest", Lines: open, Carrier: "c", TrackingNumber: "t"}), t0); err != nil {
				t.Fatalf("fulfil the rest: %v", err)
			}
			s = settle(t, s)
		}
		checkOrderInvariants(t, s)
		if s.Captured.Amount+s.ReleasedTotal().Amount != s.Authorized.Amount {
			t.Fatalf("captured %v + released %v ≠ authorized %v (edits %+v)", s.Captured, s.ReleasedTotal(), s.Authorized, s.AppliedEdits)
		}
	})
}

// checkTotalsMatchLines: the totals are the sum of every line's active units.
func checkTotalsMatchLines(t *rapid.T, s Order) {
	var gross int64
	for i, l := range s.Lines {
		gross += l.UnitsShare(0, s.Progress[i].Ordered-s.Progress[i].Cancelled).Amount.Amount
		if err := l.Check(); err != nil {
			t.Fatalf("line %s: %v", l.SKU, err)
		}
	}
	if gross != s.Totals.Gross.Amount || s.Totals.GrandTotal.Amount != gross+s.Totals.Shipping.Amount {
		t.Fatalf("lines sum to %d, totals %+v", gross, s.Totals)
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func TestPaymentAuthorizationIncrease(t *testing.T) {
	d := NewPaymentDecider()
	req := PaymentAuthorizationRequested{PaymentID: "o1", OrderID: "o1", Amount: eur(5292), Method: "tok_visa", At: t0}
	auth := PaymentAuthorized{PaymentID: "o1", OrderID: "o1", GatewayRef: "auth_1", At: t0}
	inc := PaymentAuthorizationIncreased{PaymentID: "o1", OrderID: "o1", IncrementID: "e1", Amount: eur(1500), At: t0}
	given(t, d, req, auth).when(IncreaseAuthorization{PaymentID: "o1", IncrementID: "e1", Amount: eur(1500)}).then(inc).thenState(func(t *testing.T, p Payment) {
		if p.Amount != eur(6792) || p.Uncommitted() != eur(6792) {
			t.Fatalf("after the increment: %+v", p)
		}
	})
	given(t, d, req, auth, inc).when(IncreaseAuthorization{PaymentID: "o1", IncrementID: "e1", Amount: eur(1500)}).thenNothing()
	given(t, d, req).when(IncreaseAuthorization{PaymentID: "o1", IncrementID: "e1", Amount: eur(1500)}).thenError(ErrIllegalTransition)
	given(t, d, req, auth).when(IncreaseAuthorization{PaymentID: "o1", IncrementID: "e1", Amount: eur(-1)}).thenError(ErrValidation)
}
