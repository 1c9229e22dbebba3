// Package request is the checkout saga's input beside the order: what the customer
// submitted to pay with. commands.Service.PlaceOrder records it before order.placed; the
// saga (package checkout) reads it when it asks the gateway. It lives apart from the saga
// so the command side can write it without depending on the saga.
//
// The stream "checkoutrequest-<orderId>" holds one event, Recorded, at version 0; the
// first write wins.
package request

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/eventstore"
)

// Category is the stream category: "checkoutrequest-<orderId>".
const Category = "checkoutrequest"

// StreamName is the request stream of an order.
func StreamName(orderID string) string { return Category + "-" + orderID }

// Recorded is the checkout request: the payment token the customer submitted. It never
// holds card data, only the gateway's token (e.g. "tok_visa").
type Recorded struct {
	OrderID      string    `json:"orderId"`
	CartID       string    `json:"cartId"`
	CustomerID   string    `json:"customerId" privacy:"subject"`
	PaymentToken string    `json:"paymentToken" privacy:"personal"`
	CouponCode   string    `json:"couponCode,omitempty"` // same as order.placed's couponCode
	At           time.Time `json:"at"`
}

// EventType is the event's stable name.
func (Recorded) EventType() string { return "checkoutrequest.recorded" }

// Events lists this package's event types (schema version 1).
func Events() []domain.Event { return []domain.Event{Recorded{}} }

// Reader reads streams.
type Reader interface {
	ReadStream(ctx context.Context, stream string, dir eventstore.Direction, from uint64, limit int) ([]eventstore.RecordedEvent, error)
}

// Read returns the request recorded for an order (version 0 of its stream), or an error
// wrapping domain.ErrNotFound when there is none.
func Read(ctx context.Context, store Reader, orderID string) (Recorded, error) {
	stream := StreamName(orderID)
	recs, err := store.ReadStream(ctx, stream, eventstore.Forward, 0, 1)
	if errors.Is(err, eventstore.ErrStreamNotFound) || (err == nil && len(recs) == 0) {
		return Recorded{}, fmt.Errorf("%w: no checkout request for order %s", domain.ErrNotFound, orderID)
	}
	if err != nil {
		return Recorded{}, fmt.Errorf("read %s: %w", stream, err)
	}
	var r Recorded
	if recs[0].Type != r.EventType() {
		return r, fmt.Errorf("read %s: unexpected event %q", stream, recs[0].Type)
	}
	if err := json.Unmarshal(recs[0].Data, &r); err != nil {
		return r, fmt.Errorf("read %s: %w", stream, err)
	}
	return r, nil
}
