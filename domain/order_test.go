package domain

import (
	"testing"
)

func orderLine(sku string, qty, unit, discount int64) Line {
	a, err := priceLine(eur(unit), qty, eur(discount), TaxRate{Rate: 1900, Inclusive: true})
	if err != nil {
		panic(err)
	}
	return Line{SKU: sku, ProductID: "p-" + sku, Name: sku, Quantity: qty, UnitPrice: eur(unit), LineAmounts: a}
}

var (
	placeO1 = PlaceOrder{
		OrderID: "o1", CustomerID: "alice", CartID: "c1", Currency: "EUR",
		Lines:    []Line{orderLine("TEE-RED-M", 2, 1999, 0), orderLine("MUG", 1, 899, 100)},
		Shipping: eur(495), ShippingAddress: berlin, BillingAddress: berlin,
	}
	o1Placed = OrderPlaced{
		OrderID: "o1", CustomerID: "alice", CartID: "c1", Currency: "EUR", Lines: placeO1.Lines,
		// 3998 + 799 gross; tax 638 + 128 (799×19/119 = 127.57 → 128)
		Totals:          Totals{Subtotal: eur(4897), Discount: eur(100), Net: eur(4031), Tax: eur(766), Gross: eur(4797), Shipping: eur(495), GrandTotal: eur(5292)},
		ShippingAddress: berlin, BillingAddress: berlin, At: t0,
	}
	o1Authorized = OrderPaymentAuthorized{OrderID: "o1", PaymentID: "pay1", Amount: eur(5292), At: t0}
	o1Confirmed  = OrderConfirmed{OrderID: "o1", At: t0}
	o1Captured   = OrderPaymentCaptured{OrderID: "o1", Amount: eur(5292), At: t0}
	o1Shipped    = OrderShipped{OrderID: "o1", Carrier: "DHL", TrackingNumber: "JD0001", At: t0}
)

func TestOrderPlace(t *testing.T) {
	d := NewOrderDecider()
	given(t, d).when(placeO1).then(o1Placed).thenState(func(t *testing.T, o Order) {
		if o.Status != OrderStatusPending || o.PaymentStatus != PaymentStatusPending || o.FulfillmentStatus != FulfillmentUnfulfilled {
			t.Fatalf("statuses %s/%s/%s", o.Status, o.PaymentStatus, o.FulfillmentStatus)
		}
	})
	given(t, d, o1Placed).when(placeO1).thenError(ErrAlreadyExists)

	tampered := placeO1
	tampered.Lines = []Line{orderLine("TEE-RED-M", 2, 1999, 0)}
	tampered.Lines[0].Tax = eur(1) // gross ≠ net + tax
	given(t, d).when(tampered).thenError(ErrValidation)
	tampered.Lines = []Line{orderLine("A", 1, 100, 0), orderLine("A", 1, 100, 0)}
	given(t, d).when(tampered).thenError(ErrValidation)
	tampered.Lines = nil
	given(t, d).when(tampered).thenError(ErrValidation)
	usd := placeO1
	usd.Currency = "USD"
	given(t, d).when(usd).thenError(ErrValidation)
	noAddr := placeO1
	noAddr.BillingAddress = Address{}
	given(t, d).when(noAddr).thenError(ErrValidation)
}

