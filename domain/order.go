package domain

import (
	"fmt"
	"slices"
	"time"
)

// OrderStatus is the main lifecycle of an order:
//
//	pending → paid → shipped → delivered
//	pending → cancelled, paid → cancelled
type OrderStatus string

const (
	OrderStatusPending   OrderStatus = "pending"   // placed; stock and payment in progress
	OrderStatusPaid      OrderStatus = "paid"      // confirmed: stock reserved, payment authorized
	OrderStatusShipped   OrderStatus = "shipped"   //
	OrderStatusDelivered OrderStatus = "delivered" //
	OrderStatusCancelled OrderStatus = "cancelled" //
)

// orderTransitions lists the legal status changes.
var orderTransitions = map[OrderStatus][]OrderStatus{
	"":                   {OrderStatusPending},
	OrderStatusPending:   {OrderStatusPaid, OrderStatusCancelled},
	OrderStatusPaid:      {OrderStatusShipped, OrderStatusCancelled, OrderStatusPartiallyFulfilled, OrderStatusFulfilled},
	OrderStatusShipped:   {OrderStatusDelivered},
	OrderStatusDelivered: {OrderStatusPartiallyReturned, OrderStatusReturned},
	OrderStatusCancelled: nil,
	// Fulfilment in parts and returns (order_fulfilment.go).
	OrderStatusPartiallyFulfilled: {OrderStatusFulfilled, OrderStatusDelivered, OrderStatusPartiallyReturned, OrderStatusReturned},
	OrderStatusFulfilled:          {OrderStatusDelivered, OrderStatusPartiallyReturned, OrderStatusReturned},
	OrderStatusPartiallyReturned:  {OrderStatusReturned},
	OrderStatusReturned:           nil,
}

// CanTransition reports whether an order may move from one status to another.
func CanTransition(from, to OrderStatus) bool { return slices.Contains(orderTransitions[from], to) }

// NextStatuses lists the statuses an order may move to from a status.
func NextStatuses(from OrderStatus) []OrderStatus { return slices.Clone(orderTransitions[from]) }

// PaymentStatus is the order's view of its payment.
type PaymentStatus string

const (
	PaymentStatusPending           PaymentStatus = "pending" // not authorized yet
	PaymentStatusAuthorized        PaymentStatus = "authorized"
	PaymentStatusFailed            PaymentStatus = "failed" // declined or errored
	PaymentStatusVoided            PaymentStatus = "voided"
	PaymentStatusCaptured          PaymentStatus = "captured"
	PaymentStatusPartiallyRefunded PaymentStatus = "partially_refunded"
	PaymentStatusRefunded          PaymentStatus = "refunded"
)

// FulfillmentStatus is the order's shipping progress.
type FulfillmentStatus string

const (
	FulfillmentUnfulfilled FulfillmentStatus = "unfulfilled"
	FulfillmentShipped     FulfillmentStatus = "shipped"
	FulfillmentDelivered   FulfillmentStatus = "delivered"
)

// Shipment is how an order was sent.
type Shipment struct {
	Carrier        string    `json:"carrier"`
	TrackingNumber string    `json:"trackingNumber"`
	ShippedAt      time.Time `json:"shippedAt"`
}

// Refund is money given back on an order.
type Refund struct {
	RefundID string    `json:"refundId"`
	Amount   Money     `json:"amount"`
	Reason   string    `json:"reason,omitempty"`
	At       time.Time `json:"at"`
}

