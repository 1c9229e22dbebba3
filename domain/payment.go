package domain

import (
	"slices"
	"time"
)

// PaymentState is the lifecycle of a payment:
//
//	requested → authorized | declined | failed
//	authorized → captured | voided
//	captured → partially_refunded → refunded
type PaymentState string

const (
	PaymentStateRequested         PaymentState = "requested"
	PaymentStateAuthorized        PaymentState = "authorized"
	PaymentStateDeclined          PaymentState = "declined"
	PaymentStateFailed            PaymentState = "failed"
	PaymentStateCaptured          PaymentState = "captured"
	PaymentStateVoided            PaymentState = "voided"
	PaymentStatePartiallyRefunded PaymentState = "partially_refunded"
	PaymentStateRefunded          PaymentState = "refunded"
)

// Payment is the state of one payment (one authorization) for an order. The zero value
// does not exist.
type Payment struct {
	ID         string       `json:"id"`
	OrderID    string       `json:"orderId"`
	Amount     Money        `json:"amount"` // authorization amount requested
	Method     string       `json:"method"` // gateway token such as "tok_visa"; never card data
	State      PaymentState `json:"state"`
	GatewayRef string       `json:"gatewayRef,omitempty"` // the gateway's authorization id
	Captured   Money        `json:"captured"`
	Refunded   Money        `json:"refunded"`
	Refunds    []Refund     `json:"refunds,omitempty"`
	Released   Money        `json:"released"`         // given back by partial voids (payment_parts.go)
	Parts      []string     `json:"parts,omitempty"`  // ids of part captures and releases
	Reason     string       `json:"reason,omitempty"` // of a decline, failure or void
	CreatedAt  time.Time    `json:"createdAt"`
	UpdatedAt  time.Time    `json:"updatedAt"`
}

// Exists reports whether the payment has been requested.
func (p Payment) Exists() bool { return p.State != "" }

// Refundable is captured minus refunded.
func (p Payment) Refundable() Money {
	return Money{Amount: p.Captured.Amount - p.Refunded.Amount, Currency: p.Amount.Currency}
}

// PaymentCommand is a command to the Payment decider.
type PaymentCommand interface {
	Command
	paymentCommand()
}

// RequestAuthorization starts a payment for an order.
type RequestAuthorization struct {
	PaymentID string
	OrderID   string
	Amount    Money
	Method    string
	// CustomerID is the data subject of Method (the payment token is sealed under it).
	CustomerID string
}

// RecordAuthorization records the gateway's approval; the amount must match the request.
type RecordAuthorization struct {
	PaymentID  string
	GatewayRef string
	Amount     Money
}

// RecordDecline records that the gateway declined the authorization.
type RecordDecline struct {
	PaymentID string
	Reason    string
}

// RecordFailure records a gateway error or timeout.
type RecordFailure struct {
	PaymentID string
	Reason    string
}

// CapturePayment captures (part of) the authorized amount, once.
type CapturePayment struct {
	PaymentID string
	Amount    Money
}

// VoidPayment cancels an uncaptured authorization.
type VoidPayment struct {
	PaymentID string
	Reason    string
}

// RefundPayment refunds part or all of the captured amount; never more in total. Repeating
// a RefundID is a no-op.
type RefundPayment struct {
	PaymentID string
	RefundID  string
	Amount    Money
	Reason    string
}

func (c RequestAuthorization) AggregateID() string { return c.PaymentID }
func (c RecordAuthorization) AggregateID() string  { return c.PaymentID }
func (c RecordDecline) AggregateID() string        { return c.PaymentID }
func (c RecordFailure) AggregateID() string        { return c.PaymentID }
func (c CapturePayment) AggregateID() string       { return c.PaymentID }
func (c VoidPayment) AggregateID() string          { return c.PaymentID }
func (c RefundPayment) AggregateID() string        { return c.PaymentID }
func (RequestAuthorization) paymentCommand()       {}
func (RecordAuthorization) paymentCommand()        {}
func (RecordDecline) paymentCommand()              {}
func (RecordFailure) paymentCommand()              {}
func (CapturePayment) paymentCommand()             {}
func (VoidPayment) paymentCommand()                {}
func (RefundPayment) paymentCommand()              {}

