package payment

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/orderengine/orderengine/domain"
)

// Test card tokens the Simulator understands.
const (
	TokenVisa         = "tok_visa"          // authorized
	TokenMastercard   = "tok_mastercard"    // authorized
	TokenDecline      = "tok_decline"       // declined
	TokenFail         = "tok_fail"          // failed (gateway processing error)
	TokenTimeout      = "tok_timeout"       // never answers: returns when ctx ends
	TokenAsync        = "tok_async"         // pending, then an authorized webhook
	TokenAsyncDecline = "tok_async_decline" // pending, then a declined webhook
)

// SimulatorConfig configures a Simulator. The zero value works; webhooks then have nowhere
// to go until DeliverWebhook or Webhook is used.
type SimulatorConfig struct {
	// WebhookSecret signs webhooks (Sign).
	WebhookSecret []byte
	// Deliver sends a signed webhook, e.g. to checkout.HandleWebhook; an error means "try
	// again". When nil and WebhookURL is set, webhooks are POSTed there.
	Deliver func(ctx context.Context, header http.Header, body []byte) error
	// WebhookURL receives webhooks by HTTP POST (2xx = delivered) when Deliver is nil.
	WebhookURL string
	HTTPClient *http.Client
	// AsyncDelay is how long after a pending answer the outcome webhook is sent (default
	// 20ms). Negative: never automatically; call DeliverWebhook.
	AsyncDelay time.Duration
	// MaxDeliveryAttempts bounds webhook retries (default 8, backing off from 50ms).
	MaxDeliveryAttempts int
	// StateFile, when set, keeps the asynchronous authorizations (pending ones and how they
	// settle) in this file, so a restarted simulator still answers Lookup for them, as a
	// real gateway would after the shop's crash.
	StateFile string
	Now       func() time.Time
	Logger    *slog.Logger
}

