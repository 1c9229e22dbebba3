package domain

import (
	"slices"
	"time"
)

// An order fulfilled in parts captures its payment in parts, one capture per fulfilment,
// and a cancellation of some lines releases part of the authorization (a partial void).
// Always: Captured + Released ≤ Amount, and Refunded ≤ Captured. Each part carries its
// own id, and repeating an id is a no-op.

// CapturePaymentPart captures Amount more of the authorization.
type CapturePaymentPart struct {
	PaymentID string
	CaptureID string
	Amount    Money
}

// ReleaseAuthorizationPart releases Amount of the authorization that will never be
// captured.
type ReleaseAuthorizationPart struct {
	PaymentID string
	ReleaseID string
	Amount    Money
}

func (c CapturePaymentPart) AggregateID() string       { return c.PaymentID }
func (c ReleaseAuthorizationPart) AggregateID() string { return c.PaymentID }
func (CapturePaymentPart) paymentCommand()             {}
func (ReleaseAuthorizationPart) paymentCommand()       {}

// Payment part events.
type (
	PaymentPartCaptured struct {
		PaymentID string    `json:"paymentId"`
		OrderID   string    `json:"orderId"`
		CaptureID string    `json:"captureId"`
		Amount    Money     `json:"amount"`
		At        time.Time `json:"at"`
	}
	PaymentAuthorizationReleased struct {
		PaymentID string    `json:"paymentId"`
		OrderID   string    `json:"orderId"`
		ReleaseID string    `json:"releaseId"`
		Amount    Money     `json:"amount"`
		At        time.Time `json:"at"`
	}
)

func (PaymentPartCaptured) EventType() string          { return "payment.part_captured" }
func (PaymentAuthorizationReleased) EventType() string { return "payment.authorization_released" }

// Uncommitted is the part of the authorization neither captured nor released.
func (p Payment) Uncommitted() Money {
	return Money{Amount: p.Amount.Amount - p.Captured.Amount - p.Released.Amount, Currency: p.Amount.Currency}
}

func decidePaymentPart(s Payment, c PaymentCommand, now time.Time) ([]Event, error) {
	open := s.State == PaymentStateAuthorized || s.State == PaymentStateCaptured ||
		s.State == PaymentStatePartiallyRefunded || s.State == PaymentStateRefunded
	switch c := c.(type) {
	case CapturePaymentPart:
		if slices.Contains(s.Parts, "capture:"+c.CaptureID) {
			return nil, nil
		}
		if err := ValidateID("captureId", c.CaptureID); err != nil {
			return nil, err
		}
		if !open {
			return nil, illegal("payment", s.ID, string(s.State), "capture", "")
		}
		if c.Amount.Currency != s.Amount.Currency || !c.Amount.IsPositive() {
			return nil, invalid("amount", "must be a positive %s amount", s.Amount.Currency)
		}
		if left := s.Uncommitted(); c.Amount.Amount > left.Amount {
			return nil, invalid("amount", "capture of %s exceeds the %s authorized and not yet captured or released", c.Amount, left)
		}
		return []Event{PaymentPartCaptured{PaymentID: s.ID, OrderID: s.OrderID, CaptureID: c.CaptureID, Amount: c.Amount, At: now}}, nil
	case ReleaseAuthorizationPart:
		if slices.Contains(s.Parts, "release:"+c.ReleaseID) {
			return nil, nil
		}
		if err := ValidateID("releaseId", c.ReleaseID); err != nil {
			return nil, err
		}
		if !open {
			return nil, illegal("payment", s.ID, string(s.State), "release part of", "")
		}
		if c.Amount.Currency != s.Amount.Currency || !c.Amount.IsPositive() {
			return nil, invalid("amount", "must be a positive %s amount", s.Amount.Currency)
		}
		if left := s.Uncommitted(); c.Amount.Amount > left.Amount {
			return nil, invalid("amount", "release of %s exceeds the %s authorized and not yet captured or released", c.Amount, left)
		}
		return []Event{PaymentAuthorizationReleased{PaymentID: s.ID, OrderID: s.OrderID, ReleaseID: c.ReleaseID, Amount: c.Amount, At: now}}, nil
	}
	return nil, invalid("", "unsupported payment command %T", c)
}

func (s *Payment) applyPart(e Event) {
	switch e := e.(type) {
	case PaymentPartCaptured:
		s.Captured.Amount += e.Amount.Amount
		s.Parts = append(s.Parts, "capture:"+e.CaptureID)
		s.State = PaymentStateCaptured
		if s.Refunded.IsPositive() {
			s.State = PaymentStatePartiallyRefunded
		}
		s.UpdatedAt = e.At
	case PaymentAuthorizationReleased:
		s.Released.Amount += e.Amount.Amount
		s.Parts = append(s.Parts, "release:"+e.ReleaseID)
		s.UpdatedAt = e.At
	}
}
