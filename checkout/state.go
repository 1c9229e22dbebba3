package checkout

import (
	"fmt"
	"slices"
	"time"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/payment"
)

// State is a checkout folded from its stream. The zero value has not started.
type State struct {
	OrderID        string
	CustomerID     string
	Lines          []LineRef
	CouponCode     string
	Subtotal       domain.Money
	Amount         domain.Money
	ExpiresAt      time.Time
	PlacedEventID  string
	StartedAt      time.Time
	UpdatedAt      time.Time
	StockReserved  bool
	CouponRedeemed bool
	// Payment is the authorization outcome known to the saga ("" before the gateway answered).
	Payment        payment.Status
	GatewayRef     string
	PaymentReason  string
	PaymentTimeout bool
	Webhooks       map[string]bool // gateway event ids already applied
	// FailCode is set once the checkout is being cancelled (compensation runs).
	FailCode   Code
	FailReason string
	Outcome    Outcome
	// WasConfirmed is true once the checkout has been confirmed (stock committed), even if
	// it was cancelled afterwards.
	WasConfirmed bool
	// LateRefs are authorizations that arrived after the payment had failed; each must be
	// voided (LateVoided) — or the gateway refused the void (LateVoidRefused, ref →
	// reason), which needs a human: it is not retried.
	LateRefs        []string
	LateVoided      map[string]bool
	LateVoidRefused map[string]string
}

// Exists reports whether the checkout has started.
func (s State) Exists() bool { return s.OrderID != "" }

// Step is the current step.
func (s State) Step() Step {
	switch {
	case s.Outcome != "":
		return StepCompleted
	case s.FailCode != "":
		return StepCompensate
	case !s.StockReserved:
		return StepReserveStock
	case s.CouponCode != "" && !s.CouponRedeemed:
		return StepRedeemCoupon
	}
	switch s.Payment {
	case "":
		return StepAuthorizePayment
	case payment.StatusPending:
		return StepAwaitingPayment
	case payment.StatusAuthorized:
		return StepConfirm
	}
	return StepCompensate // declined or failed: about to fail
}

// unvoided lists late authorizations not voided yet.
func (s State) unvoided() []string {
	var out []string
	for _, r := range s.LateRefs {
		if _, refused := s.LateVoidRefused[r]; !s.LateVoided[r] && !refused {
			out = append(out, r)
		}
	}
	return out
}

// Terminal reports whether the checkout has completed and owes nothing more.
func (s State) Terminal() bool { return s.Outcome != "" && len(s.unvoided()) == 0 }

func (s State) clone() State {
	s.Lines = slices.Clone(s.Lines)
	s.LateRefs = slices.Clone(s.LateRefs)
	if s.Webhooks != nil {
		m := make(map[string]bool, len(s.Webhooks))
		for k, v := range s.Webhooks {
			m[k] = v
		}
		s.Webhooks = m
	}
	if s.LateVoided != nil {
		m := make(map[string]bool, len(s.LateVoided))
		for k, v := range s.LateVoided {
			m[k] = v
		}
		s.LateVoided = m
	}
	if s.LateVoidRefused != nil {
		m := make(map[string]string, len(s.LateVoidRefused))
		for k, v := range s.LateVoidRefused {
			m[k] = v
		}
		s.LateVoidRefused = m
	}
	return s
}

// settlePayment applies an authorization outcome: while the checkout is open the first
// definitive one wins; any other authorization (after the payment failed, after the
// checkout failed or completed, or a second one) is late and must be voided.
func (s *State) settlePayment(status payment.Status, ref, reason string) {
	open := s.FailCode == "" && s.Outcome == ""
	if open && (s.Payment == "" || s.Payment == payment.StatusPending) {
		s.Payment, s.PaymentReason = status, reason
		if ref != "" {
			s.GatewayRef = ref
		}
		return
	}
	if status != payment.StatusAuthorized || ref == "" || slices.Contains(s.LateRefs, ref) ||
		(s.Payment == payment.StatusAuthorized && ref == s.GatewayRef) {
		return
	}
	s.LateRefs = append(s.LateRefs, ref)
}

