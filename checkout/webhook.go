package checkout

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/orderengine/orderengine/commands"
	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/payment"
)

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
