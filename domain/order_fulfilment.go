package domain

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// After payment an order is fulfilled in parts, partly cancelled, returned and refunded
// by line. Every money movement is decided (and recorded on the order) before the gateway
// is called, and settled by a second event once the gateway and the payment stream agree:
// a fulfilment records what it will capture (OrderFulfilled) and is settled by
// OrderFulfillmentCaptured; a cancellation of lines records what it releases
// (OrderLinesCancelled) and is settled by OrderAuthorizationReleased; a refund by line
// records its lines and amount (OrderRefundRequested) and is settled by OrderRefunded.
// Quantities are counted when the first event is recorded, so concurrent requests can
// never fulfil, cancel, return or refund a unit twice, and a crash between the two events
// leaves a pending step that is resumed with the same ids (so the gateway's idempotency
// keys are the same).
//
// Statuses after payment:
//
//	paid → partially_fulfilled → fulfilled → delivered
//	fulfilled|delivered|partially_fulfilled → partially_returned → returned
const (
	OrderStatusPartiallyFulfilled OrderStatus = "partially_fulfilled"
	OrderStatusFulfilled          OrderStatus = "fulfilled"
	OrderStatusPartiallyReturned  OrderStatus = "partially_returned"
	OrderStatusReturned           OrderStatus = "returned"
)

// FulfillmentPartial: some units shipped, some not yet.
const FulfillmentPartial FulfillmentStatus = "partial"

// OrderLineProgress counts what happened to one order line. Always:
// Fulfilled + Cancelled ≤ Ordered, Returned ≤ Fulfilled, Restocked ≤ Returned + Cancelled,
// Refunded ≤ Fulfilled, and RefundedAmount ≤ CapturedAmount.
type OrderLineProgress struct {
	SKU             string `json:"sku"`
	Ordered         int64  `json:"ordered"`
	Fulfilled       int64  `json:"fulfilled"`
	Cancelled       int64  `json:"cancelled"`
	ReturnRequested int64  `json:"returnRequested"` // in open (requested or approved) returns
	Returned        int64  `json:"returned"`        // received back
	Restocked       int64  `json:"restocked"`       // returned units put back on the shelf
	Refunded        int64  `json:"refunded"`
	CapturedAmount  Money  `json:"capturedAmount"`
	ReleasedAmount  Money  `json:"releasedAmount"`
	RefundedAmount  Money  `json:"refundedAmount"`
}

// Open is what is left to fulfil or cancel.
func (p OrderLineProgress) Open() int64 { return p.Ordered - p.Fulfilled - p.Cancelled }

// LineQuantity is a quantity of one SKU of an order.
type LineQuantity struct {
	SKU      string `json:"sku"`
	Quantity int64  `json:"quantity"`
}

// Fulfillment is one parcel.
type Fulfillment struct {
	ID             string         `json:"id"`
	Lines          []LineQuantity `json:"lines"`
	Warehouse      string         `json:"warehouse,omitempty"`
	Carrier        string         `json:"carrier"`
	TrackingNumber string         `json:"trackingNumber"`
	Amount         Money          `json:"amount"`   // captured for it, shipping included
	Shipping       Money          `json:"shipping"` // the shipping part of Amount
	Captured       bool           `json:"captured"` // false while the capture is pending
	ShippedAt      time.Time      `json:"shippedAt"`
	DeliveredAt    *time.Time     `json:"deliveredAt,omitempty"`
}

// ReturnStatus is a return's lifecycle: requested → approved → received, or rejected.
type ReturnStatus string

const (
	ReturnRequested ReturnStatus = "requested"
	ReturnApproved  ReturnStatus = "approved"
	ReturnRejected  ReturnStatus = "rejected"
	ReturnReceived  ReturnStatus = "received"
)

// ReturnLine is a line of a return request.
type ReturnLine struct {
	SKU      string `json:"sku"`
	Quantity int64  `json:"quantity"`
	Reason   string `json:"reason,omitempty"`
}

// ReceivedLine is what came back of a return's line.
type ReceivedLine struct {
	SKU       string `json:"sku"`
	Quantity  int64  `json:"quantity"`
	Restock   bool   `json:"restock"`
	Warehouse string `json:"warehouse,omitempty"`
}

// Return is a return of fulfilled units.
type Return struct {
	ID           string         `json:"id"`
	OrderID      string         `json:"orderId"`
	Status       ReturnStatus   `json:"status"`
	Lines        []ReturnLine   `json:"lines"`
	Received     []ReceivedLine `json:"received,omitempty"`
	RefundID     string         `json:"refundId,omitempty"`
	RejectReason string         `json:"rejectReason,omitempty"`
	RequestedAt  time.Time      `json:"requestedAt"`
	UpdatedAt    time.Time      `json:"updatedAt"`
}

// RefundLine is a refunded quantity of a line and what it refunded.
type RefundLine struct {
	SKU      string `json:"sku"`
	Quantity int64  `json:"quantity"`
	Restock  bool   `json:"restock,omitempty"`
	UnitShare
}

// PendingRefund is a refund by line recorded on the order whose gateway refund is not
// settled yet.
type PendingRefund struct {
	RefundID string       `json:"refundId"`
	ReturnID string       `json:"returnId,omitempty"`
	Lines    []RefundLine `json:"lines"`
	Shipping Money        `json:"shipping"`
	Amount   Money        `json:"amount"`
	Reason   string       `json:"reason,omitempty"`
}

