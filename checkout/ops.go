package checkout

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/orderengine/orderengine/commands"
	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/payment"
)

// ErrGatewayRefused: the gateway definitively refused a capture or refund (nothing was
// recorded). Wraps the gateway's reason.
var ErrGatewayRefused = errors.New("payment gateway refused")

// StepPending is reported for a placed order whose checkout has not started yet.
const StepPending Step = "pending"

// Status is a checkout's progress, for GET /v1/orders/{id}/checkout.
type Status struct {
	OrderID       string         `json:"orderId"`
	Step          Step           `json:"step"`
	Terminal      bool           `json:"terminal"`
	Outcome       Outcome        `json:"outcome,omitempty"`
	Code          Code           `json:"code,omitempty"`   // why it was cancelled
	Reason        string         `json:"reason,omitempty"` // human-readable
	PaymentStatus payment.Status `json:"paymentStatus,omitempty"`
	ExpiresAt     time.Time      `json:"expiresAt,omitzero"`
	StartedAt     time.Time      `json:"startedAt,omitzero"`
	UpdatedAt     time.Time      `json:"updatedAt,omitzero"`
	// Version of the checkout stream and Position of its last event in $all.
	Version  uint64 `json:"version"`
	Position uint64 `json:"position"`
}

// Status reads a checkout's state. A placed order whose saga has not started reports
// StepPending; an unknown order is domain.ErrNotFound.
func (c *Checkout) Status(ctx context.Context, orderID string) (Status, error) {
	s, last, err := c.load(ctx, orderID)
	if err != nil {
		return Status{}, err
	}
	if !s.Exists() {
		o, err := commands.Load(ctx, c.rt, orders, orderID)
		if err != nil {
			return Status{}, err
		}
		if o.Exists && o.State.Status == domain.OrderStatusPending {
			return Status{OrderID: orderID, Step: StepPending, StartedAt: o.State.PlacedAt, UpdatedAt: o.State.UpdatedAt}, nil
		}
		if !o.Exists {
			return Status{}, fmt.Errorf("%w: no checkout for order %s", domain.ErrNotFound, orderID)
		}
		// The saga may have started and moved the order on between the two reads: the
		// checkout stream exists now if it ever will.
		if s, last, err = c.load(ctx, orderID); err != nil {
			return Status{}, err
		}
		if !s.Exists() {
			return Status{}, fmt.Errorf("%w: no checkout for order %s", domain.ErrNotFound, orderID)
		}
	}
	st := Status{
		OrderID: orderID, Step: s.Step(), Terminal: s.Terminal(), Outcome: s.Outcome, PaymentStatus: s.Payment,
		ExpiresAt: s.ExpiresAt, StartedAt: s.StartedAt, UpdatedAt: s.UpdatedAt, Version: last.Version, Position: last.Position,
	}
	if s.FailCode != "" && s.Outcome != OutcomeConfirmed {
		st.Code, st.Reason = s.FailCode, s.FailReason
	}
	return st, nil
}

// Wait waits up to max (or until ctx ends) for the checkout to become terminal and
// returns its latest Status; Terminal tells whether it got there.
func (c *Checkout) Wait(ctx context.Context, orderID string, max time.Duration) (Status, error) {
	deadline := time.NewTimer(max)
	defer deadline.Stop()
	poll := time.NewTicker(200 * time.Millisecond) // changes made by other instances
	defer poll.Stop()
	changed, release := c.watch(orderID)
	defer release()
	for {
		ch := changed()
		st, err := c.Status(ctx, orderID)
		if err != nil || st.Terminal {
			return st, err
		}
		select {
		case <-ch:
		case <-poll.C:
		case <-deadline.C:
			return st, nil
		case <-ctx.Done():
			return st, ctx.Err()
		}
	}
}

// WebhookResult tells what a webhook did.
type WebhookResult struct {
	EventID string `json:"eventId"`
	OrderID string `json:"orderId"`
	// Duplicate is true when this gateway event had already been applied: nothing changed.
	Duplicate bool `json:"duplicate"`
}

