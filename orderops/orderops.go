// Package orderops runs the operations on an order after its checkout: cancellation,
// shipment (capturing the payment), delivery and refunds. Fulfilment in parts, returns
// and order edits belong here too.
//
// Every operation goes through commands.Execute and the domain deciders with
// correlation id = order id and the caller's actor; with meta.IdempotencyKey set, each
// change's event ids derive from it, so a repeated request changes nothing more. Gateway
// calls carry idempotency keys derived from the order (and refund id), so a retry never
// moves money twice. Operations on one order are serialized inside this process; other
// processes are handled by the streams' version checks.
//
// Cancelling undoes a checkout, which is the saga's work: Cancel checks and records the
// request through the Checkouts port (package checkout) and waits for its compensation.
package orderops

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/orderengine/orderengine/checkout"
	"github.com/orderengine/orderengine/commands"
	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/keymutex"
	"github.com/orderengine/orderengine/payment"
)

// Gateway is the part of the payment gateway orders need after checkout.
type Gateway interface {
	Capture(ctx context.Context, req payment.CaptureRequest) (payment.Result, error)
	Refund(ctx context.Context, req payment.RefundRequest) (payment.Result, error)
}

// Checkouts is the checkout saga as order operations see it (*checkout.Checkout).
type Checkouts interface {
	// Status is the checkout's progress; domain.ErrNotFound when there is none.
	Status(ctx context.Context, orderID string) (checkout.Status, error)
	// RequestCancel fails or reopens the checkout and waits for its compensation.
	RequestCancel(ctx context.Context, orderID, reason string, meta commands.Meta) (checkout.Status, error)
}

// Config configures New. Runtime, Gateway and Checkouts are required.
type Config struct {
	Runtime   *commands.Runtime
	Gateway   Gateway
	Checkouts Checkouts
	// ReturnWindow is how long after delivery a customer may request a return (default
	// DefaultReturnWindow); admins may at any time.
	ReturnWindow time.Duration
	// Now is the clock the deciders' preconditions are checked with (default Runtime.Now).
	Now func() time.Time
}

// Ops runs order operations. It is safe for concurrent use.
type Ops struct {
	rt     *commands.Runtime
	gw     Gateway
	co     Checkouts
	now    func() time.Time
	window time.Duration
	locks  keymutex.Map
}

