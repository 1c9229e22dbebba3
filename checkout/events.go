package checkout

import (
	"time"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/payment"
)

// Category is the stream category of checkouts: "checkout-<orderId>".
const Category = "checkout"

// StreamName is the checkout stream of an order.
func StreamName(orderID string) string { return Category + "-" + orderID }

// Step is where a checkout is.
type Step string

const (
	StepReserveStock     Step = "reserve_stock"
	StepRedeemCoupon     Step = "redeem_coupon"
	StepAuthorizePayment Step = "authorize_payment" // asking the gateway (or waiting for the token)
	StepAwaitingPayment  Step = "awaiting_payment"  // gateway answered pending; waiting for its webhook
	StepConfirm          Step = "confirm"           // authorized: committing stock, confirming the order
	StepCompensate       Step = "compensate"        // failed or cancelled: undoing what was done
	StepCompleted        Step = "completed"
)

// Outcome is how a checkout ended.
type Outcome string

const (
	OutcomeConfirmed Outcome = "confirmed"
	OutcomeCancelled Outcome = "cancelled"
)

// Code says why a checkout was cancelled; stable, for API problem types.
type Code string

const (
	CodeOutOfStock          Code = "out_of_stock"
	CodeCouponExhausted     Code = "coupon_exhausted"
	CodeCouponNotApplicable Code = "coupon_not_applicable"
	CodePaymentDeclined     Code = "payment_declined"
	CodePaymentFailed       Code = "payment_failed"
	CodePaymentTimeout      Code = "payment_timeout"
	CodeInvalidPayment      Code = "invalid_payment" // the payment request does not match the order
	CodeExpired             Code = "expired"         // not paid before the reservation TTL
	CodeCancelled           Code = "cancelled"       // by the customer or an admin
	CodeStockLost           Code = "stock_lost"      // a reservation vanished before commit
)

// LineRef is one SKU and quantity to reserve.
type LineRef struct {
	SKU      string `json:"sku"`
	Quantity int64  `json:"quantity"`
}

// Checkout events (stream checkout-<orderId>). The application's registry holds them
// (package eventregistry); New checks it does.
type (
	// Started: the saga took the order on.
	Started struct {
		OrderID    string       `json:"orderId"`
		CustomerID string       `json:"customerId"`
		Lines      []LineRef    `json:"lines"`
		CouponCode string       `json:"couponCode,omitempty"`
		Subtotal   domain.Money `json:"subtotal"` // before discount, for the coupon minimum
		Amount     domain.Money `json:"amount"`   // grand total to authorize
		ExpiresAt  time.Time    `json:"expiresAt"`
		// PlacedEventID is the order.placed event that started the saga.
		PlacedEventID string    `json:"placedEventId,omitempty"`
		At            time.Time `json:"at"`
	}
	// StockReserved: every line is reserved.
	StockReserved struct {
		OrderID string    `json:"orderId"`
		At      time.Time `json:"at"`
	}
	// CouponRedeemed: the coupon's usage was taken.
	CouponRedeemed struct {
		OrderID string    `json:"orderId"`
		Code    string    `json:"code"`
		At      time.Time `json:"at"`
	}
	// PaymentAnswered: the gateway's synchronous answer to the authorization.
	PaymentAnswered struct {
		OrderID    string         `json:"orderId"`
		Status     payment.Status `json:"status"`
		GatewayRef string         `json:"gatewayRef,omitempty"`
		Reason     string         `json:"reason,omitempty"`
		Timeout    bool           `json:"timeout,omitempty"`
		At         time.Time      `json:"at"`
	}
	// WebhookReceived: a verified gateway webhook; its EventID is never applied twice.
	WebhookReceived struct {
		OrderID    string         `json:"orderId"`
		EventID    string         `json:"eventId"`
		Type       string         `json:"type"`
		Status     payment.Status `json:"status"`
		GatewayRef string         `json:"gatewayRef"`
		Amount     domain.Money   `json:"amount"`
		Reason     string         `json:"reason,omitempty"`
		At         time.Time      `json:"at"`
	}
	// Failed: the checkout will be cancelled; compensation follows.
	Failed struct {
		OrderID string    `json:"orderId"`
		Code    Code      `json:"code"`
		Reason  string    `json:"reason"`
		At      time.Time `json:"at"`
	}
	// CancelRequested: a customer or admin cancels (also after confirmation).
	CancelRequested struct {
		OrderID string    `json:"orderId"`
		Reason  string    `json:"reason"`
		At      time.Time `json:"at"`
	}
	// Completed: the terminal event.
	Completed struct {
		OrderID string    `json:"orderId"`
		Outcome Outcome   `json:"outcome"`
		Code    Code      `json:"code,omitempty"`
		Reason  string    `json:"reason,omitempty"`
		At      time.Time `json:"at"`
	}
	// LateAuthorizationVoided: an authorization that arrived after the payment had
	// failed (e.g. a webhook after expiry) was voided at the gateway.
	LateAuthorizationVoided struct {
		OrderID    string    `json:"orderId"`
		GatewayRef string    `json:"gatewayRef"`
		At         time.Time `json:"at"`
	}
	// LateAuthorizationVoidRefused: the gateway refused to void such an authorization;
	// the hold stays on the customer's card until someone resolves it (Config.OnVoidRefused).
	LateAuthorizationVoidRefused struct {
		OrderID    string    `json:"orderId"`
		GatewayRef string    `json:"gatewayRef"`
		Reason     string    `json:"reason,omitempty"`
		At         time.Time `json:"at"`
	}
)

func (Started) EventType() string                 { return "checkout.started" }
func (StockReserved) EventType() string           { return "checkout.stock_reserved" }
func (CouponRedeemed) EventType() string          { return "checkout.coupon_redeemed" }
func (PaymentAnswered) EventType() string         { return "checkout.payment_answered" }
func (WebhookReceived) EventType() string         { return "checkout.webhook_received" }
func (Failed) EventType() string                  { return "checkout.failed" }
func (CancelRequested) EventType() string         { return "checkout.cancel_requested" }
func (Completed) EventType() string               { return "checkout.completed" }
func (LateAuthorizationVoided) EventType() string { return "checkout.late_authorization_voided" }
func (LateAuthorizationVoidRefused) EventType() string {
	return "checkout.late_authorization_void_refused"
}

// Events lists every checkout event type (schema version 1).
func Events() []domain.Event {
	return []domain.Event{Started{}, StockReserved{}, CouponRedeemed{}, PaymentAnswered{}, WebhookReceived{},
		Failed{}, CancelRequested{}, Completed{}, LateAuthorizationVoided{}, LateAuthorizationVoidRefused{}}
}