func (s *State) apply(e domain.Event) {
	switch e := e.(type) {
	case Started:
		*s = State{OrderID: e.OrderID, CustomerID: e.CustomerID, Lines: slices.Clone(e.Lines), CouponCode: e.CouponCode,
			Subtotal: e.Subtotal, Amount: e.Amount, ExpiresAt: e.ExpiresAt, PlacedEventID: e.PlacedEventID, StartedAt: e.At}
	case StockReserved:
		s.StockReserved = true
	case CouponRedeemed:
		s.CouponRedeemed = true
	case PaymentAnswered:
		if e.Status == payment.StatusPending {
			if s.Payment == "" {
				s.Payment, s.GatewayRef = payment.StatusPending, e.GatewayRef
			}
		} else {
			s.settlePayment(e.Status, e.GatewayRef, e.Reason)
			if s.Payment == e.Status {
				s.PaymentTimeout = e.Timeout
			}
		}
	case WebhookReceived:
		if s.Webhooks == nil {
			s.Webhooks = map[string]bool{}
		}
		s.Webhooks[e.EventID] = true
		if e.Status.Definitive() {
			s.settlePayment(e.Status, e.GatewayRef, e.Reason)
		}
	case Failed:
		if s.FailCode == "" {
			s.FailCode, s.FailReason = e.Code, e.Reason
		}
	case CancelRequested:
		if s.Outcome == OutcomeConfirmed {
			s.Outcome = "" // reopened: compensation undoes the confirmed checkout
		}
		if s.FailCode == "" {
			s.FailCode, s.FailReason = CodeCancelled, e.Reason
		}
	case Completed:
		s.Outcome = e.Outcome
		if e.Outcome == OutcomeConfirmed {
			s.WasConfirmed = true
		}
	case LateAuthorizationVoided:
		if s.LateVoided == nil {
			s.LateVoided = map[string]bool{}
		}
		s.LateVoided[e.GatewayRef] = true
	case LateAuthorizationVoidRefused:
		if s.LateVoidRefused == nil {
			s.LateVoidRefused = map[string]string{}
		}
		s.LateVoidRefused[e.GatewayRef] = e.Reason
	default:
		return
	}
	if at := eventTime(e); !at.IsZero() {
		s.UpdatedAt = at
	}
}

func eventTime(e domain.Event) time.Time {
	switch e := e.(type) {
	case Started:
		return e.At
	case StockReserved:
		return e.At
	case CouponRedeemed:
		return e.At
	case PaymentAnswered:
		return e.At
	case WebhookReceived:
		return e.At
	case Failed:
		return e.At
	case CancelRequested:
		return e.At
	case Completed:
		return e.At
	case LateAuthorizationVoided:
		return e.At
	case LateAuthorizationVoidRefused:
		return e.At
	}
	return time.Time{}
}

// Command is a command to the checkout decider.
type Command interface {
	domain.Command
	checkoutCommand()
}

type (
	start struct {
		Started
	}
	markReserved   struct{ OrderID string }
	markRedeemed   struct{ OrderID, Code string }
	recordAnswer   struct{ PaymentAnswered }
	receiveWebhook struct{ WebhookReceived }
	fail           struct {
		OrderID string
		Code    Code
		Reason  string
	}
	requestCancel struct{ OrderID, Reason string }
	complete      struct {
		OrderID string
		Outcome Outcome
		Code    Code
		Reason  string
	}
	// recordLateVoid records the gateway's answer to voiding a late authorization.
	recordLateVoid struct {
		OrderID, GatewayRef string
		Refused             bool
		Reason              string
	}
)

func (c start) AggregateID() string          { return c.OrderID }
func (c markReserved) AggregateID() string   { return c.OrderID }
func (c markRedeemed) AggregateID() string   { return c.OrderID }
func (c recordAnswer) AggregateID() string   { return c.OrderID }
func (c receiveWebhook) AggregateID() string { return c.OrderID }
func (c fail) AggregateID() string           { return c.OrderID }
func (c requestCancel) AggregateID() string  { return c.OrderID }
func (c complete) AggregateID() string       { return c.OrderID }
func (c recordLateVoid) AggregateID() string { return c.OrderID }
func (start) checkoutCommand()               {}
func (markReserved) checkoutCommand()        {}
func (markRedeemed) checkoutCommand()        {}
func (recordAnswer) checkoutCommand()        {}
func (receiveWebhook) checkoutCommand()      {}
func (fail) checkoutCommand()                {}
func (requestCancel) checkoutCommand()       {}
func (complete) checkoutCommand()            {}
func (recordLateVoid) checkoutCommand()      {}