// Order is the state of an order. The zero value does not exist.
type Order struct {
	ID                string            `json:"id"`
	CustomerID        string            `json:"customerId"`
	CartID            string            `json:"cartId,omitempty"`
	Currency          string            `json:"currency"`
	Lines             []Line            `json:"lines"`
	Totals            Totals            `json:"totals"`
	CouponCode        string            `json:"couponCode,omitempty"`
	ShippingAddress   Address           `json:"shippingAddress"`
	BillingAddress    Address           `json:"billingAddress"`
	Status            OrderStatus       `json:"status"`
	PaymentStatus     PaymentStatus     `json:"paymentStatus"`
	FulfillmentStatus FulfillmentStatus `json:"fulfillmentStatus"`
	PaymentID         string            `json:"paymentId,omitempty"`
	Authorized        Money             `json:"authorized"`
	Captured          Money             `json:"captured"`
	Refunded          Money             `json:"refunded"`
	Refunds           []Refund          `json:"refunds,omitempty"`
	Shipment          *Shipment         `json:"shipment,omitempty"`
	CancelReason      string            `json:"cancelReason,omitempty"`
	// After payment (order_fulfilment.go): per-line counts in line order, parcels,
	// returns, and money movements recorded but not settled at the gateway yet.
	Progress         []OrderLineProgress `json:"progress,omitempty"`
	Fulfillments     []Fulfillment       `json:"fulfillments,omitempty"`
	Returns          []Return            `json:"returns,omitempty"`
	PendingRefunds   []PendingRefund     `json:"pendingRefunds,omitempty"`
	PendingReleases  []PendingRelease    `json:"pendingReleases,omitempty"`
	Cancellations    []string            `json:"cancellations,omitempty"` // settled line cancellations
	ShippingRefunded bool                `json:"shippingRefunded,omitempty"`
	AllShipped       bool                `json:"allShipped,omitempty"` // OrderShipped recorded after the last parcel
	DeliveredAt      *time.Time          `json:"deliveredAt,omitempty"`
	// The latest edit (orderedit.go) and the edits applied.
	Edit         *OrderEdit    `json:"edit,omitempty"`
	AppliedEdits []AppliedEdit `json:"appliedEdits,omitempty"`
	PlacedAt     time.Time     `json:"placedAt"`
	UpdatedAt    time.Time     `json:"updatedAt"`
}

// Exists reports whether the order has been placed.
func (o Order) Exists() bool { return o.Status != "" }

// Refundable is what can still be refunded: captured minus refunded.
func (o Order) Refundable() Money {
	return Money{Amount: o.Captured.Amount - o.Refunded.Amount, Currency: o.Currency}
}

// OrderCommand is a command to the Order decider.
type OrderCommand interface {
	Command
	orderCommand()
}

// PlaceOrder creates an order from checked-out cart lines (price snapshots with their
// discount and tax already computed); the decider verifies every line and sums the totals.
type PlaceOrder struct {
	OrderID         string
	CustomerID      string
	CartID          string
	Currency        string
	Lines           []Line
	Shipping        Money
	CouponCode      string
	ShippingAddress Address
	BillingAddress  Address
}

// MarkOrderPaymentAuthorized records that the payment for the full total was authorized.
type MarkOrderPaymentAuthorized struct {
	OrderID   string
	PaymentID string
	Amount    Money
}

// MarkOrderPaymentFailed records a declined or failed authorization.
type MarkOrderPaymentFailed struct {
	OrderID string
	Reason  string
}

// ConfirmOrder moves a pending order whose payment is authorized to paid.
type ConfirmOrder struct {
	OrderID string
}

// MarkOrderPaymentCaptured records the capture (at shipment).
type MarkOrderPaymentCaptured struct {
	OrderID string
	Amount  Money
}

// MarkOrderPaymentVoided records that an uncaptured authorization was voided.
type MarkOrderPaymentVoided struct {
	OrderID string
}

// ShipOrder records the shipment.
type ShipOrder struct {
	OrderID        string
	Carrier        string
	TrackingNumber string
}

// DeliverOrder records the delivery.
type DeliverOrder struct {
	OrderID string
}

// CancelOrder cancels a pending or paid (not yet shipped) order.
type CancelOrder struct {
	OrderID string
	Reason  string
}

// RefundOrder records a refund, partial or full, never above what was captured and not yet
// refunded. Repeating a RefundID is a no-op.
type RefundOrder struct {
	OrderID  string
	RefundID string
	Amount   Money
	Reason   string
}

func (c PlaceOrder) AggregateID() string                 { return c.OrderID }
func (c MarkOrderPaymentAuthorized) AggregateID() string { return c.OrderID }
func (c MarkOrderPaymentFailed) AggregateID() string     { return c.OrderID }
func (c ConfirmOrder) AggregateID() string               { return c.OrderID }
func (c MarkOrderPaymentCaptured) AggregateID() string   { return c.OrderID }
func (c MarkOrderPaymentVoided) AggregateID() string     { return c.OrderID }
func (c ShipOrder) AggregateID() string                  { return c.OrderID }
func (c DeliverOrder) AggregateID() string               { return c.OrderID }
func (c CancelOrder) AggregateID() string                { return c.OrderID }
func (c RefundOrder) AggregateID() string                { return c.OrderID }
func (PlaceOrder) orderCommand()                         {}
func (MarkOrderPaymentAuthorized) orderCommand()         {}
func (MarkOrderPaymentFailed) orderCommand()             {}
func (ConfirmOrder) orderCommand()                       {}
func (MarkOrderPaymentCaptured) orderCommand()           {}
func (MarkOrderPaymentVoided) orderCommand()             {}
func (ShipOrder) orderCommand()                          {}
func (DeliverOrder) orderCommand()                       {}
func (CancelOrder) orderCommand()                        {}
func (RefundOrder) orderCommand()                        {}