// PendingRelease is a cancellation whose partial void is not settled yet.
type PendingRelease struct {
	CancellationID string         `json:"cancellationId"`
	Lines          []LineQuantity `json:"lines"`
	Amount         Money          `json:"amount"`
}

// Commands.
type (
	// FulfilOrder ships units of a paid order and captures their share (shipping with the
	// first fulfilment). Repeating a FulfillmentID is a no-op.
	FulfilOrder struct {
		OrderID        string
		FulfillmentID  string
		Lines          []LineQuantity
		Warehouse      string
		Carrier        string
		TrackingNumber string
	}
	// MarkFulfillmentCaptured settles a fulfilment's capture.
	MarkFulfillmentCaptured struct {
		OrderID       string
		FulfillmentID string
	}
	// DeliverFulfillment marks a parcel delivered; the order is delivered when every
	// unit is fulfilled and every parcel delivered.
	DeliverFulfillment struct {
		OrderID       string
		FulfillmentID string
	}
	// CancelOrderLines cancels unfulfilled units (all of them when Lines is empty) and
	// releases their share of the authorization. It does not cancel a whole order that has
	// nothing fulfilled: that is CancelOrder, which undoes the checkout.
	CancelOrderLines struct {
		OrderID        string
		CancellationID string
		Lines          []LineQuantity
		Reason         string
	}
	// MarkAuthorizationReleased settles a cancellation's partial void.
	MarkAuthorizationReleased struct {
		OrderID        string
		CancellationID string
	}
	// RequestReturn opens a return of fulfilled units. A customer (ByAdmin false) may
	// only within Window after the last delivery.
	RequestReturn struct {
		OrderID  string
		ReturnID string
		Lines    []ReturnLine
		ByAdmin  bool
		Window   time.Duration
	}
	ApproveReturn struct {
		OrderID  string
		ReturnID string
	}
	RejectReturn struct {
		OrderID  string
		ReturnID string
		Reason   string
	}
	// ReceiveReturn records what came back of an approved return and requests the refund
	// of the received units (and of the shipping when RefundShipping).
	ReceiveReturn struct {
		OrderID        string
		ReturnID       string
		RefundID       string
		Lines          []ReceivedLine
		RefundShipping bool
	}
	// RefundOrderLines requests a refund of fulfilled units without a return (goodwill);
	// Restock marks units that came back anyway.
	RefundOrderLines struct {
		OrderID        string
		RefundID       string
		Lines          []RefundLine
		RefundShipping bool
		Reason         string
	}
)

func (c FulfilOrder) AggregateID() string               { return c.OrderID }
func (c MarkFulfillmentCaptured) AggregateID() string   { return c.OrderID }
func (c DeliverFulfillment) AggregateID() string        { return c.OrderID }
func (c CancelOrderLines) AggregateID() string          { return c.OrderID }
func (c MarkAuthorizationReleased) AggregateID() string { return c.OrderID }
func (c RequestReturn) AggregateID() string             { return c.OrderID }
func (c ApproveReturn) AggregateID() string             { return c.OrderID }
func (c RejectReturn) AggregateID() string              { return c.OrderID }
func (c ReceiveReturn) AggregateID() string             { return c.OrderID }
func (c RefundOrderLines) AggregateID() string          { return c.OrderID }
func (FulfilOrder) orderCommand()                       {}
func (MarkFulfillmentCaptured) orderCommand()           {}
func (DeliverFulfillment) orderCommand()                {}
func (CancelOrderLines) orderCommand()                  {}
func (MarkAuthorizationReleased) orderCommand()         {}
func (RequestReturn) orderCommand()                     {}
func (ApproveReturn) orderCommand()                     {}
func (RejectReturn) orderCommand()                      {}
func (ReceiveReturn) orderCommand()                     {}
func (RefundOrderLines) orderCommand()                  {}