func TestOrderHappyPath(t *testing.T) {
	d := NewOrderDecider()
	given(t, d, o1Placed).when(MarkOrderPaymentAuthorized{OrderID: "o1", PaymentID: "pay1", Amount: eur(5292)}).then(o1Authorized)
	given(t, d, o1Placed).when(MarkOrderPaymentAuthorized{OrderID: "o1", PaymentID: "pay1", Amount: eur(5000)}).thenError(ErrValidation)
	given(t, d, o1Placed, o1Authorized).when(MarkOrderPaymentAuthorized{OrderID: "o1", PaymentID: "pay1", Amount: eur(5292)}).thenNothing()

	given(t, d, o1Placed).when(ConfirmOrder{OrderID: "o1"}).thenError(ErrIllegalTransition) // not authorized
	given(t, d, o1Placed, o1Authorized).when(ConfirmOrder{OrderID: "o1"}).then(o1Confirmed).
		thenState(func(t *testing.T, o Order) {
			if o.Status != OrderStatusPaid || o.PaymentStatus != PaymentStatusAuthorized {
				t.Fatalf("%s/%s", o.Status, o.PaymentStatus)
			}
		})
	paid := []Event{o1Placed, o1Authorized, o1Confirmed}
	given(t, d, paid...).when(ConfirmOrder{OrderID: "o1"}).thenNothing()
	given(t, d, paid...).when(DeliverOrder{OrderID: "o1"}).thenError(ErrIllegalTransition)
	given(t, d, paid...).when(MarkOrderPaymentCaptured{OrderID: "o1", Amount: eur(5292)}).then(o1Captured)
	given(t, d, paid...).when(MarkOrderPaymentCaptured{OrderID: "o1", Amount: eur(5293)}).thenError(ErrValidation)
	given(t, d, paid...).when(ShipOrder{OrderID: "o1", Carrier: "DHL", TrackingNumber: "JD0001"}).then(o1Shipped)
	given(t, d, paid...).when(ShipOrder{OrderID: "o1", Carrier: "DHL"}).thenError(ErrValidation)

	shipped := append(paid, o1Captured, o1Shipped)
	given(t, d, shipped...).when(ShipOrder{OrderID: "o1", Carrier: "DHL", TrackingNumber: "JD0001"}).thenNothing()
	given(t, d, shipped...).when(ShipOrder{OrderID: "o1", Carrier: "UPS", TrackingNumber: "1Z"}).thenError(ErrIllegalTransition)
	given(t, d, shipped...).when(CancelOrder{OrderID: "o1", Reason: "changed my mind"}).thenError(ErrIllegalTransition)
	given(t, d, shipped...).when(DeliverOrder{OrderID: "o1"}).then(OrderDelivered{OrderID: "o1", At: t0}).
		thenState(func(t *testing.T, o Order) {
			if o.Status != OrderStatusDelivered || o.FulfillmentStatus != FulfillmentDelivered || o.PaymentStatus != PaymentStatusCaptured {
				t.Fatalf("%s/%s/%s", o.Status, o.FulfillmentStatus, o.PaymentStatus)
			}
		})
	given(t, d, append(shipped, OrderDelivered{OrderID: "o1", At: t0})...).when(DeliverOrder{OrderID: "o1"}).thenNothing()
}