// Payment events.
type (
	PaymentAuthorizationRequested struct {
		PaymentID  string    `json:"paymentId"`
		OrderID    string    `json:"orderId"`
		CustomerID string    `json:"customerId,omitempty" privacy:"subject"`
		Amount     Money     `json:"amount"`
		Method     string    `json:"method" privacy:"personal"`
		At         time.Time `json:"at"`
	}
	PaymentAuthorized struct {
		PaymentID  string    `json:"paymentId"`
		OrderID    string    `json:"orderId"`
		GatewayRef string    `json:"gatewayRef"`
		Amount     Money     `json:"amount"`
		At         time.Time `json:"at"`
	}
	PaymentDeclined struct {
		PaymentID string    `json:"paymentId"`
		OrderID   string    `json:"orderId"`
		Reason    string    `json:"reason"`
		At        time.Time `json:"at"`
	}
	PaymentFailed struct {
		PaymentID string    `json:"paymentId"`
		OrderID   string    `json:"orderId"`
		Reason    string    `json:"reason"`
		At        time.Time `json:"at"`
	}
	PaymentCaptured struct {
		PaymentID string    `json:"paymentId"`
		OrderID   string    `json:"orderId"`
		Amount    Money     `json:"amount"`
		At        time.Time `json:"at"`
	}
	PaymentVoided struct {
		PaymentID string    `json:"paymentId"`
		OrderID   string    `json:"orderId"`
		Reason    string    `json:"reason,omitempty"`
		At        time.Time `json:"at"`
	}
	PaymentRefunded struct {
		PaymentID string    `json:"paymentId"`
		OrderID   string    `json:"orderId"`
		RefundID  string    `json:"refundId"`
		Amount    Money     `json:"amount"`
		Reason    string    `json:"reason,omitempty"`
		At        time.Time `json:"at"`
	}
)

func (PaymentAuthorizationRequested) EventType() string { return "payment.authorization_requested" }
func (PaymentAuthorized) EventType() string             { return "payment.authorized" }
func (PaymentDeclined) EventType() string               { return "payment.declined" }
func (PaymentFailed) EventType() string                 { return "payment.failed" }
func (PaymentCaptured) EventType() string               { return "payment.captured" }
func (PaymentVoided) EventType() string                 { return "payment.voided" }
func (PaymentRefunded) EventType() string               { return "payment.refunded" }

// NewPaymentDecider returns the Payment decider.
func NewPaymentDecider() Decider[Payment, PaymentCommand] {
	return newDecider[Payment, PaymentCommand](CategoryPayment, DecidePayment)
}

// EvolvePayment applies one event to a payment.
func EvolvePayment(s Payment, e Event) Payment { return evolve(s, e) }

// FoldPayment applies events in order.
func FoldPayment(s Payment, events []Event) Payment { return fold(s, events) }