// Events.
type (
	OrderFulfilled struct {
		OrderID        string         `json:"orderId"`
		FulfillmentID  string         `json:"fulfillmentId"`
		Lines          []LineQuantity `json:"lines"`
		LineAmounts    []Money        `json:"lineAmounts"` // captured per line, as Lines
		Warehouse      string         `json:"warehouse,omitempty"`
		Carrier        string         `json:"carrier"`
		TrackingNumber string         `json:"trackingNumber"`
		Amount         Money          `json:"amount"` // to capture: the lines' share plus Shipping
		Shipping       Money          `json:"shipping"`
		At             time.Time      `json:"at"`
	}
	OrderFulfillmentCaptured struct {
		OrderID       string    `json:"orderId"`
		FulfillmentID string    `json:"fulfillmentId"`
		Amount        Money     `json:"amount"`
		At            time.Time `json:"at"`
	}
	OrderFulfillmentDelivered struct {
		OrderID       string    `json:"orderId"`
		FulfillmentID string    `json:"fulfillmentId"`
		At            time.Time `json:"at"`
	}
	OrderLinesCancelled struct {
		OrderID        string         `json:"orderId"`
		CancellationID string         `json:"cancellationId"`
		Lines          []LineQuantity `json:"lines"`
		LineAmounts    []UnitShare    `json:"lineAmounts"` // released per line, as Lines
		Amount         Money          `json:"amount"`      // to release from the authorization
		Reason         string         `json:"reason"`
		At             time.Time      `json:"at"`
	}
	OrderAuthorizationReleased struct {
		OrderID        string    `json:"orderId"`
		CancellationID string    `json:"cancellationId"`
		Amount         Money     `json:"amount"`
		At             time.Time `json:"at"`
	}
	OrderReturnRequested struct {
		OrderID  string       `json:"orderId"`
		ReturnID string       `json:"returnId"`
		Lines    []ReturnLine `json:"lines"`
		At       time.Time    `json:"at"`
	}
	OrderReturnApproved struct {
		OrderID  string    `json:"orderId"`
		ReturnID string    `json:"returnId"`
		At       time.Time `json:"at"`
	}
	OrderReturnRejected struct {
		OrderID  string    `json:"orderId"`
		ReturnID string    `json:"returnId"`
		Reason   string    `json:"reason"`
		At       time.Time `json:"at"`
	}
	OrderReturnReceived struct {
		OrderID  string         `json:"orderId"`
		ReturnID string         `json:"returnId"`
		RefundID string         `json:"refundId,omitempty"`
		Lines    []ReceivedLine `json:"lines"`
		At       time.Time      `json:"at"`
	}
	OrderRefundRequested struct {
		OrderID  string       `json:"orderId"`
		RefundID string       `json:"refundId"`
		ReturnID string       `json:"returnId,omitempty"`
		Lines    []RefundLine `json:"lines"`
		Shipping Money        `json:"shipping"`
		Amount   Money        `json:"amount"`
		Reason   string       `json:"reason,omitempty"`
		At       time.Time    `json:"at"`
	}
)

func (OrderFulfilled) EventType() string             { return "order.fulfilled" }
func (OrderFulfillmentCaptured) EventType() string   { return "order.fulfillment_captured" }
func (OrderFulfillmentDelivered) EventType() string  { return "order.fulfillment_delivered" }
func (OrderLinesCancelled) EventType() string        { return "order.lines_cancelled" }
func (OrderAuthorizationReleased) EventType() string { return "order.authorization_released" }
func (OrderReturnRequested) EventType() string       { return "order.return_requested" }
func (OrderReturnApproved) EventType() string        { return "order.return_approved" }
func (OrderReturnRejected) EventType() string        { return "order.return_rejected" }
func (OrderReturnReceived) EventType() string        { return "order.return_received" }
func (OrderRefundRequested) EventType() string       { return "order.refund_requested" }

// lineIndex is the index of sku in the order's lines, or -1.
func (s Order) lineIndex(sku string) int {
	return slices.IndexFunc(s.Lines, func(l Line) bool { return l.SKU == sku })
}

// Fulfillment returns the fulfilment with that id.
func (s Order) Fulfillment(id string) (Fulfillment, bool) {
	i := slices.IndexFunc(s.Fulfillments, func(f Fulfillment) bool { return f.ID == id })
	if i < 0 {
		return Fulfillment{}, false
	}
	return s.Fulfillments[i], true
}

// Return returns the return with that id.
func (s Order) Return(id string) (Return, bool) {
	i := slices.IndexFunc(s.Returns, func(r Return) bool { return r.ID == id })
	if i < 0 {
		return Return{}, false
	}
	return s.Returns[i], true
}

// Released is the part of the authorization given back by partial voids.
func (s Order) ReleasedTotal() Money {
	m := Zero(s.Currency)
	for _, p := range s.Progress {
		m.Amount += p.ReleasedAmount.Amount
	}
	return m
}

// pendingRefunds sums the refunds recorded on the order but not yet settled.
func (s Order) pendingRefunds() int64 {
	var n int64
	for _, r := range s.PendingRefunds {
		n += r.Amount.Amount
	}
	return n
}

// Pending reports whether a money movement is recorded but not settled.
func (s Order) Pending() bool {
	return len(s.PendingRefunds) > 0 || len(s.PendingReleases) > 0 ||
		slices.ContainsFunc(s.Fulfillments, func(f Fulfillment) bool { return !f.Captured })
}

// UnfulfilledLines lists what is left to fulfil, in line order.
func (s Order) UnfulfilledLines() []LineQuantity {
	var out []LineQuantity
	for _, p := range s.Progress {
		if n := p.Open(); n > 0 {
			out = append(out, LineQuantity{SKU: p.SKU, Quantity: n})
		}
	}
	return out
}

// fulfilledAny reports whether any unit has shipped.
func (s Order) fulfilledAny() bool { return len(s.Fulfillments) > 0 }

// afterPayment reports whether the order is paid and not (wholly) cancelled.
func (s Order) afterPayment() bool {
	switch s.Status {
	case OrderStatusPaid, OrderStatusPartiallyFulfilled, OrderStatusFulfilled, OrderStatusDelivered,
		OrderStatusPartiallyReturned, OrderStatusReturned:
		return true
	}
	return false
}

