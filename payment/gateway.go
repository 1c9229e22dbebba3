// Package payment is the payment-gateway port the checkout uses, a built-in Simulator
// selected by test card tokens, and signed gateway webhooks (Sign, ParseWebhook).
//
// Every Gateway operation carries an idempotency key: repeating a call with the same key
// returns the first answer and moves no money twice. A returned error means "outcome
// unknown" (network, timeout): retry with the same key. A Status of declined or failed is a
// definitive answer.
package payment

import (
	"context"
	"errors"

	"github.com/orderengine/orderengine/domain"
)

// ErrRefused: the gateway definitively refused a capture or refund, so nothing was
// recorded. Callers wrap it with the gateway's reason.
var ErrRefused = errors.New("payment gateway refused")

// Status is a gateway's answer.
type Status string

const (
	StatusAuthorized Status = "authorized" // funds held; capture or void later
	StatusDeclined   Status = "declined"   // the issuer refused (definitive)
	StatusFailed     Status = "failed"     // the gateway could not process it (definitive)
	StatusPending    Status = "pending"    // the outcome arrives later by webhook
	StatusSucceeded  Status = "succeeded"  // a capture, void or refund went through
)

// Definitive reports whether an authorization answer is final (not pending).
func (s Status) Definitive() bool {
	return s == StatusAuthorized || s == StatusDeclined || s == StatusFailed
}

// AuthorizeRequest asks the gateway to hold Amount on the card behind Token.
type AuthorizeRequest struct {
	OrderID        string
	Amount         domain.Money
	Token          string // gateway card token such as "tok_visa"; never card data
	IdempotencyKey string
}

// AuthorizeResult is the gateway's answer to an authorization.
type AuthorizeResult struct {
	Status     Status
	GatewayRef string // the gateway's authorization id (set unless failed)
	Reason     string // why it was declined or failed
}

// CaptureRequest takes (part of) an authorized amount.
type CaptureRequest struct {
	OrderID        string
	GatewayRef     string // the authorization
	Amount         domain.Money
	IdempotencyKey string
}

// VoidRequest releases an uncaptured authorization.
type VoidRequest struct {
	OrderID        string
	GatewayRef     string // the authorization
	IdempotencyKey string
}

// RefundRequest gives back (part of) a captured amount.
type RefundRequest struct {
	OrderID        string
	GatewayRef     string // the authorization that was captured
	Amount         domain.Money
	IdempotencyKey string
}

// Result is the answer to a capture, void or refund: succeeded or failed.
type Result struct {
	Status     Status
	GatewayRef string // the operation's id at the gateway
	Reason     string
}

// LookupRequest asks what became of an authorization (reconciliation, e.g. of a pending
// one whose webhook never came).
type LookupRequest struct {
	OrderID    string
	GatewayRef string // the authorization
}

// Gateway is the payment-gateway port. All operations are idempotent by IdempotencyKey;
// Lookup changes nothing.
type Gateway interface {
	Authorize(ctx context.Context, req AuthorizeRequest) (AuthorizeResult, error)
	// Lookup answers an authorization's state now: authorized, declined, failed or still
	// pending (a voided or captured one answers as authorized: it was).
	Lookup(ctx context.Context, req LookupRequest) (AuthorizeResult, error)
	Capture(ctx context.Context, req CaptureRequest) (Result, error)
	Void(ctx context.Context, req VoidRequest) (Result, error)
	Refund(ctx context.Context, req RefundRequest) (Result, error)
}
