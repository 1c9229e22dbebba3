package domain

import (
	"slices"
	"time"
)

// An order edit that adds units raises the order's authorization by an incremental
// authorization at the gateway (same authorization, larger amount), so that captures of
// later parcels go on taking from one authorization.

// IncreaseAuthorization records an incremental authorization of Amount. Repeating an
// IncrementID is a no-op.
type IncreaseAuthorization struct {
	PaymentID   string
	IncrementID string
	Amount      Money
}

func (c IncreaseAuthorization) AggregateID() string { return c.PaymentID }
func (IncreaseAuthorization) paymentCommand()       {}

// PaymentAuthorizationIncreased: the authorization grew by Amount.
type PaymentAuthorizationIncreased struct {
	PaymentID   string    `json:"paymentId"`
	OrderID     string    `json:"orderId"`
	IncrementID string    `json:"incrementId"`
	Amount      Money     `json:"amount"`
	At          time.Time `json:"at"`
}

func (PaymentAuthorizationIncreased) EventType() string { return "payment.authorization_increased" }

func decideIncrease(s Payment, c IncreaseAuthorization, now time.Time) ([]Event, error) {
	if slices.Contains(s.Parts, "increase:"+c.IncrementID) {
		return nil, nil
	}
	var p problems
	p.addErr("incrementId", ValidateID("", c.IncrementID))
	if c.Amount.Currency != s.Amount.Currency || !c.Amount.IsPositive() {
		p.add("amount", "must be a positive %s amount", s.Amount.Currency)
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	if s.State != PaymentStateAuthorized && s.State != PaymentStateCaptured && s.State != PaymentStatePartiallyRefunded {
		return nil, illegal("payment", s.ID, string(s.State), "increase the authorization of", "")
	}
	return []Event{PaymentAuthorizationIncreased{PaymentID: s.ID, OrderID: s.OrderID, IncrementID: c.IncrementID, Amount: c.Amount, At: now}}, nil
}

func (s *Payment) applyIncrease(e PaymentAuthorizationIncreased) {
	s.Amount.Amount += e.Amount.Amount
	s.Parts = append(s.Parts, "increase:"+e.IncrementID)
	s.UpdatedAt = e.At
}