// Order events.
type (
	OrderPlaced struct {
		OrderID         string    `json:"orderId"`
		CustomerID      string    `json:"customerId" privacy:"subject"`
		CartID          string    `json:"cartId,omitempty"`
		Currency        string    `json:"currency"`
		Lines           []Line    `json:"lines"`
		Totals          Totals    `json:"totals"`
		CouponCode      string    `json:"couponCode,omitempty"`
		ShippingAddress Address   `json:"shippingAddress"`
		BillingAddress  Address   `json:"billingAddress"`
		At              time.Time `json:"at"`
	}
	OrderPaymentAuthorized struct {
		OrderID   string    `json:"orderId"`
		PaymentID string    `json:"paymentId"`
		Amount    Money     `json:"amount"`
		At        time.Time `json:"at"`
	}
	OrderPaymentFailed struct {
		OrderID string    `json:"orderId"`
		Reason  string    `json:"reason"`
		At      time.Time `json:"at"`
	}
	OrderConfirmed struct {
		OrderID string    `json:"orderId"`
		At      time.Time `json:"at"`
	}
	OrderPaymentCaptured struct {
		OrderID string    `json:"orderId"`
		Amount  Money     `json:"amount"`
		At      time.Time `json:"at"`
	}
	OrderPaymentVoided struct {
		OrderID string    `json:"orderId"`
		At      time.Time `json:"at"`
	}
	OrderShipped struct {
		OrderID        string    `json:"orderId"`
		Carrier        string    `json:"carrier"`
		TrackingNumber string    `json:"trackingNumber"`
		At             time.Time `json:"at"`
	}
	OrderDelivered struct {
		OrderID string    `json:"orderId"`
		At      time.Time `json:"at"`
	}
	OrderCancelled struct {
		OrderID string `json:"orderId"`
		// CustomerID is the data subject of the reason, which a customer may have typed.
		CustomerID string    `json:"customerId,omitempty" privacy:"subject"`
		Reason     string    `json:"reason" privacy:"personal"`
		At         time.Time `json:"at"`
	}
	OrderRefunded struct {
		OrderID  string    `json:"orderId"`
		RefundID string    `json:"refundId"`
		Amount   Money     `json:"amount"`
		Reason   string    `json:"reason,omitempty"`
		At       time.Time `json:"at"`
	}
)

func (OrderPlaced) EventType() string            { return "order.placed" }
func (OrderPaymentAuthorized) EventType() string { return "order.payment_authorized" }
func (OrderPaymentFailed) EventType() string     { return "order.payment_failed" }
func (OrderConfirmed) EventType() string         { return "order.confirmed" }
func (OrderPaymentCaptured) EventType() string   { return "order.payment_captured" }
func (OrderPaymentVoided) EventType() string     { return "order.payment_voided" }
func (OrderShipped) EventType() string           { return "order.shipped" }
func (OrderDelivered) EventType() string         { return "order.delivered" }
func (OrderCancelled) EventType() string         { return "order.cancelled" }
func (OrderRefunded) EventType() string          { return "order.refunded" }

// NewOrderDecider returns the Order decider.
func NewOrderDecider() Decider[Order, OrderCommand] {
	return newDecider[Order, OrderCommand](CategoryOrder, DecideOrder)
}

// EvolveOrder applies one event to an order.
func EvolveOrder(s Order, e Event) Order { return evolve(s, e) }

// FoldOrder applies events in order.
func FoldOrder(s Order, events []Event) Order { return fold(s, events) }