// DecidePayment decides a payment command. Recording the outcome the payment already has
// is a no-op (webhooks and retries repeat themselves); anything else out of order is
// ErrIllegalTransition.
func DecidePayment(s Payment, c PaymentCommand, now time.Time) ([]Event, error) {
	now = now.UTC()
	if req, ok := c.(RequestAuthorization); ok {
		if s.Exists() {
			return nil, alreadyExists("payment", s.ID)
		}
		var p problems
		p.addErr("paymentId", ValidateID("", req.PaymentID))
		p.addErr("orderId", ValidateID("", req.OrderID))
		if req.Amount.Validate() != nil || !req.Amount.IsPositive() {
			p.add("amount", "must be a positive amount in a supported currency")
		}
		validateText(&p, "method", req.Method, 255, true)
		if err := p.err(); err != nil {
			return nil, err
		}
		return []Event{PaymentAuthorizationRequested{PaymentID: req.PaymentID, OrderID: req.OrderID, CustomerID: req.CustomerID, Amount: req.Amount, Method: req.Method, At: now}}, nil
	}
	if !s.Exists() {
		return nil, notFound("payment", c.AggregateID())
	}
	no := func(action string) error { return illegal("payment", s.ID, string(s.State), action, "") }
	switch c := c.(type) {
	case RecordAuthorization:
		if s.State == PaymentStateAuthorized && s.GatewayRef == c.GatewayRef {
			return nil, nil
		}
		if s.State != PaymentStateRequested {
			return nil, no("authorize")
		}
		var p problems
		validateText(&p, "gatewayRef", c.GatewayRef, 255, true)
		if c.Amount != s.Amount {
			p.add("amount", "authorized %s does not match the requested %s", c.Amount, s.Amount)
		}
		if err := p.err(); err != nil {
			return nil, err
		}
		return []Event{PaymentAuthorized{PaymentID: s.ID, OrderID: s.OrderID, GatewayRef: c.GatewayRef, Amount: c.Amount, At: now}}, nil

	case RecordDecline:
		if s.State == PaymentStateDeclined {
			return nil, nil
		}
		if s.State != PaymentStateRequested {
			return nil, no("decline")
		}
		return []Event{PaymentDeclined{PaymentID: s.ID, OrderID: s.OrderID, Reason: c.Reason, At: now}}, nil

	case RecordFailure:
		if s.State == PaymentStateFailed {
			return nil, nil
		}
		if s.State != PaymentStateRequested {
			return nil, no("fail")
		}
		return []Event{PaymentFailed{PaymentID: s.ID, OrderID: s.OrderID, Reason: c.Reason, At: now}}, nil

	case CapturePayment:
		if s.Captured.IsPositive() && c.Amount == s.Captured {
			return nil, nil
		}
		if s.State != PaymentStateAuthorized {
			return nil, no("capture")
		}
		if c.Amount.Currency != s.Amount.Currency || !c.Amount.IsPositive() || c.Amount.Amount > s.Amount.Amount {
			return nil, invalid("amount", "must be a positive %s amount of at most the authorized %s", s.Amount.Currency, s.Amount)
		}
		return []Event{PaymentCaptured{PaymentID: s.ID, OrderID: s.OrderID, Amount: c.Amount, At: now}}, nil

	case VoidPayment:
		if s.State == PaymentStateVoided {
			return nil, nil
		}
		if s.State != PaymentStateAuthorized {
			return nil, no("void")
		}
		return []Event{PaymentVoided{PaymentID: s.ID, OrderID: s.OrderID, Reason: c.Reason, At: now}}, nil

	case CapturePaymentPart, ReleaseAuthorizationPart:
		return decidePaymentPart(s, c, now)

	case IncreaseAuthorization:
		return decideIncrease(s, c, now)

	case RefundPayment:
		if slices.ContainsFunc(s.Refunds, func(r Refund) bool { return r.RefundID == c.RefundID }) {
			return nil, nil
		}
		if s.State != PaymentStateCaptured && s.State != PaymentStatePartiallyRefunded {
			return nil, no("refund")
		}
		var p problems
		p.addErr("refundId", ValidateID("", c.RefundID))
		validateText(&p, "reason", c.Reason, MaxNameLength, false)
		if c.Amount.Currency != s.Amount.Currency || !c.Amount.IsPositive() {
			p.add("amount", "must be a positive %s amount", s.Amount.Currency)
		}
		if err := p.err(); err != nil {
			return nil, err
		}
		if left := s.Refundable(); c.Amount.Amount > left.Amount {
			return nil, invalid("amount", "refund of %s exceeds the %s captured and not yet refunded", c.Amount, left)
		}
		return []Event{PaymentRefunded{PaymentID: s.ID, OrderID: s.OrderID, RefundID: c.RefundID, Amount: c.Amount, Reason: c.Reason, At: now}}, nil
	}
	return nil, invalid("", "unsupported payment command %T", c)
}

func (s Payment) clone() Payment {
	s.Refunds = cloneSlice(s.Refunds)
	s.Parts = cloneSlice(s.Parts)
	return s
}

func (s *Payment) apply(e Event) {
	switch e := e.(type) {
	case PaymentAuthorizationRequested:
		z := Zero(e.Amount.Currency)
		*s = Payment{
			ID: e.PaymentID, OrderID: e.OrderID, Amount: e.Amount, Method: e.Method, State: PaymentStateRequested,
			Captured: z, Refunded: z, Released: z, CreatedAt: e.At, UpdatedAt: e.At,
		}
	case PaymentAuthorized:
		s.State, s.GatewayRef = PaymentStateAuthorized, e.GatewayRef
		s.UpdatedAt = e.At
	case PaymentDeclined:
		s.State, s.Reason = PaymentStateDeclined, e.Reason
		s.UpdatedAt = e.At
	case PaymentFailed:
		s.State, s.Reason = PaymentStateFailed, e.Reason
		s.UpdatedAt = e.At
	case PaymentCaptured:
		s.State, s.Captured = PaymentStateCaptured, e.Amount
		s.UpdatedAt = e.At
	case PaymentVoided:
		s.State, s.Reason = PaymentStateVoided, e.Reason
		s.UpdatedAt = e.At
	case PaymentRefunded:
		s.Refunded.Amount += e.Amount.Amount
		s.Refunds = append(s.Refunds, Refund{RefundID: e.RefundID, Amount: e.Amount, Reason: e.Reason, At: e.At})
		s.State = PaymentStatePartiallyRefunded
		if s.Refunded.Amount >= s.Captured.Amount {
			s.State = PaymentStateRefunded
		}
		s.UpdatedAt = e.At
	case PaymentAuthorizationIncreased:
		s.applyIncrease(e)
	default:
		s.applyPart(e)
	}
}
