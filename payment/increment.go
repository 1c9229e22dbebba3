package payment

import (
	"context"
	"errors"

	"github.com/orderengine/orderengine/domain"
)

// IncrementRequest raises an authorization by Amount (an incremental authorization, as
// card networks allow for edited orders), so later captures take from one authorization.
type IncrementRequest struct {
	OrderID        string
	GatewayRef     string // the authorization
	Amount         domain.Money
	IdempotencyKey string
}

// IncrementalGateway is a gateway that offers incremental authorizations. The answer is
// StatusSucceeded (the authorization grew) or StatusDeclined; idempotent by
// IdempotencyKey.
type IncrementalGateway interface {
	IncrementAuthorization(ctx context.Context, req IncrementRequest) (Result, error)
}

var _ IncrementalGateway = (*Simulator)(nil)

// IncrementAuthorization implements IncrementalGateway. It is declined when the
// authorization is not open or would exceed the card limit set by LimitCard.
func (s *Simulator) IncrementAuthorization(ctx context.Context, req IncrementRequest) (Result, error) {
	return s.operate(ctx, "increment", req.IdempotencyKey, req.GatewayRef, func(a *simAuth) Result {
		switch {
		case a.state != StatusAuthorized && a.state != simCaptured:
			return Result{Status: StatusDeclined, Reason: "authorization is " + string(a.state)}
		case req.Amount.Currency != a.amount.Currency || !req.Amount.IsPositive():
			return Result{Status: StatusFailed, Reason: "invalid_request"}
		}
		if lim, ok := s.limit[a.orderID]; ok && a.amount.Amount+req.Amount.Amount > lim {
			return Result{Status: StatusDeclined, Reason: "insufficient_funds"}
		}
		a.amount.Amount += req.Amount.Amount
		return Result{Status: StatusSucceeded, GatewayRef: newRef("inc_")}
	})
}

// LimitCard makes increments of an order's authorizations beyond max (minor units in
// total) be declined, as a card at its limit.
func (s *Simulator) LimitCard(orderID string, max int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.limit == nil {
		s.limit = map[string]int64{}
	}
	s.limit[orderID] = max
}

// ErrDeclined: the gateway declined to authorize more (an incremental authorization); the
// caller undid whatever depended on it.
var ErrDeclined = errors.New("payment declined")