// HandleWebhook verifies a gateway webhook (payment.SignatureHeader, HMAC-SHA256 over
// "timestamp.body", Config.WebhookTolerance), checks its amount and currency against the
// payment's authorization request, and records it in the checkout stream once per
// gateway event id (so redeliveries, even after a restart, change nothing). The saga then
// continues in the background. Errors wrapping payment.ErrInvalidWebhook mean "reject
// with 400, nothing changed"; others are worth a retry by the gateway (5xx).
func (c *Checkout) HandleWebhook(ctx context.Context, header http.Header, body []byte) (WebhookResult, error) {
	ev, err := payment.ParseWebhook(c.cfg.WebhookSecret, header, body, c.now(), c.cfg.WebhookTolerance)
	if err != nil {
		return WebhookResult{}, err
	}
	o := ev.Data.OrderID
	out := WebhookResult{EventID: ev.ID, OrderID: o}
	p, err := commands.Load(ctx, c.rt, payments, o)
	if err != nil {
		return out, err
	}
	if !p.Exists {
		return out, fmt.Errorf("%w: order %s", payment.ErrUnknownPayment, o)
	}
	if ev.Data.Amount != p.State.Amount {
		return out, fmt.Errorf("%w: webhook says %s, authorization request was %s", payment.ErrAmountMismatch, ev.Data.Amount, p.State.Amount)
	}
	cs, _, err := c.load(ctx, o)
	if err != nil {
		return out, err
	}
	if !cs.Exists() {
		if err := c.start(ctx, o, ""); err != nil {
			return out, err
		}
	}
	res, err := commands.Execute(ctx, c.rt, decider, receiveWebhook{WebhookReceived{
		OrderID: o, EventID: ev.ID, Type: ev.Type, Status: ev.Data.Status, GatewayRef: ev.Data.GatewayRef,
		Amount: ev.Data.Amount, Reason: clip(ev.Data.Reason),
	}}, c.meta(o, ev.ID, "webhook:"+ev.ID))
	if errors.Is(err, domain.ErrNotFound) {
		return out, fmt.Errorf("%w: no checkout for order %s", payment.ErrUnknownPayment, o)
	}
	if err != nil {
		return out, err
	}
	out.Duplicate = res.Replayed || len(res.Events) == 0
	if !out.Duplicate {
		c.takeCached(o) // a running drive re-reads the stream
		c.notify(o)
		c.sched.kick(o)
	}
	return out, nil
}

// callerMeta is the metadata of a change a caller asked for.
func callerMeta(orderID string, m commands.Meta, step string) commands.Meta {
	out := commands.Meta{CorrelationID: orderID, CausationID: m.CausationID, Actor: m.Actor}
	if out.Actor == "" {
		out.Actor = Actor
	}
	if m.IdempotencyKey != "" {
		out.IdempotencyKey = m.IdempotencyKey + ":" + step
	}
	return out
}

// Cancel cancels an order that has not shipped, for a customer or an admin: a checkout
// in progress is failed and compensated; a confirmed one is reopened and undone (void the
// authorization, put committed stock back, release the coupon use, cancel the order).
// It waits for the compensation it triggers and returns the final Status. An order that
// has shipped cannot be cancelled (domain.ErrIllegalTransition): refund it instead.
func (c *Checkout) Cancel(ctx context.Context, orderID, reason string, meta commands.Meta) (Status, error) {
	if reason == "" {
		reason = "cancelled on request"
		if meta.Actor != "" {
			reason = "cancelled by " + meta.Actor
		}
	}
	reason = clip(reason)
	unlock := c.locks.lock(orderID)
	o, err := commands.Load(ctx, c.rt, orders, orderID)
	if err == nil && !o.Exists {
		err = fmt.Errorf("%w: order %s does not exist", domain.ErrNotFound, orderID)
	}
	if err == nil && o.State.Status != domain.OrderStatusCancelled {
		_, err = domain.DecideOrder(o.State, domain.CancelOrder{OrderID: orderID, Reason: reason}, c.now())
	}
	if err == nil && o.State.Status != domain.OrderStatusCancelled {
		if err = c.start(ctx, orderID, ""); err == nil {
			_, err = commands.Execute(ctx, c.rt, decider, requestCancel{OrderID: orderID, Reason: reason}, callerMeta(orderID, meta, "cancel"))
			c.takeCached(orderID)
		}
	}
	unlock()
	if err != nil {
		return Status{}, err
	}
	if _, err := c.drive(ctx, orderID); err != nil {
		c.sched.kick(orderID)
		if ctx.Err() != nil {
			return Status{}, err
		}
	}
	return c.Status(ctx, orderID)
}