// checkLines validates a request's SKUs and quantities against a per-line limit and
// merges repeated SKUs; it returns the quantities by line index.
func (s Order) checkLines(p *problems, field string, lines []LineQuantity) map[int]int64 {
	want := map[int]int64{}
	if len(lines) == 0 {
		p.add(field, "at least one line is required")
		return nil
	}
	for i, l := range lines {
		f := fieldIndex(field, i)
		idx := s.lineIndex(l.SKU)
		if idx < 0 {
			p.add(f+".sku", "%s is not a line of order %s", l.SKU, s.ID)
			continue
		}
		if l.Quantity < 1 || l.Quantity > MaxLineQuantity {
			p.add(f+".quantity", "must be between 1 and %d", MaxLineQuantity)
			continue
		}
		want[idx] += l.Quantity
	}
	return want
}

// beyond reports a request for more units than are left; it wraps ErrIllegalTransition
// (HTTP 409) because it depends on the order's state, not on the request's form.
func (s Order) beyond(action, sku string, asked, left int64, what string) error {
	return illegal("order", s.ID, string(s.Status), action, fmt.Sprintf("%d of %s requested but only %d %s", asked, sku, left, what))
}

func decideAfterPayment(s Order, c OrderCommand, now time.Time) ([]Event, error) {
	evs, err := decideAfterPaymentStep(s, c, now)
	if err != nil || len(evs) == 0 {
		return evs, err
	}
	switch c.(type) {
	case FulfilOrder, MarkFulfillmentCaptured, DeliverFulfillment, CancelOrderLines, MarkAuthorizationReleased:
	default: // cannot complete a shipment or a delivery
		return evs, nil
	}
	return append(evs, completion(s, FoldOrder(s, evs), evs, now)...), nil
}

// completion adds the whole-order events readers of the original lifecycle rely on
// (integration events, webhooks): OrderShipped once every unit not cancelled has shipped
// and its capture is settled, OrderDelivered once every parcel has arrived.
func completion(before, after Order, decided []Event, now time.Time) []Event {
	var out []Event
	var active, fulfilled int64
	for _, p := range after.Progress {
		active += p.Ordered - p.Cancelled
		fulfilled += p.Fulfilled
	}
	captured := !slices.ContainsFunc(after.Fulfillments, func(f Fulfillment) bool { return !f.Captured })
	if !after.AllShipped && fulfilled > 0 && fulfilled == active && captured {
		last := after.Fulfillments[len(after.Fulfillments)-1]
		out = append(out, OrderShipped{OrderID: after.ID, Carrier: last.Carrier, TrackingNumber: last.TrackingNumber, At: now})
	}
	if before.DeliveredAt == nil && after.DeliveredAt != nil && !slices.ContainsFunc(decided, func(e Event) bool { _, ok := e.(OrderDelivered); return ok }) {
		out = append(out, OrderDelivered{OrderID: after.ID, At: now})
	}
	return out
}

