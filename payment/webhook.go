package payment

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/orderengine/orderengine/domain"
)

// SignatureHeader carries a webhook's signature: "t=<unix seconds>,v1=<hex HMAC-SHA256>",
// the MAC taken over "<t>.<body>" with the shared secret. Several v1 entries may be
// present (secret rotation); one match suffices.
const SignatureHeader = "Payment-Signature"

// DefaultTolerance is how far a webhook's timestamp may be from now.
const DefaultTolerance = 300 * time.Second

// Webhook event types.
const (
	EventAuthorized = "payment.authorized"
	EventDeclined   = "payment.declined"
	EventFailed     = "payment.failed"
)

// Webhook rejections. Every one wraps ErrInvalidWebhook (answer 400 and change nothing).
var (
	ErrInvalidWebhook     = errors.New("invalid webhook")
	ErrMissingSignature   = fmt.Errorf("%w: missing %s header", ErrInvalidWebhook, SignatureHeader)
	ErrBadSignature       = fmt.Errorf("%w: signature does not match", ErrInvalidWebhook)
	ErrTimestampTolerance = fmt.Errorf("%w: timestamp outside the tolerance", ErrInvalidWebhook)
	ErrMalformedWebhook   = fmt.Errorf("%w: malformed body", ErrInvalidWebhook)
	ErrAmountMismatch     = fmt.Errorf("%w: amount or currency does not match the authorization request", ErrInvalidWebhook)
	ErrUnknownPayment     = fmt.Errorf("%w: no such payment", ErrInvalidWebhook)
)

// WebhookEvent is the body of a gateway webhook.
type WebhookEvent struct {
	ID      string      `json:"id"`      // gateway event id; deliveries of one event share it
	Type    string      `json:"type"`    // EventAuthorized, EventDeclined or EventFailed
	Created int64       `json:"created"` // unix seconds
	Data    WebhookData `json:"data"`
}

// WebhookData is the payment a webhook is about.
type WebhookData struct {
	OrderID    string       `json:"orderId"`
	GatewayRef string       `json:"gatewayRef"`
	Amount     domain.Money `json:"amount"`
	Status     Status       `json:"status"`
	Reason     string       `json:"reason,omitempty"`
}

// Sign returns the SignatureHeader value for body sent at timestamp.
func Sign(secret []byte, timestamp time.Time, body []byte) string {
	t := strconv.FormatInt(timestamp.Unix(), 10)
	return "t=" + t + ",v1=" + hex.EncodeToString(mac(secret, t, body))
}

func mac(secret []byte, t string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(t))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks a SignatureHeader value against body: HMAC-SHA256 compared in constant
// time, timestamp within tolerance of now (either way).
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if header == "" {
		return ErrMissingSignature
	}
	if len(secret) == 0 {
		return fmt.Errorf("%w: no webhook secret configured", ErrBadSignature)
	}
	var ts string
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			if b, err := hex.DecodeString(v); err == nil {
				sigs = append(sigs, b)
			}
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return fmt.Errorf("%w: want t=<unix>,v1=<hex>", ErrBadSignature)
	}
	want := mac(secret, ts, body)
	match := false
	for _, s := range sigs {
		if hmac.Equal(s, want) {
			match = true
		}
	}
	if !match {
		return ErrBadSignature
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: signed %s ago, tolerance %s", ErrTimestampTolerance, d.Round(time.Second), tolerance)
	}
	return nil
}

// ParseWebhook verifies a webhook's signature (header SignatureHeader) and decodes its
// body. Unknown fields are rejected.
func ParseWebhook(secret []byte, header http.Header, body []byte, now time.Time, tolerance time.Duration) (WebhookEvent, error) {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	if err := Verify(secret, header.Get(SignatureHeader), body, now, tolerance); err != nil {
		return WebhookEvent{}, err
	}
	var ev WebhookEvent
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ev); err != nil {
		return WebhookEvent{}, fmt.Errorf("%w: %v", ErrMalformedWebhook, err)
	}
	if err := ev.validate(); err != nil {
		return WebhookEvent{}, err
	}
	return ev, nil
}

func (ev WebhookEvent) validate() error {
	bad := func(what string) error { return fmt.Errorf("%w: %s", ErrMalformedWebhook, what) }
	switch {
	case ev.ID == "" || len(ev.ID) > 255:
		return bad("id is required")
	case domain.ValidateID("", ev.Data.OrderID) != nil:
		return bad("data.orderId is not a valid id")
	case ev.Data.GatewayRef == "" || len(ev.Data.GatewayRef) > 255:
		return bad("data.gatewayRef is required")
	case ev.Data.Amount.Validate() != nil || !ev.Data.Amount.IsPositive():
		return bad("data.amount must be a positive amount")
	}
	want := map[string]Status{EventAuthorized: StatusAuthorized, EventDeclined: StatusDeclined, EventFailed: StatusFailed}[ev.Type]
	if want == "" {
		return bad("unsupported type " + strconv.Quote(ev.Type))
	}
	if ev.Data.Status != want {
		return bad("data.status does not match type")
	}
	return nil
}

// SignedRequest builds the header and body a gateway sends for ev at timestamp.
func SignedRequest(secret []byte, ev WebhookEvent, timestamp time.Time) (http.Header, []byte, error) {
	body, err := json.Marshal(ev)
	if err != nil {
		return nil, nil, err
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set(SignatureHeader, Sign(secret, timestamp, body))
	return h, body, nil
}