// Ship records the shipment of a confirmed order, capturing the authorized payment
// first (the capture is idempotent per order). Repeating it with the same carrier and
// tracking number is a no-op.
func (c *Checkout) Ship(ctx context.Context, orderID, carrier, tracking string, meta commands.Meta) (commands.Result[domain.Order], error) {
	defer c.locks.lock(orderID)()
	cs, _, err := c.load(ctx, orderID)
	if err != nil {
		return commands.Result[domain.Order]{}, err
	}
	if cs.FailCode != "" && cs.Outcome != OutcomeConfirmed {
		return commands.Result[domain.Order]{}, &domain.TransitionError{Aggregate: "order", ID: orderID, State: "cancelling", Action: "ship", Reason: "the order is being cancelled"}
	}
	o, err := commands.Load(ctx, c.rt, orders, orderID)
	if err != nil {
		return commands.Result[domain.Order]{}, err
	}
	ship := domain.ShipOrder{OrderID: orderID, Carrier: carrier, TrackingNumber: tracking}
	if evs, err := domain.DecideOrder(o.State, ship, c.now()); err != nil || len(evs) == 0 {
		return commands.Result[domain.Order]{State: o.State, Stream: o.Stream, Version: o.Version, Position: o.Position}, err
	}
	if o.State.PaymentStatus == domain.PaymentStatusAuthorized {
		p, err := commands.Load(ctx, c.rt, payments, orderID)
		if err != nil {
			return commands.Result[domain.Order]{}, err
		}
		amount := o.State.Authorized
		res, err := c.cfg.Gateway.Capture(ctx, payment.CaptureRequest{OrderID: orderID, GatewayRef: p.State.GatewayRef, Amount: amount, IdempotencyKey: "checkout:" + orderID + ":capture"})
		if err != nil {
			return commands.Result[domain.Order]{}, err
		}
		if res.Status != payment.StatusSucceeded {
			return commands.Result[domain.Order]{}, fmt.Errorf("%w: capture: %s", ErrGatewayRefused, res.Reason)
		}
		if _, err := commands.Execute(ctx, c.rt, payments, domain.CapturePayment{PaymentID: orderID, Amount: amount}, callerMeta(orderID, meta, "capture_payment")); err != nil {
			return commands.Result[domain.Order]{}, err
		}
		if _, err := commands.Execute(ctx, c.rt, orders, domain.MarkOrderPaymentCaptured{OrderID: orderID, Amount: amount}, callerMeta(orderID, meta, "order_captured")); err != nil {
			return commands.Result[domain.Order]{}, err
		}
	}
	return commands.Execute(ctx, c.rt, orders, ship, callerMeta(orderID, meta, "ship"))
}

// Deliver records the delivery of a shipped order.
func (c *Checkout) Deliver(ctx context.Context, orderID string, meta commands.Meta) (commands.Result[domain.Order], error) {
	defer c.locks.lock(orderID)()
	return commands.Execute(ctx, c.rt, orders, domain.DeliverOrder{OrderID: orderID}, callerMeta(orderID, meta, "deliver"))
}

// Refund gives back part or all of a captured payment through the gateway, never more
// than captured and not yet refunded (checked before the gateway is called). With
// meta.IdempotencyKey, a repeated request is recognised and refunds nothing more.
func (c *Checkout) Refund(ctx context.Context, orderID string, amount domain.Money, reason string, meta commands.Meta) (commands.Result[domain.Order], error) {
	defer c.locks.lock(orderID)()
	refundID := "rf-" + uuid.NewString()
	if meta.IdempotencyKey != "" {
		refundID = "rf-" + uuid.NewSHA1(uuid.NameSpaceOID, []byte(orderID+"\x00"+meta.IdempotencyKey)).String()
	}
	o, err := commands.Load(ctx, c.rt, orders, orderID)
	if err != nil {
		return commands.Result[domain.Order]{}, err
	}
	loaded := commands.Result[domain.Order]{State: o.State, Stream: o.Stream, Version: o.Version, Position: o.Position}
	if !o.Exists {
		return loaded, fmt.Errorf("%w: order %s does not exist", domain.ErrNotFound, orderID)
	}
	refund := domain.RefundOrder{OrderID: orderID, RefundID: refundID, Amount: amount, Reason: clip(reason)}
	if evs, err := domain.DecideOrder(o.State, refund, c.now()); err != nil || len(evs) == 0 {
		return loaded, err
	}
	p, err := commands.Load(ctx, c.rt, payments, orderID)
	if err != nil {
		return loaded, err
	}
	payRefund := domain.RefundPayment{PaymentID: orderID, RefundID: refundID, Amount: amount, Reason: refund.Reason}
	if _, err := domain.DecidePayment(p.State, payRefund, c.now()); err != nil {
		return loaded, err
	}
	res, err := c.cfg.Gateway.Refund(ctx, payment.RefundRequest{OrderID: orderID, GatewayRef: p.State.GatewayRef, Amount: amount, IdempotencyKey: "checkout:" + orderID + ":refund:" + refundID})
	if err != nil {
		return loaded, err
	}
	if res.Status != payment.StatusSucceeded {
		return loaded, fmt.Errorf("%w: refund: %s", ErrGatewayRefused, res.Reason)
	}
	if _, err := commands.Execute(ctx, c.rt, payments, payRefund, callerMeta(orderID, meta, "refund_payment")); err != nil {
		return loaded, err
	}
	return commands.Execute(ctx, c.rt, orders, refund, callerMeta(orderID, meta, "refund"))
}
