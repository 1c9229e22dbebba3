package checkout

import (
	"context"
	"fmt"

	"github.com/orderengine/orderengine/commands"
	"github.com/orderengine/orderengine/domain"
)

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

// RequestCancel compensates the checkout of an order that may still be cancelled (the
// order decider agrees): a checkout in progress is failed and compensated; a confirmed one
// is reopened and undone (void the authorization, put committed stock back, release the
// coupon use, cancel the order). It waits for the compensation it triggers and returns the
// final Status. An order that has shipped cannot be cancelled
// (domain.ErrIllegalTransition). Order operations (package orderops) call it; reason is
// recorded as given (clipped).
func (c *Checkout) RequestCancel(ctx context.Context, orderID, reason string, meta commands.Meta) (Status, error) {
	if reason == "" {
		reason = "cancelled on request"
	}
	reason = clip(reason)
	unlock := c.locks.Lock(orderID)
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