// decide is the checkout decider. Commands that the state has already moved past are
// no-ops, so a resumed or duplicated step never writes twice.
func decide(s State, c Command, now time.Time) ([]domain.Event, error) {
	now = now.UTC()
	if st, ok := c.(start); ok {
		if s.Exists() {
			return nil, nil
		}
		e := st.Started
		e.At = now
		return []domain.Event{e}, nil
	}
	if !s.Exists() {
		return nil, fmt.Errorf("%w: checkout of order %s has not started", domain.ErrNotFound, c.AggregateID())
	}
	open := s.Outcome == "" && s.FailCode == ""
	switch c := c.(type) {
	case markReserved:
		if !open || s.StockReserved {
			return nil, nil
		}
		return []domain.Event{StockReserved{OrderID: s.OrderID, At: now}}, nil
	case markRedeemed:
		if !open || s.CouponRedeemed {
			return nil, nil
		}
		return []domain.Event{CouponRedeemed{OrderID: s.OrderID, Code: c.Code, At: now}}, nil
	case recordAnswer:
		if s.Payment != "" && (s.Payment != payment.StatusPending || c.Status == payment.StatusPending) {
			if !(c.Status == payment.StatusAuthorized && c.GatewayRef != "" && c.GatewayRef != s.GatewayRef && !slices.Contains(s.LateRefs, c.GatewayRef)) {
				return nil, nil
			}
		}
		e := c.PaymentAnswered
		e.At = now
		return []domain.Event{e}, nil
	case receiveWebhook:
		if s.Webhooks[c.EventID] {
			return nil, nil
		}
		e := c.WebhookReceived
		e.At = now
		return []domain.Event{e}, nil
	case fail:
		if !open || (c.Code == CodeExpired && s.Payment == payment.StatusAuthorized) {
			return nil, nil
		}
		return []domain.Event{Failed{OrderID: s.OrderID, Code: c.Code, Reason: c.Reason, At: now}}, nil
	case requestCancel:
		if s.FailCode != "" || s.Outcome == OutcomeCancelled {
			return nil, nil
		}
		return []domain.Event{CancelRequested{OrderID: s.OrderID, Reason: c.Reason, At: now}}, nil
	case complete:
		if s.Outcome != "" {
			return nil, nil
		}
		switch {
		case c.Outcome == OutcomeConfirmed && (s.FailCode != "" || s.Payment != payment.StatusAuthorized):
			return nil, nil // cancelled meanwhile: compensation will complete it
		case c.Outcome == OutcomeCancelled && s.FailCode == "":
			return nil, fmt.Errorf("%w: checkout %s cannot complete as cancelled before failing", domain.ErrIllegalTransition, s.OrderID)
		}
		return []domain.Event{Completed{OrderID: s.OrderID, Outcome: c.Outcome, Code: c.Code, Reason: c.Reason, At: now}}, nil
	case recordLateVoid:
		if _, refused := s.LateVoidRefused[c.GatewayRef]; s.LateVoided[c.GatewayRef] || refused {
			return nil, nil
		}
		if c.Refused {
			return []domain.Event{LateAuthorizationVoidRefused{OrderID: s.OrderID, GatewayRef: c.GatewayRef, Reason: c.Reason, At: now}}, nil
		}
		return []domain.Event{LateAuthorizationVoided{OrderID: s.OrderID, GatewayRef: c.GatewayRef, At: now}}, nil
	}
	return nil, fmt.Errorf("%w: unsupported checkout command %T", domain.ErrValidation, c)
}

func evolve(s State, e domain.Event) State {
	c := s.clone()
	c.apply(e)
	return c
}

func fold(s State, events []domain.Event) State {
	c := s.clone()
	for _, e := range events {
		c.apply(e)
	}
	return c
}

// decider is the checkout's decider for commands.Execute.
var decider = domain.Decider[State, Command]{Category: Category, Decide: decide, Evolve: evolve, Fold: fold}