// DecideOrder decides an order command. Repeating the command that led to the current
// state (confirm a paid order, cancel a cancelled one…) is a no-op, so a resumed saga can
// re-send its last step; any other move the status table forbids is ErrIllegalTransition.
func DecideOrder(s Order, c OrderCommand, now time.Time) ([]Event, error) {
	now = now.UTC()
	if place, ok := c.(PlaceOrder); ok {
		if s.Exists() {
			return nil, alreadyExists("order", s.ID)
		}
		return decidePlaceOrder(place, now)
	}
	if !s.Exists() {
		return nil, notFound("order", c.AggregateID())
	}
	if err := editGuard(s, c); err != nil {
		return nil, err
	}
	if isEditCommand(c) {
		return decideOrderEdit(s, c, now)
	}
	no := func(action, reason string) error { return illegal("order", s.ID, string(s.Status), action, reason) }
	switch c := c.(type) {
	case MarkOrderPaymentAuthorized:
		if s.PaymentStatus == PaymentStatusAuthorized && s.PaymentID == c.PaymentID {
			return nil, nil
		}
		if s.Status != OrderStatusPending || s.PaymentStatus != PaymentStatusPending {
			return nil, no("authorize payment for", "payment is "+string(s.PaymentStatus))
		}
		if err := ValidateID("paymentId", c.PaymentID); err != nil {
			return nil, err
		}
		if c.Amount != s.Totals.GrandTotal {
			return nil, invalid("amount", "authorized %s does not match the order total %s", c.Amount, s.Totals.GrandTotal)
		}
		return []Event{OrderPaymentAuthorized{OrderID: s.ID, PaymentID: c.PaymentID, Amount: c.Amount, At: now}}, nil

	case MarkOrderPaymentFailed:
		if s.PaymentStatus == PaymentStatusFailed {
			return nil, nil
		}
		if s.Status != OrderStatusPending || s.PaymentStatus != PaymentStatusPending {
			return nil, no("record a failed payment for", "payment is "+string(s.PaymentStatus))
		}
		return []Event{OrderPaymentFailed{OrderID: s.ID, Reason: c.Reason, At: now}}, nil

	case ConfirmOrder:
		if s.Status == OrderStatusPaid {
			return nil, nil
		}
		if s.Status != OrderStatusPending {
			return nil, no("confirm", "")
		}
		if s.PaymentStatus != PaymentStatusAuthorized {
			return nil, no("confirm", "payment is not authorized")
		}
		return []Event{OrderConfirmed{OrderID: s.ID, At: now}}, nil

	case MarkOrderPaymentCaptured:
		if s.Captured.IsPositive() && c.Amount == s.Captured {
			return nil, nil
		}
		if s.PaymentStatus != PaymentStatusAuthorized || !(s.Status == OrderStatusPaid || s.Status == OrderStatusShipped || s.Status == OrderStatusDelivered) {
			return nil, no("capture payment for", "payment is "+string(s.PaymentStatus))
		}
		if c.Amount.Currency != s.Currency || !c.Amount.IsPositive() || c.Amount.Amount > s.Authorized.Amount {
			return nil, invalid("amount", "must be a positive %s amount of at most the authorized %s", s.Currency, s.Authorized)
		}
		return []Event{OrderPaymentCaptured{OrderID: s.ID, Amount: c.Amount, At: now}}, nil

	case MarkOrderPaymentVoided:
		if s.PaymentStatus == PaymentStatusVoided {
			return nil, nil
		}
		if s.PaymentStatus != PaymentStatusAuthorized {
			return nil, no("void payment for", "payment is "+string(s.PaymentStatus))
		}
		return []Event{OrderPaymentVoided{OrderID: s.ID, At: now}}, nil

	case ShipOrder:
		var p problems
		validateText(&p, "carrier", c.Carrier, MaxNameLength, true)
		validateText(&p, "trackingNumber", c.TrackingNumber, MaxNameLength, true)
		if err := p.err(); err != nil {
			return nil, err
		}
		if s.Status == OrderStatusShipped && s.Shipment != nil && s.Shipment.Carrier == c.Carrier && s.Shipment.TrackingNumber == c.TrackingNumber {
			return nil, nil
		}
		if !CanTransition(s.Status, OrderStatusShipped) {
			return nil, no("ship", "")
		}
		return []Event{OrderShipped{OrderID: s.ID, Carrier: c.Carrier, TrackingNumber: c.TrackingNumber, At: now}}, nil

	case DeliverOrder:
		if s.Status == OrderStatusDelivered {
			return nil, nil
		}
		if !CanTransition(s.Status, OrderStatusDelivered) {
			return nil, no("deliver", "")
		}
		return []Event{OrderDelivered{OrderID: s.ID, At: now}}, nil

	case CancelOrder:
		if s.Status == OrderStatusCancelled {
			return nil, nil
		}
		var p problems
		validateText(&p, "reason", c.Reason, MaxNameLength, true)
		if err := p.err(); err != nil {
			return nil, err
		}
		if !CanTransition(s.Status, OrderStatusCancelled) {
			return nil, no("cancel", "it has already shipped; request a return instead")
		}
		return []Event{OrderCancelled{OrderID: s.ID, CustomerID: s.CustomerID, Reason: c.Reason, At: now}}, nil

	case FulfilOrder, MarkFulfillmentCaptured, DeliverFulfillment, CancelOrderLines, MarkAuthorizationReleased,
		RequestReturn, ApproveReturn, RejectReturn, ReceiveReturn, RefundOrderLines:
		return decideAfterPayment(s, c, now)

	case RefundOrder:
		if slices.ContainsFunc(s.Refunds, func(r Refund) bool { return r.RefundID == c.RefundID }) {
			return nil, nil
		}
		// Settling a refund by line recorded earlier: its amount was decided then.
		if i := slices.IndexFunc(s.PendingRefunds, func(r PendingRefund) bool { return r.RefundID == c.RefundID }); i >= 0 {
			pr := s.PendingRefunds[i]
			if c.Amount != pr.Amount {
				return nil, invalid("amount", "refund %s was recorded for %s", pr.RefundID, pr.Amount)
			}
			return []Event{OrderRefunded{OrderID: s.ID, RefundID: pr.RefundID, Amount: pr.Amount, Reason: pr.Reason, At: now}}, nil
		}
		var p problems
		p.addErr("refundId", ValidateID("", c.RefundID))
		validateText(&p, "reason", c.Reason, MaxNameLength, false)
		if c.Amount.Currency != s.Currency || !c.Amount.IsPositive() {
			p.add("amount", "must be a positive %s amount", s.Currency)
		}
		if err := p.err(); err != nil {
			return nil, err
		}
		if left := s.Refundable(); c.Amount.Amount > left.Amount-s.pendingRefunds() {
			return nil, invalid("amount", "refund of %s exceeds the %s captured and not yet refunded", c.Amount, Money{left.Amount - s.pendingRefunds(), s.Currency})
		}
		return []Event{OrderRefunded{OrderID: s.ID, RefundID: c.RefundID, Amount: c.Amount, Reason: c.Reason, At: now}}, nil
	}
	return nil, invalid("", "unsupported order command %T", c)
}