func decideAfterPaymentStep(s Order, c OrderCommand, now time.Time) ([]Event, error) {
	no := func(action, reason string) error { return illegal("order", s.ID, string(s.Status), action, reason) }
	cur := s.Currency
	switch c := c.(type) {
	case FulfilOrder:
		if _, ok := s.Fulfillment(c.FulfillmentID); ok {
			return nil, nil
		}
		var p problems
		p.addErr("fulfillmentId", ValidateID("", c.FulfillmentID))
		validateText(&p, "carrier", c.Carrier, MaxNameLength, true)
		validateText(&p, "trackingNumber", c.TrackingNumber, MaxNameLength, true)
		if c.Warehouse != "" {
			validateWarehouse(&p, c.Warehouse)
		}
		want := s.checkLines(&p, "lines", c.Lines)
		if err := p.err(); err != nil {
			return nil, err
		}
		if !s.afterPayment() || s.PaymentStatus == PaymentStatusVoided || s.PaymentStatus == PaymentStatusPending || s.PaymentStatus == PaymentStatusFailed {
			return nil, no("fulfil", "it is not paid")
		}
		ev := OrderFulfilled{OrderID: s.ID, FulfillmentID: c.FulfillmentID, Warehouse: c.Warehouse, Carrier: c.Carrier,
			TrackingNumber: c.TrackingNumber, Amount: Zero(cur), Shipping: Zero(cur), At: now}
		for _, idx := range sortedIdx(want) {
			pr, n := s.Progress[idx], want[idx]
			if n > pr.Open() {
				return nil, s.beyond("fulfil", pr.SKU, n, pr.Open(), "left to fulfil")
			}
			share := s.Lines[idx].UnitsShare(pr.Fulfilled, n)
			ev.Lines = append(ev.Lines, LineQuantity{SKU: pr.SKU, Quantity: n})
			ev.LineAmounts = append(ev.LineAmounts, share.Amount)
			ev.Amount.Amount += share.Amount.Amount
		}
		if !s.fulfilledAny() {
			ev.Shipping = s.Totals.Shipping
			ev.Amount.Amount += ev.Shipping.Amount
		}
		return []Event{ev}, nil

	case MarkFulfillmentCaptured:
		f, ok := s.Fulfillment(c.FulfillmentID)
		if !ok {
			return nil, notFound("fulfillment", c.FulfillmentID)
		}
		if f.Captured {
			return nil, nil
		}
		return []Event{OrderFulfillmentCaptured{OrderID: s.ID, FulfillmentID: f.ID, Amount: f.Amount, At: now}}, nil

	case DeliverFulfillment:
		f, ok := s.Fulfillment(c.FulfillmentID)
		if !ok {
			return nil, notFound("fulfillment", c.FulfillmentID)
		}
		if f.DeliveredAt != nil {
			return nil, nil
		}
		return []Event{OrderFulfillmentDelivered{OrderID: s.ID, FulfillmentID: f.ID, At: now}}, nil

	case CancelOrderLines:
		if slices.ContainsFunc(s.PendingReleases, func(r PendingRelease) bool { return r.CancellationID == c.CancellationID }) ||
			slices.Contains(s.Cancellations, c.CancellationID) {
			return nil, nil
		}
		var p problems
		p.addErr("cancellationId", ValidateID("", c.CancellationID))
		validateText(&p, "reason", c.Reason, MaxNameLength, true)
		lines := c.Lines
		if len(lines) == 0 {
			lines = s.UnfulfilledLines()
			if len(lines) == 0 && p.err() == nil {
				return nil, no("cancel lines of", "every unit has been fulfilled or cancelled")
			}
		}
		want := s.checkLines(&p, "lines", lines)
		if err := p.err(); err != nil {
			return nil, err
		}
		if !s.afterPayment() || s.PaymentStatus != PaymentStatusAuthorized && s.PaymentStatus != PaymentStatusCaptured &&
			s.PaymentStatus != PaymentStatusPartiallyRefunded && s.PaymentStatus != PaymentStatusRefunded {
			return nil, no("cancel lines of", "it is not paid")
		}
		ev := OrderLinesCancelled{OrderID: s.ID, CancellationID: c.CancellationID, Amount: Zero(cur), Reason: c.Reason, At: now}
		var open int64
		for _, pr := range s.Progress {
			open += pr.Open()
		}
		for _, idx := range sortedIdx(want) {
			pr, n := s.Progress[idx], want[idx]
			if n > pr.Open() {
				return nil, s.beyond("cancel", pr.SKU, n, pr.Open(), "left unfulfilled")
			}
			open -= n
			// Cancelled units are taken from the back of the line (see order_allocation.go).
			share := s.Lines[idx].UnitsShare(pr.Ordered-pr.Cancelled-n, n)
			ev.Lines = append(ev.Lines, LineQuantity{SKU: pr.SKU, Quantity: n})
			ev.LineAmounts = append(ev.LineAmounts, share)
			ev.Amount.Amount += share.Amount.Amount
		}
		if open == 0 && !s.fulfilledAny() {
			return nil, no("cancel every line of", "nothing has shipped: cancel the whole order instead")
		}
		return []Event{ev}, nil

	case MarkAuthorizationReleased:
		if slices.Contains(s.Cancellations, c.CancellationID) {
			return nil, nil
		}
		i := slices.IndexFunc(s.PendingReleases, func(r PendingRelease) bool { return r.CancellationID == c.CancellationID })
		if i < 0 {
			return nil, notFound("cancellation", c.CancellationID)
		}
		return []Event{OrderAuthorizationReleased{OrderID: s.ID, CancellationID: c.CancellationID, Amount: s.PendingReleases[i].Amount, At: now}}, nil

	case RequestReturn:
		if _, ok := s.Return(c.ReturnID); ok {
			return nil, nil
		}
		var p problems
		p.addErr("returnId", ValidateID("", c.ReturnID))
		qs := make([]LineQuantity, len(c.Lines))
		for i, l := range c.Lines {
			qs[i] = LineQuantity{SKU: l.SKU, Quantity: l.Quantity}
			validateText(&p, fieldIndex("lines", i)+".reason", l.Reason, MaxNameLength, false)
		}
		want := s.checkLines(&p, "lines", qs)
		if err := p.err(); err != nil {
			return nil, err
		}
		if !s.fulfilledAny() {
			return nil, no("return", "nothing has shipped")
		}
		if !c.ByAdmin {
			last := s.lastDelivery()
			if last.IsZero() {
				return nil, no("return", "nothing has been delivered yet")
			}
			if now.After(last.Add(c.Window)) {
				return nil, no("return", fmt.Sprintf("the return window of %s after delivery has passed", c.Window))
			}
		}
		for _, idx := range sortedIdx(want) {
			pr := s.Progress[idx]
			if left := pr.Fulfilled - pr.Returned - pr.ReturnRequested; want[idx] > left {
				return nil, s.beyond("return", pr.SKU, want[idx], left, "fulfilled and not already returned")
			}
		}
		return []Event{OrderReturnRequested{OrderID: s.ID, ReturnID: c.ReturnID, Lines: cloneSlice(c.Lines), At: now}}, nil

	case ApproveReturn:
		r, ok := s.Return(c.ReturnID)
		switch {
		case !ok:
			return nil, notFound("return", c.ReturnID)
		case r.Status == ReturnApproved:
			return nil, nil
		case r.Status != ReturnRequested:
			return nil, illegal("return", r.ID, string(r.Status), "approve", "")
		}
		return []Event{OrderReturnApproved{OrderID: s.ID, ReturnID: r.ID, At: now}}, nil

	case RejectReturn:
		r, ok := s.Return(c.ReturnID)
		switch {
		case !ok:
			return nil, notFound("return", c.ReturnID)
		case r.Status == ReturnRejected:
			return nil, nil
		case r.Status != ReturnRequested && r.Status != ReturnApproved:
			return nil, illegal("return", r.ID, string(r.Status), "reject", "")
		}
		var p problems
		validateText(&p, "reason", c.Reason, MaxNameLength, true)
		if err := p.err(); err != nil {
			return nil, err
		}
		return []Event{OrderReturnRejected{OrderID: s.ID, ReturnID: r.ID, Reason: c.Reason, At: now}}, nil

	case ReceiveReturn:
		r, ok := s.Return(c.ReturnID)
		switch {
		case !ok:
			return nil, notFound("return", c.ReturnID)
		case r.Status == ReturnReceived:
			return nil, nil
		case r.Status != ReturnApproved:
			return nil, illegal("return", r.ID, string(r.Status), "receive", "approve it first")
		}
		var p problems
		p.addErr("refundId", ValidateID("", c.RefundID))
		asked := map[string]int64{}
		for _, l := range r.Lines {
			asked[l.SKU] += l.Quantity
		}
		got := map[string]int64{}
		for i, l := range c.Lines {
			f := fieldIndex("lines", i)
			if l.Quantity < 1 {
				p.add(f+".quantity", "must be at least 1")
			}
			if l.Warehouse != "" {
				validateWarehouse(&p, l.Warehouse)
			}
			got[l.SKU] += l.Quantity
			if got[l.SKU] > asked[l.SKU] {
				p.add(f+".quantity", "return %s asked to return %d of %s", r.ID, asked[l.SKU], l.SKU)
			}
		}
		if len(c.Lines) == 0 {
			p.add("lines", "at least one line is required")
		}
		if err := p.err(); err != nil {
			return nil, err
		}
		events := []Event{OrderReturnReceived{OrderID: s.ID, ReturnID: r.ID, RefundID: c.RefundID, Lines: cloneSlice(c.Lines), At: now}}
		// The received units are refunded, except units a goodwill refund already paid for.
		after := EvolveOrder(s.clone(), events[0])
		var lines []RefundLine
		for _, l := range c.Lines {
			lines = append(lines, RefundLine{SKU: l.SKU, Quantity: l.Quantity})
		}
		if rf, err := planRefund(after, c.RefundID, r.ID, lines, c.RefundShipping, "return "+r.ID, now, true); err != nil {
			return nil, err
		} else if len(rf.Lines) > 0 || rf.Amount.IsPositive() {
			events = append(events, rf)
		}
		return events, nil

	case RefundOrderLines:
		if s.knownRefund(c.RefundID) {
			return nil, nil
		}
		var p problems
		p.addErr("refundId", ValidateID("", c.RefundID))
		validateText(&p, "reason", c.Reason, MaxNameLength, false)
		qs := make([]LineQuantity, len(c.Lines))
		for i, l := range c.Lines {
			qs[i] = LineQuantity{SKU: l.SKU, Quantity: l.Quantity}
		}
		s.checkLines(&p, "lines", qs)
		if err := p.err(); err != nil {
			return nil, err
		}
		rf, err := planRefund(s, c.RefundID, "", c.Lines, c.RefundShipping, c.Reason, now, false)
		if err != nil {
			return nil, err
		}
		return []Event{rf}, nil
	}
	return nil, invalid("", "unsupported order command %T", c)
}

