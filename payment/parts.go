package payment

import (
	"context"

	"github.com/orderengine/orderengine/domain"
)

// An order fulfilled in parcels captures its authorization in parts and releases the part
// of cancelled lines (a partial void). These are separate from Capture and Void, which
// take or release the whole authorization once.

// PartialVoidRequest releases Amount of an authorization that will not be captured.
type PartialVoidRequest struct {
	OrderID        string
	GatewayRef     string // the authorization
	Amount         domain.Money
	IdempotencyKey string
}

// PartialGateway is a gateway that captures and releases an authorization in parts;
// captured + released never exceed the authorized amount. Idempotent by IdempotencyKey.
type PartialGateway interface {
	CapturePart(ctx context.Context, req CaptureRequest) (Result, error)
	VoidPart(ctx context.Context, req PartialVoidRequest) (Result, error)
}

var _ PartialGateway = (*Simulator)(nil)

// CapturePart implements PartialGateway: one more capture of part of the authorization.
func (s *Simulator) CapturePart(ctx context.Context, req CaptureRequest) (Result, error) {
	return s.operate(ctx, "capture_part", req.IdempotencyKey, req.GatewayRef, func(a *simAuth) Result {
		switch {
		case a.state != StatusAuthorized && a.state != simCaptured:
			return Result{Status: StatusFailed, Reason: "authorization is " + string(a.state)}
		case req.Amount.Currency != a.amount.Currency || !req.Amount.IsPositive() || a.captured+a.released+req.Amount.Amount > a.amount.Amount:
			return Result{Status: StatusFailed, Reason: "amount_exceeds_authorization"}
		}
		a.state, a.captured = simCaptured, a.captured+req.Amount.Amount
		return Result{Status: StatusSucceeded, GatewayRef: newRef("cap_")}
	})
}

// VoidPart implements PartialGateway: releases part of the authorization.
func (s *Simulator) VoidPart(ctx context.Context, req PartialVoidRequest) (Result, error) {
	return s.operate(ctx, "void_part", req.IdempotencyKey, req.GatewayRef, func(a *simAuth) Result {
		switch {
		case a.state != StatusAuthorized && a.state != simCaptured:
			return Result{Status: StatusFailed, Reason: "authorization is " + string(a.state)}
		case req.Amount.Currency != a.amount.Currency || !req.Amount.IsPositive() || a.captured+a.released+req.Amount.Amount > a.amount.Amount:
			return Result{Status: StatusFailed, Reason: "amount_exceeds_authorization"}
		}
		a.released += req.Amount.Amount
		return Result{Status: StatusSucceeded, GatewayRef: newRef("void_")}
	})
}

// Released is how much of an authorization partial voids have released.
func (s *Simulator) Released(gatewayRef string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.auths[gatewayRef]; ok {
		return a.released
	}
	return 0
}