func decidePlaceOrder(c PlaceOrder, now time.Time) ([]Event, error) {
	var p problems
	p.addErr("orderId", ValidateID("", c.OrderID))
	validateCustomer(&p, "customerId", c.CustomerID)
	if c.CartID != "" {
		p.addErr("cartId", ValidateID("", c.CartID))
	}
	p.addErr("currency", ValidateCurrency(c.Currency))
	if c.CouponCode != "" {
		p.addErr("couponCode", ValidateCouponCode("", c.CouponCode))
	}
	p.addErr("shippingAddress", c.ShippingAddress.Validate())
	p.addErr("billingAddress", c.BillingAddress.Validate())
	if len(c.Lines) == 0 {
		p.add("lines", "an order needs at least one line")
	}
	if len(c.Lines) > MaxCartLines {
		p.add("lines", "at most %d lines", MaxCartLines)
	}
	seen := map[string]bool{}
	for i, l := range c.Lines {
		f := fieldIndex("lines", i)
		p.addErr(f, l.Check())
		if l.UnitPrice.Currency != c.Currency {
			p.add(f+".unitPrice", "must be in the order currency %s", c.Currency)
		}
		if seen[l.SKU] {
			p.add(f+".sku", "%s appears twice", l.SKU)
		}
		seen[l.SKU] = true
	}
	shipping := c.Shipping
	if shipping == (Money{}) {
		shipping = Zero(c.Currency)
	}
	if shipping.Currency != c.Currency || shipping.IsNegative() {
		p.add("shipping", "must be a non-negative %s amount", c.Currency)
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	lines := cloneSlice(c.Lines)
	totals, err := SumLines(c.Currency, lines, shipping)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrValidation, err)
	}
	return []Event{OrderPlaced{
		OrderID: c.OrderID, CustomerID: c.CustomerID, CartID: c.CartID, Currency: c.Currency,
		Lines: lines, Totals: totals, CouponCode: c.CouponCode,
		ShippingAddress: c.ShippingAddress, BillingAddress: c.BillingAddress, At: now,
	}}, nil
}