// planRefund decides the refund of fulfilled units: each line's share of its units
// [Refunded, Refunded+n) by cumulative floor, plus the shipping when asked and not yet
// refunded. clamp (returns) refunds only units not already refunded; otherwise asking for
// more is a conflict.
func planRefund(s Order, refundID, returnID string, lines []RefundLine, shipping bool, reason string, now time.Time, clamp bool) (OrderRefundRequested, error) {
	cur := s.Currency
	ev := OrderRefundRequested{OrderID: s.ID, RefundID: refundID, ReturnID: returnID, Shipping: Zero(cur), Amount: Zero(cur), Reason: reason, At: now}
	if !s.afterPayment() {
		return ev, illegal("order", s.ID, string(s.Status), "refund lines of", "it is not paid")
	}
	if slices.ContainsFunc(s.Fulfillments, func(f Fulfillment) bool { return !f.Captured }) {
		return ev, illegal("order", s.ID, string(s.Status), "refund lines of", "a capture is still pending")
	}
	want := map[int]int64{}
	restock := map[int]bool{}
	for _, l := range lines {
		idx := s.lineIndex(l.SKU)
		want[idx] += l.Quantity
		restock[idx] = restock[idx] || l.Restock
	}
	for _, idx := range sortedIdx(want) {
		pr, n := s.Progress[idx], want[idx]
		left := pr.Fulfilled - pr.Refunded
		if n > left {
			if !clamp {
				return ev, s.beyond("refund", pr.SKU, n, left, "fulfilled and not yet refunded")
			}
			n = left
		}
		if n == 0 {
			continue
		}
		if !clamp && restock[idx] && n > pr.Fulfilled-pr.Returned-pr.ReturnRequested {
			return ev, s.beyond("restock", pr.SKU, n, pr.Fulfilled-pr.Returned-pr.ReturnRequested, "fulfilled and not returned")
		}
		share := s.Lines[idx].UnitsShare(pr.Refunded, n)
		ev.Lines = append(ev.Lines, RefundLine{SKU: pr.SKU, Quantity: n, Restock: !clamp && restock[idx], UnitShare: share})
		ev.Amount.Amount += share.Amount.Amount
	}
	if shipping && !s.ShippingRefunded && s.fulfilledAny() {
		ev.Shipping = s.Totals.Shipping
		ev.Amount.Amount += ev.Shipping.Amount
	}
	if left := s.Captured.Amount - s.Refunded.Amount - s.pendingRefunds(); ev.Amount.Amount > left {
		return ev, illegal("order", s.ID, string(s.Status), "refund", fmt.Sprintf("%s exceeds the %s captured and not yet refunded", ev.Amount, Money{left, cur}))
	}
	return ev, nil
}