func TestOrderCancelAndCompensate(t *testing.T) {
	d := NewOrderDecider()
	cancelled := OrderCancelled{OrderID: "o1", CustomerID: "alice", Reason: "out of stock", At: t0}
	given(t, d, o1Placed).when(CancelOrder{OrderID: "o1", Reason: "out of stock"}).then(cancelled)
	given(t, d, o1Placed).when(CancelOrder{OrderID: "o1"}).thenError(ErrValidation) // reason required
	given(t, d, o1Placed, cancelled).when(CancelOrder{OrderID: "o1", Reason: "again"}).thenNothing()
	given(t, d, o1Placed, cancelled).when(ConfirmOrder{OrderID: "o1"}).thenError(ErrIllegalTransition)
	given(t, d, o1Placed, cancelled).when(MarkOrderPaymentAuthorized{OrderID: "o1", PaymentID: "pay1", Amount: eur(5292)}).thenError(ErrIllegalTransition)

	// declined payment: failed, then cancelled
	given(t, d, o1Placed).when(MarkOrderPaymentFailed{OrderID: "o1", Reason: "card declined"}).
		then(OrderPaymentFailed{OrderID: "o1", Reason: "card declined", At: t0})
	failed := []Event{o1Placed, OrderPaymentFailed{OrderID: "o1", Reason: "card declined", At: t0}}
	given(t, d, failed...).when(ConfirmOrder{OrderID: "o1"}).thenError(ErrIllegalTransition)
	given(t, d, failed...).when(CancelOrder{OrderID: "o1", Reason: "payment declined"}).then(OrderCancelled{OrderID: "o1", CustomerID: "alice", Reason: "payment declined", At: t0})

	// authorized, then cancelled: the authorization is voided
	given(t, d, o1Placed, o1Authorized, o1Confirmed, cancelled).when(MarkOrderPaymentVoided{OrderID: "o1"}).
		then(OrderPaymentVoided{OrderID: "o1", At: t0}).thenState(func(t *testing.T, o Order) {
		if o.Status != OrderStatusCancelled || o.PaymentStatus != PaymentStatusVoided {
			t.Fatalf("%s/%s", o.Status, o.PaymentStatus)
		}
	})
	given(t, d, o1Placed).when(MarkOrderPaymentVoided{OrderID: "o1"}).thenError(ErrIllegalTransition)
	given(t, d).when(CancelOrder{OrderID: "nope", Reason: "x"}).thenError(ErrNotFound)
}

func TestOrderRefunds(t *testing.T) {
	d := NewOrderDecider()
	delivered := []Event{o1Placed, o1Authorized, o1Confirmed, o1Captured, o1Shipped, OrderDelivered{OrderID: "o1", At: t0}}
	r1 := OrderRefunded{OrderID: "o1", RefundID: "r1", Amount: eur(1999), Reason: "returned one tee", At: t0}
	given(t, d, delivered...).when(RefundOrder{OrderID: "o1", RefundID: "r1", Amount: eur(1999), Reason: "returned one tee"}).then(r1).
		thenState(func(t *testing.T, o Order) {
			if o.PaymentStatus != PaymentStatusPartiallyRefunded || o.Refundable() != eur(3293) {
				t.Fatalf("%s, refundable %v", o.PaymentStatus, o.Refundable())
			}
		})
	given(t, d, append(delivered, r1)...).when(RefundOrder{OrderID: "o1", RefundID: "r1", Amount: eur(1999)}).thenNothing()
	given(t, d, append(delivered, r1)...).when(RefundOrder{OrderID: "o1", RefundID: "r2", Amount: eur(3294)}).thenError(ErrValidation)
	given(t, d, append(delivered, r1)...).when(RefundOrder{OrderID: "o1", RefundID: "r2", Amount: eur(3293)}).
		thenState(func(t *testing.T, o Order) {
			if o.PaymentStatus != PaymentStatusRefunded || !o.Refundable().IsZero() {
				t.Fatalf("%s, refundable %v", o.PaymentStatus, o.Refundable())
			}
		})
	// nothing captured yet: nothing to refund
	given(t, d, o1Placed, o1Authorized, o1Confirmed).when(RefundOrder{OrderID: "o1", RefundID: "r1", Amount: eur(1)}).thenError(ErrValidation)
}

func TestOrderTransitionTable(t *testing.T) {
	for _, from := range []OrderStatus{"", OrderStatusPending, OrderStatusPaid, OrderStatusShipped, OrderStatusDelivered, OrderStatusCancelled} {
		for _, to := range NextStatuses(from) {
			if !CanTransition(from, to) {
				t.Errorf("%q → %q", from, to)
			}
		}
	}
	for _, bad := range [][2]OrderStatus{
		{OrderStatusShipped, OrderStatusCancelled}, {OrderStatusDelivered, OrderStatusPending},
		{OrderStatusCancelled, OrderStatusPaid}, {OrderStatusPending, OrderStatusShipped},
	} {
		if CanTransition(bad[0], bad[1]) {
			t.Errorf("%q → %q allowed", bad[0], bad[1])
		}
	}
}