// New validates cfg and returns an Ops.
func New(cfg Config) (*Ops, error) {
	var errs []error
	if cfg.Runtime == nil {
		errs = append(errs, errors.New("orderops: Runtime is required"))
	}
	if cfg.Gateway == nil {
		errs = append(errs, errors.New("orderops: Gateway is required"))
	}
	if cfg.Checkouts == nil {
		errs = append(errs, errors.New("orderops: Checkouts is required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = cfg.Runtime.Now
	}
	return &Ops{rt: cfg.Runtime, gw: cfg.Gateway, co: cfg.Checkouts, now: cfg.Now, window: cfg.ReturnWindow}, nil
}

var (
	orders   = domain.NewOrderDecider()
	payments = domain.NewPaymentDecider()
)

// callerMeta is the metadata of a change a caller asked for: one idempotency key per
// step, derived from the caller's.
func callerMeta(orderID string, m commands.Meta, step string) commands.Meta {
	out := commands.Meta{CorrelationID: orderID, CausationID: m.CausationID, Actor: m.Actor}
	if out.Actor == "" {
		out.Actor = checkout.Actor
	}
	if m.IdempotencyKey != "" {
		out.IdempotencyKey = m.IdempotencyKey + ":" + step
	}
	return out
}

// clip keeps a reason within the domain's text limit.
func clip(s string) string {
	if utf8.RuneCountInString(s) <= domain.MaxNameLength {
		return s
	}
	r := []rune(s)
	return string(r[:domain.MaxNameLength-1]) + "…"
}

// Cancel cancels an order that has not shipped, for a customer or an admin: a checkout
// in progress is failed and compensated; a confirmed one is reopened and undone (void the
// authorization, put committed stock back, release the coupon use, cancel the order).
// It waits for the compensation and returns the checkout's final Status. An order that
// has shipped cannot be cancelled (domain.ErrIllegalTransition): refund it instead.
func (o *Ops) Cancel(ctx context.Context, orderID, reason string, meta commands.Meta) (checkout.Status, error) {
	if reason == "" {
		reason = "cancelled on request"
		if meta.Actor != "" {
			reason = "cancelled by " + meta.Actor
		}
	}
	unlock := o.locks.Lock(orderID)
	cur, err := o.load(ctx, orderID)
	if err == nil && len(cur.State.Fulfillments) > 0 {
		// Part of it has shipped: cancel what has not (CancelLines), never the checkout.
		unlock()
		if _, err := o.CancelLines(ctx, orderID, nil, reason, meta); err != nil {
			return checkout.Status{}, err
		}
		return o.co.Status(ctx, orderID)
	}
	defer unlock()
	return o.co.RequestCancel(ctx, orderID, clip(reason), meta)
}

// Deliver records the delivery of a shipped order: of every parcel not yet delivered, or
// of an order shipped before fulfilment in parts (one OrderShipped event).
func (o *Ops) Deliver(ctx context.Context, orderID string, meta commands.Meta) (commands.Result[domain.Order], error) {
	defer o.locks.Lock(orderID)()
	cur, err := o.load(ctx, orderID)
	if err != nil || len(cur.State.Fulfillments) == 0 {
		return commands.Execute(ctx, o.rt, orders, domain.DeliverOrder{OrderID: orderID}, callerMeta(orderID, meta, "deliver"))
	}
	if cur.State.Status == domain.OrderStatusPartiallyFulfilled || cur.State.Status == domain.OrderStatusPaid {
		return cur, &domain.TransitionError{Aggregate: "order", ID: orderID, State: string(cur.State.Status), Action: "deliver", Reason: "not every unit has shipped"}
	}
	for _, f := range cur.State.Fulfillments {
		if f.DeliveredAt == nil {
			if cur, err = commands.Execute(ctx, o.rt, orders, domain.DeliverFulfillment{OrderID: orderID, FulfillmentID: f.ID}, callerMeta(orderID, meta, "deliver:"+f.ID)); err != nil {
				return cur, err
			}
		}
	}
	return cur, nil
}

// Refund gives back part or all of a captured payment through the gateway, never more
// than captured and not yet refunded (checked before the gateway is called). With
// meta.IdempotencyKey, a repeated request is recognised and refunds nothing more.
func (o *Ops) Refund(ctx context.Context, orderID string, amount domain.Money, reason string, meta commands.Meta) (commands.Result[domain.Order], error) {
	defer o.locks.Lock(orderID)()
	refundID := "rf-" + uuid.NewString()
	if meta.IdempotencyKey != "" {
		refundID = "rf-" + uuid.NewSHA1(uuid.NameSpaceOID, []byte(orderID+"\x00"+meta.IdempotencyKey)).String()
	}
	ord, err := commands.Load(ctx, o.rt, orders, orderID)
	if err != nil {
		return commands.Result[domain.Order]{}, err
	}
	loaded := commands.Result[domain.Order]{State: ord.State, Stream: ord.Stream, Version: ord.Version, Position: ord.Position}
	if !ord.Exists {
		return loaded, fmt.Errorf("%w: order %s does not exist", domain.ErrNotFound, orderID)
	}
	refund := domain.RefundOrder{OrderID: orderID, RefundID: refundID, Amount: amount, Reason: clip(reason)}
	if evs, err := domain.DecideOrder(ord.State, refund, o.now()); err != nil || len(evs) == 0 {
		return loaded, err
	}
	p, err := commands.Load(ctx, o.rt, payments, orderID)
	if err != nil {
		return loaded, err
	}
	payRefund := domain.RefundPayment{PaymentID: orderID, RefundID: refundID, Amount: amount, Reason: refund.Reason}
	if _, err := domain.DecidePayment(p.State, payRefund, o.now()); err != nil {
		return loaded, err
	}
	res, err := o.gw.Refund(ctx, payment.RefundRequest{OrderID: orderID, GatewayRef: p.State.GatewayRef, Amount: amount, IdempotencyKey: "checkout:" + orderID + ":refund:" + refundID})
	if err != nil {
		return loaded, err
	}
	if res.Status != payment.StatusSucceeded {
		return loaded, fmt.Errorf("%w: refund: %s", payment.ErrRefused, res.Reason)
	}
	if _, err := commands.Execute(ctx, o.rt, payments, payRefund, callerMeta(orderID, meta, "refund_payment")); err != nil {
		return loaded, err
	}
	return commands.Execute(ctx, o.rt, orders, refund, callerMeta(orderID, meta, "refund"))
}