// knownRefund reports whether a refund id was recorded (pending or settled).
func (s Order) knownRefund(id string) bool {
	return slices.ContainsFunc(s.Refunds, func(r Refund) bool { return r.RefundID == id }) ||
		slices.ContainsFunc(s.PendingRefunds, func(r PendingRefund) bool { return r.RefundID == id })
}

func (s Order) lastDelivery() time.Time {
	var last time.Time
	for _, f := range s.Fulfillments {
		if f.DeliveredAt != nil && f.DeliveredAt.After(last) {
			last = *f.DeliveredAt
		}
	}
	if last.IsZero() && s.DeliveredAt != nil {
		last = *s.DeliveredAt
	}
	return last
}

func sortedIdx(m map[int]int64) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// recomputeStatus derives the status after payment from the line counts and parcels.
func (s *Order) recomputeStatus() {
	if !s.afterPayment() {
		return
	}
	var active, fulfilled, returned int64
	for _, p := range s.Progress {
		active += p.Ordered - p.Cancelled
		fulfilled += p.Fulfilled
		returned += p.Returned
	}
	allDelivered := len(s.Fulfillments) > 0 && !slices.ContainsFunc(s.Fulfillments, func(f Fulfillment) bool { return f.DeliveredAt == nil })
	switch {
	case returned > 0 && returned >= fulfilled && fulfilled == active:
		s.Status = OrderStatusReturned
	case returned > 0:
		s.Status = OrderStatusPartiallyReturned
	case fulfilled == 0:
		s.Status = OrderStatusPaid
	case fulfilled < active:
		s.Status = OrderStatusPartiallyFulfilled
	case allDelivered:
		s.Status = OrderStatusDelivered
	default:
		s.Status = OrderStatusFulfilled
	}
	switch {
	case fulfilled == 0:
		s.FulfillmentStatus = FulfillmentUnfulfilled
	case fulfilled < active:
		s.FulfillmentStatus = FulfillmentPartial
	case allDelivered:
		s.FulfillmentStatus = FulfillmentDelivered
	default:
		s.FulfillmentStatus = FulfillmentShipped
	}
	if allDelivered && fulfilled == active && s.DeliveredAt == nil {
		t := s.UpdatedAt
		s.DeliveredAt = &t
	}
}

func (s *Order) progress(sku string) *OrderLineProgress {
	for i := range s.Progress {
		if s.Progress[i].SKU == sku {
			return &s.Progress[i]
		}
	}
	return &OrderLineProgress{} // unknown SKU: events are decided against the lines
}

