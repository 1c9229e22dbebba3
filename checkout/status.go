package checkout

import (
	"context"
	"fmt"
	"time"

	"github.com/orderengine/orderengine/commands"
	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/payment"
)

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