// PlaceOrderFromCart builds the PlaceOrder command for a checked-out (or about to be)
// cart: its lines as price snapshots, its shipping charge and its applied coupon.
func PlaceOrderFromCart(orderID string, cart Cart, billing Address) PlaceOrder {
	po := PlaceOrder{
		OrderID: orderID, CustomerID: cart.CustomerID, CartID: cart.ID, Currency: cart.Currency,
		Lines: cloneSlice(cart.Lines), Shipping: cart.Totals.Shipping, BillingAddress: billing,
	}
	if cart.ShippingAddress != nil {
		po.ShippingAddress = *cart.ShippingAddress
	}
	if cp := cart.AppliedCoupon(); cp != nil {
		po.CouponCode = cp.Code
	}
	return po
}

func (s Order) clone() Order {
	s.Lines = cloneSlice(s.Lines)
	s.Refunds = cloneSlice(s.Refunds)
	s.Progress = cloneSlice(s.Progress)
	s.Fulfillments = cloneSlice(s.Fulfillments)
	s.Returns = cloneSlice(s.Returns)
	s.PendingRefunds = cloneSlice(s.PendingRefunds)
	s.PendingReleases = cloneSlice(s.PendingReleases)
	s.Cancellations = cloneSlice(s.Cancellations)
	s.AppliedEdits = cloneSlice(s.AppliedEdits)
	if s.Shipment != nil {
		sh := *s.Shipment
		s.Shipment = &sh
	}
	return s
}

func (s *Order) apply(e Event) {
	switch e := e.(type) {
	case OrderPlaced:
		z := Zero(e.Currency)
		*s = Order{
			ID: e.OrderID, CustomerID: e.CustomerID, CartID: e.CartID, Currency: e.Currency,
			Lines: cloneSlice(e.Lines), Totals: e.Totals, CouponCode: e.CouponCode,
			ShippingAddress: e.ShippingAddress, BillingAddress: e.BillingAddress,
			Status: OrderStatusPending, PaymentStatus: PaymentStatusPending, FulfillmentStatus: FulfillmentUnfulfilled,
			Authorized: z, Captured: z, Refunded: z, PlacedAt: e.At, UpdatedAt: e.At,
			Progress: progressFor(e.Lines, e.Currency),
		}
		return
	case OrderPaymentAuthorized:
		s.PaymentStatus, s.PaymentID, s.Authorized = PaymentStatusAuthorized, e.PaymentID, e.Amount
		s.UpdatedAt = e.At
	case OrderPaymentFailed:
		s.PaymentStatus = PaymentStatusFailed
		s.UpdatedAt = e.At
	case OrderConfirmed:
		s.Status = OrderStatusPaid
		s.UpdatedAt = e.At
	case OrderPaymentCaptured:
		s.PaymentStatus, s.Captured = PaymentStatusCaptured, e.Amount
		s.UpdatedAt = e.At
	case OrderPaymentVoided:
		s.PaymentStatus = PaymentStatusVoided
		s.UpdatedAt = e.At
	case OrderShipped:
		if len(s.Fulfillments) > 0 { // the whole order shipped in parcels: status and shipment are theirs
			s.AllShipped, s.UpdatedAt = true, e.At
			break
		}
		s.Status, s.FulfillmentStatus = OrderStatusShipped, FulfillmentShipped
		s.Shipment = &Shipment{Carrier: e.Carrier, TrackingNumber: e.TrackingNumber, ShippedAt: e.At}
		s.UpdatedAt = e.At
	case OrderDelivered:
		if len(s.Fulfillments) > 0 { // delivered parcel by parcel: the status is theirs
			s.UpdatedAt = e.At
			break
		}
		s.Status, s.FulfillmentStatus = OrderStatusDelivered, FulfillmentDelivered
		s.UpdatedAt = e.At
		if s.DeliveredAt == nil {
			t := e.At
			s.DeliveredAt = &t
		}
	case OrderCancelled:
		s.Status, s.CancelReason = OrderStatusCancelled, e.Reason
		s.UpdatedAt = e.At
	case OrderRefunded:
		s.Refunded.Amount += e.Amount.Amount
		s.Refunds = append(s.Refunds, Refund{RefundID: e.RefundID, Amount: e.Amount, Reason: e.Reason, At: e.At})
		if i := slices.IndexFunc(s.PendingRefunds, func(r PendingRefund) bool { return r.RefundID == e.RefundID }); i >= 0 {
			s.PendingRefunds = slices.Delete(s.PendingRefunds, i, i+1)
		}
		s.PaymentStatus = PaymentStatusPartiallyRefunded
		if s.Refunded.Amount >= s.Captured.Amount {
			s.PaymentStatus = PaymentStatusRefunded
		}
		s.UpdatedAt = e.At
	default:
		if !s.applyEdit(e) {
			s.applyAfterPayment(e)
		}
	}
}