// Simulator is an in-memory Gateway for development and tests, driven by test tokens.
// It keeps every authorization, enforces capture ≤ authorized and refunds ≤ captured,
// and answers repeated idempotency keys with the first answer.
type Simulator struct {
	cfg SimulatorConfig

	mu    sync.Mutex
	auths map[string]*simAuth // by gateway ref
	byKey map[string]any      // idempotency key → AuthorizeResult or Result
	calls map[string]int      // operation → calls that did something (not replays)
	limit map[string]int64    // order id → card limit for incremental authorizations (increment.go)

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type simAuth struct {
	ref      string
	orderID  string
	amount   domain.Money
	token    string
	state    Status // authorized, pending, declined, or "voided"/"captured"
	captured int64
	refunded int64
	released int64         // by partial voids (parts.go)
	webhook  *WebhookEvent // the outcome event of an async authorization
	settleAt time.Time     // when an async authorization settles at the latest
}

const (
	simVoided   Status = "voided"
	simCaptured Status = "captured"
)

// AuthorizationInfo is what the simulator knows about one authorization.
type AuthorizationInfo struct {
	GatewayRef string
	OrderID    string
	Amount     domain.Money
	Token      string
	State      string // authorized, pending, declined, voided, captured
	Captured   int64
	Refunded   int64
}

var _ Gateway = (*Simulator)(nil)

// NewSimulator returns a Simulator; Close stops its pending webhook deliveries.
func NewSimulator(cfg SimulatorConfig) *Simulator {
	if cfg.AsyncDelay == 0 {
		cfg.AsyncDelay = 20 * time.Millisecond
	}
	if cfg.MaxDeliveryAttempts <= 0 {
		cfg.MaxDeliveryAttempts = 8
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Simulator{cfg: cfg, auths: map[string]*simAuth{}, byKey: map[string]any{}, calls: map[string]int{}, ctx: ctx, cancel: cancel}
	if err := s.load(); err != nil {
		cfg.Logger.Error("payment simulator: cannot load its state; pending authorizations are forgotten", "file", cfg.StateFile, "err", err)
	}
	return s
}

// Lookup implements Gateway. A pending asynchronous authorization whose time has come
// settles on lookup (its webhook may have been lost with the process that waited for it).
func (s *Simulator) Lookup(ctx context.Context, req LookupRequest) (AuthorizeResult, error) {
	if err := ctx.Err(); err != nil {
		return AuthorizeResult{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls["lookup"]++
	a, ok := s.auths[req.GatewayRef]
	if !ok || a.orderID != req.OrderID {
		return AuthorizeResult{Status: StatusFailed, Reason: "no_such_authorization"}, nil
	}
	if a.state == StatusPending && a.webhook != nil && s.cfg.AsyncDelay >= 0 && !s.cfg.Now().Before(a.settleAt) {
		a.state = a.webhook.Data.Status
		s.saveLocked()
	}
	switch a.state {
	case StatusPending:
		return AuthorizeResult{Status: StatusPending, GatewayRef: a.ref}, nil
	case StatusDeclined:
		return AuthorizeResult{Status: StatusDeclined, GatewayRef: a.ref, Reason: "card_declined"}, nil
	}
	return AuthorizeResult{Status: StatusAuthorized, GatewayRef: a.ref}, nil // authorized, captured or voided
}

// Close stops pending webhook deliveries and waits for them.
func (s *Simulator) Close() error {
	s.cancel()
	s.wg.Wait()
	return nil
}

func newRef(prefix string) string {
	b := make([]byte, 12)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func checkKey(key string) error {
	if key == "" {
		return errors.New("payment simulator: an idempotency key is required")
	}
	return nil
}

// Authorize implements Gateway.
func (s *Simulator) Authorize(ctx context.Context, req AuthorizeRequest) (AuthorizeResult, error) {
	if err := checkKey(req.IdempotencyKey); err != nil {
		return AuthorizeResult{}, err
	}
	if req.Amount.Validate() != nil || !req.Amount.IsPositive() || req.OrderID == "" {
		return AuthorizeResult{Status: StatusFailed, Reason: "invalid_request"}, nil
	}
	if req.Token == TokenTimeout {
		<-ctx.Done()
		return AuthorizeResult{}, ctx.Err()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if prev, ok := s.byKey["authorize\x00"+req.IdempotencyKey].(AuthorizeResult); ok {
		return prev, nil
	}
	a := &simAuth{ref: newRef("auth_"), orderID: req.OrderID, amount: req.Amount, token: req.Token}
	var res AuthorizeResult
	switch req.Token {
	case TokenVisa, TokenMastercard:
		a.state = StatusAuthorized
		res = AuthorizeResult{Status: StatusAuthorized, GatewayRef: a.ref}
	case TokenDecline:
		a.state = StatusDeclined
		res = AuthorizeResult{Status: StatusDeclined, GatewayRef: a.ref, Reason: "card_declined"}
	case TokenFail:
		res = AuthorizeResult{Status: StatusFailed, Reason: "processing_error"}
	case TokenAsync, TokenAsyncDecline:
		a.state = StatusPending
		outcome := WebhookData{OrderID: req.OrderID, GatewayRef: a.ref, Amount: req.Amount, Status: StatusAuthorized}
		typ := EventAuthorized
		if req.Token == TokenAsyncDecline {
			outcome.Status, outcome.Reason, typ = StatusDeclined, "card_declined", EventDeclined
		}
		a.webhook = &WebhookEvent{ID: newRef("evt_"), Type: typ, Created: s.cfg.Now().Unix(), Data: outcome}
		a.settleAt = s.cfg.Now().Add(max(s.cfg.AsyncDelay, 0))
		res = AuthorizeResult{Status: StatusPending, GatewayRef: a.ref}
		if s.cfg.AsyncDelay > 0 {
			s.scheduleDelivery(a.ref, s.cfg.AsyncDelay)
		}
	default:
		res = AuthorizeResult{Status: StatusDeclined, Reason: "unknown_test_token"}
	}
	if res.GatewayRef != "" {
		s.auths[a.ref] = a
	}
	s.byKey["authorize\x00"+req.IdempotencyKey] = res
	s.calls["authorize"]++
	if a.webhook != nil {
		s.saveLocked()
	}
	return res, nil
}

// Capture implements Gateway.
func (s *Simulator) Capture(ctx context.Context, req CaptureRequest) (Result, error) {
	return s.operate(ctx, "capture", req.IdempotencyKey, req.GatewayRef, func(a *simAuth) Result {
		switch {
		case a.state != StatusAuthorized:
			return Result{Status: StatusFailed, Reason: "authorization is " + string(a.state)}
		case req.Amount.Currency != a.amount.Currency || !req.Amount.IsPositive() || req.Amount.Amount > a.amount.Amount:
			return Result{Status: StatusFailed, Reason: "amount_exceeds_authorization"}
		}
		a.state, a.captured = simCaptured, req.Amount.Amount
		return Result{Status: StatusSucceeded, GatewayRef: newRef("cap_")}
	})
}

// Void implements Gateway. Voiding a pending authorization cancels it (no webhook follows).
func (s *Simulator) Void(ctx context.Context, req VoidRequest) (Result, error) {
	return s.operate(ctx, "void", req.IdempotencyKey, req.GatewayRef, func(a *simAuth) Result {
		switch a.state {
		case simVoided:
			return Result{Status: StatusSucceeded, GatewayRef: a.ref}
		case StatusAuthorized, StatusPending:
			a.state = simVoided
			return Result{Status: StatusSucceeded, GatewayRef: newRef("void_")}
		}
		return Result{Status: StatusFailed, Reason: "authorization is " + string(a.state)}
	})
}

// Refund implements Gateway.
func (s *Simulator) Refund(ctx context.Context, req RefundRequest) (Result, error) {
	return s.operate(ctx, "refund", req.IdempotencyKey, req.GatewayRef, func(a *simAuth) Result {
		switch {
		case a.state != simCaptured:
			return Result{Status: StatusFailed, Reason: "authorization is " + string(a.state)}
		case req.Amount.Currency != a.amount.Currency || !req.Amount.IsPositive() || a.refunded+req.Amount.Amount > a.captured:
			return Result{Status: StatusFailed, Reason: "amount_exceeds_captured"}
		}
		a.refunded += req.Amount.Amount
		return Result{Status: StatusSucceeded, GatewayRef: newRef("re_")}
	})
}

func (s *Simulator) operate(ctx context.Context, op, key, ref string, do func(*simAuth) Result) (Result, error) {
	if err := checkKey(key); err != nil {
		return Result{}, err
	}
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if prev, ok := s.byKey[op+"\x00"+key].(Result); ok {
		return prev, nil
	}
	a, ok := s.auths[ref]
	if !ok {
		return Result{Status: StatusFailed, Reason: "no_such_authorization"}, nil
	}
	res := do(a)
	s.byKey[op+"\x00"+key] = res
	if res.Status == StatusSucceeded {
		s.calls[op]++
	}
	if a.webhook != nil {
		s.saveLocked()
	}
	return res, nil
}

// Calls counts the operations that took effect (not replays): "authorize", "capture",
// "void", "refund".
func (s *Simulator) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

// Authorizations lists what the simulator holds for an order.
func (s *Simulator) Authorizations(orderID string) []AuthorizationInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []AuthorizationInfo
	for _, a := range s.auths {
		if a.orderID == orderID {
			out = append(out, AuthorizationInfo{GatewayRef: a.ref, OrderID: a.orderID, Amount: a.amount, Token: a.token, State: string(a.state), Captured: a.captured, Refunded: a.refunded})
		}
	}
	return out
}

// Webhook returns the signed outcome webhook of a pending (async) authorization, signed
// now. Every call carries the same event id, as a gateway's redeliveries do.
func (s *Simulator) Webhook(gatewayRef string) (http.Header, []byte, error) {
	s.mu.Lock()
	a, ok := s.auths[gatewayRef]
	var ev WebhookEvent
	if ok && a.webhook != nil {
		ev = *a.webhook
	}
	s.mu.Unlock()
	if !ok || ev.ID == "" {
		return nil, nil, fmt.Errorf("payment simulator: no async authorization %q", gatewayRef)
	}
	return SignedRequest(s.cfg.WebhookSecret, ev, s.cfg.Now())
}

// DeliverWebhook settles a pending authorization and sends its webhook now (once).
func (s *Simulator) DeliverWebhook(ctx context.Context, gatewayRef string) error {
	s.settle(gatewayRef)
	h, body, err := s.Webhook(gatewayRef)
	if err != nil {
		return err
	}
	return s.send(ctx, h, body)
}

// settle applies an async authorization's outcome at the gateway.
func (s *Simulator) settle(ref string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.auths[ref]; ok && a.state == StatusPending && a.webhook != nil {
		a.state = a.webhook.Data.Status
		s.saveLocked()
	}
}

func (s *Simulator) scheduleDelivery(ref string, after time.Duration) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTimer(after)
		defer t.Stop()
		select {
		case <-t.C:
		case <-s.ctx.Done():
			return
		}
		s.mu.Lock()
		voided := s.auths[ref].state == simVoided
		s.mu.Unlock()
		if voided {
			return
		}
		s.settle(ref)
		wait := 50 * time.Millisecond
		for i := 0; i < s.cfg.MaxDeliveryAttempts; i++ {
			h, body, err := s.Webhook(ref)
			if err == nil {
				if err = s.send(s.ctx, h, body); err == nil {
					return
				}
			}
			s.cfg.Logger.Warn("payment simulator: webhook delivery failed", "ref", ref, "attempt", i+1, "err", err)
			select {
			case <-time.After(wait):
				wait *= 2
			case <-s.ctx.Done():
				return
			}
		}
	}()
}

func (s *Simulator) send(ctx context.Context, h http.Header, body []byte) error {
	if s.cfg.Deliver != nil {
		return s.cfg.Deliver(ctx, h, body)
	}
	if s.cfg.WebhookURL == "" {
		return errors.New("payment simulator: no webhook destination configured")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.WebhookURL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header = h.Clone()
	resp, err := s.cfg.HTTPClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("payment simulator: webhook endpoint answered %s", resp.Status)
	}
	return nil
}