func (s *Order) applyAfterPayment(e Event) {
	if at, ok := afterPaymentAt(e); ok {
		s.UpdatedAt = at
	}
	switch e := e.(type) {
	case OrderFulfilled:
		for i, l := range e.Lines {
			p := s.progress(l.SKU)
			p.Fulfilled += l.Quantity
			if i < len(e.LineAmounts) {
				p.CapturedAmount.Amount += e.LineAmounts[i].Amount
			}
		}
		s.Fulfillments = append(s.Fulfillments, Fulfillment{ID: e.FulfillmentID, Lines: cloneSlice(e.Lines), Warehouse: e.Warehouse,
			Carrier: e.Carrier, TrackingNumber: e.TrackingNumber, Amount: e.Amount, Shipping: e.Shipping, Captured: !e.Amount.IsPositive(), ShippedAt: e.At})
		if s.Shipment == nil {
			s.Shipment = &Shipment{Carrier: e.Carrier, TrackingNumber: e.TrackingNumber, ShippedAt: e.At}
		}
	case OrderFulfillmentCaptured:
		for i := range s.Fulfillments {
			if f := &s.Fulfillments[i]; f.ID == e.FulfillmentID && !f.Captured {
				f.Captured = true
				s.Captured.Amount += e.Amount.Amount
			}
		}
		if s.Refunded.IsZero() {
			s.PaymentStatus = PaymentStatusCaptured
		} else if s.Refunded.Amount < s.Captured.Amount {
			s.PaymentStatus = PaymentStatusPartiallyRefunded
		}
	case OrderFulfillmentDelivered:
		for i := range s.Fulfillments {
			if f := &s.Fulfillments[i]; f.ID == e.FulfillmentID {
				t := e.At
				f.DeliveredAt = &t
			}
		}
	case OrderLinesCancelled:
		for i, l := range e.Lines {
			p := s.progress(l.SKU)
			p.Cancelled += l.Quantity
			if i < len(e.LineAmounts) {
				sh := e.LineAmounts[i]
				p.ReleasedAmount.Amount += sh.Amount.Amount
				s.Totals.Subtotal.Amount -= sh.Subtotal.Amount
				s.Totals.Discount.Amount -= sh.Discount.Amount
				s.Totals.Tax.Amount -= sh.Tax.Amount
				s.Totals.Gross.Amount -= sh.Amount.Amount
				s.Totals.Net.Amount -= sh.Amount.Amount - sh.Tax.Amount
				s.Totals.GrandTotal.Amount -= sh.Amount.Amount
			}
		}
		s.PendingReleases = append(s.PendingReleases, PendingRelease{CancellationID: e.CancellationID, Lines: cloneSlice(e.Lines), Amount: e.Amount})
		if e.Amount.IsZero() {
			s.settleRelease(e.CancellationID)
		}
		s.CancelReason = e.Reason
	case OrderAuthorizationReleased:
		s.settleRelease(e.CancellationID)
	case OrderReturnRequested:
		for _, l := range e.Lines {
			s.progress(l.SKU).ReturnRequested += l.Quantity
		}
		s.Returns = append(s.Returns, Return{ID: e.ReturnID, OrderID: s.ID, Status: ReturnRequested, Lines: cloneSlice(e.Lines), RequestedAt: e.At, UpdatedAt: e.At})
	case OrderReturnApproved:
		s.updateReturn(e.ReturnID, e.At, func(r *Return) { r.Status = ReturnApproved })
	case OrderReturnRejected:
		s.updateReturn(e.ReturnID, e.At, func(r *Return) {
			r.Status, r.RejectReason = ReturnRejected, e.Reason
			for _, l := range r.Lines {
				s.progress(l.SKU).ReturnRequested -= l.Quantity
			}
		})
	case OrderReturnReceived:
		s.updateReturn(e.ReturnID, e.At, func(r *Return) {
			r.Status, r.Received, r.RefundID = ReturnReceived, cloneSlice(e.Lines), e.RefundID
			for _, l := range r.Lines {
				s.progress(l.SKU).ReturnRequested -= l.Quantity
			}
			for _, l := range e.Lines {
				p := s.progress(l.SKU)
				p.Returned += l.Quantity
				if l.Restock {
					p.Restocked += l.Quantity
				}
			}
		})
	case OrderRefundRequested:
		for _, l := range e.Lines {
			p := s.progress(l.SKU)
			p.Refunded += l.Quantity
			p.RefundedAmount.Amount += l.Amount.Amount
			if l.Restock { // a goodwill refund whose goods came back anyway
				p.Returned += l.Quantity
				p.Restocked += l.Quantity
			}
		}
		if e.Shipping.IsPositive() {
			s.ShippingRefunded = true
		}
		if e.Amount.IsZero() { // units worth nothing (fully discounted): no money moves
			break
		}
		s.PendingRefunds = append(s.PendingRefunds, PendingRefund{RefundID: e.RefundID, ReturnID: e.ReturnID, Lines: cloneSlice(e.Lines),
			Shipping: e.Shipping, Amount: e.Amount, Reason: e.Reason})
	}
	s.recomputeStatus()
}

func (s *Order) settleRelease(id string) {
	i := slices.IndexFunc(s.PendingReleases, func(r PendingRelease) bool { return r.CancellationID == id })
	if i < 0 {
		return
	}
	s.PendingReleases = slices.Delete(s.PendingReleases, i, i+1)
	s.Cancellations = append(s.Cancellations, id)
}

func (s *Order) updateReturn(id string, at time.Time, f func(*Return)) {
	for i := range s.Returns {
		if s.Returns[i].ID == id {
			f(&s.Returns[i])
			s.Returns[i].UpdatedAt = at
		}
	}
}

// progressFor builds the per-line counts of a newly placed order.
func progressFor(lines []Line, currency string) []OrderLineProgress {
	out := make([]OrderLineProgress, len(lines))
	z := Zero(currency)
	for i, l := range lines {
		out[i] = OrderLineProgress{SKU: l.SKU, Ordered: l.Quantity, CapturedAmount: z, ReleasedAmount: z, RefundedAmount: z}
	}
	return out
}

// afterPaymentAt is the time of an event of this file.
func afterPaymentAt(e Event) (time.Time, bool) {
	switch e := e.(type) {
	case OrderFulfilled:
		return e.At, true
	case OrderFulfillmentCaptured:
		return e.At, true
	case OrderFulfillmentDelivered:
		return e.At, true
	case OrderLinesCancelled:
		return e.At, true
	case OrderAuthorizationReleased:
		return e.At, true
	case OrderReturnRequested:
		return e.At, true
	case OrderReturnApproved:
		return e.At, true
	case OrderReturnRejected:
		return e.At, true
	case OrderReturnReceived:
		return e.At, true
	case OrderRefundRequested:
		return e.At, true
	}
	return time.Time{}, false
}

// A return's id starts with its order's id, so that a return id alone finds its order
// stream: "<orderId>.ret-<suffix>", the suffix never containing the separator.
const returnIDSep = ".ret-"

// NewReturnID is the id of a return of an order.
func NewReturnID(orderID, suffix string) string { return orderID + returnIDSep + suffix }

// ReturnOrderID is the order a return id belongs to; false when it is no return id.
func ReturnOrderID(returnID string) (string, bool) {
	i := strings.LastIndex(returnID, returnIDSep)
	if i <= 0 || i+len(returnIDSep) == len(returnID) {
		return "", false
	}
	return returnID[:i], true
}
