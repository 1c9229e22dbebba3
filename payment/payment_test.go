package payment_test

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/payment"
)

var secret = []byte("whsec_test")

func TestVerifySignature(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"id":"evt_1"}`)
	good := payment.Sign(secret, now, body)
	flipped := append([]byte(nil), body...)
	flipped[3] ^= 1
	cases := []struct {
		name   string
		header string
		body   []byte
		now    time.Time
		want   error
	}{
		{"valid", good, body, now, nil},
		{"valid at 300s", good, body, now.Add(300 * time.Second), nil},
		{"unsigned", "", body, now, payment.ErrMissingSignature},
		{"wrong secret", payment.Sign([]byte("other"), now, body), body, now, payment.ErrBadSignature},
		{"one byte changed", good, flipped, now, payment.ErrBadSignature},
		{"301s old", good, body, now.Add(301 * time.Second), payment.ErrTimestampTolerance},
		{"301s in the future", good, body, now.Add(-301 * time.Second), payment.ErrTimestampTolerance},
		{"garbage", "v1=zz", body, now, payment.ErrBadSignature},
		{"rotated secret", good + ",v1=" + strings.Repeat("ab", 32), body, now, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := payment.Verify(secret, tc.header, tc.body, tc.now, payment.DefaultTolerance)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
			if err != nil && !errors.Is(err, payment.ErrInvalidWebhook) {
				t.Fatalf("%v does not wrap ErrInvalidWebhook", err)
			}
		})
	}
}

func TestParseWebhook(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	ev := payment.WebhookEvent{ID: "evt_1", Type: payment.EventAuthorized, Created: now.Unix(),
		Data: payment.WebhookData{OrderID: "o1", GatewayRef: "auth_1", Amount: domain.MustMoney(1999, "EUR"), Status: payment.StatusAuthorized}}
	h, body, err := payment.SignedRequest(secret, ev, now)
	if err != nil {
		t.Fatal(err)
	}
	got, err := payment.ParseWebhook(secret, h, body, now, 0)
	if err != nil || got.ID != "evt_1" || got.Data.Amount != ev.Data.Amount {
		t.Fatalf("ParseWebhook = %+v, %v", got, err)
	}
	ev.Data.Status = payment.StatusDeclined // type says authorized
	h, body, _ = payment.SignedRequest(secret, ev, now)
	if _, err := payment.ParseWebhook(secret, h, body, now, 0); !errors.Is(err, payment.ErrMalformedWebhook) {
		t.Fatalf("inconsistent webhook: %v", err)
	}
	body = []byte(`{"id":"evt_2","type":"payment.authorized","created":1,"data":{},"extra":1}`)
	h.Set(payment.SignatureHeader, payment.Sign(secret, now, body))
	if _, err := payment.ParseWebhook(secret, h, body, now, 0); !errors.Is(err, payment.ErrMalformedWebhook) {
		t.Fatalf("unknown field: %v", err)
	}
}

func TestSimulatorTokens(t *testing.T) {
	sim := payment.NewSimulator(payment.SimulatorConfig{AsyncDelay: -1})
	defer sim.Close()
	ctx := context.Background()
	amt := domain.MustMoney(5000, "EUR")
	auth := func(tok, key string) payment.AuthorizeResult {
		t.Helper()
		r, err := sim.Authorize(ctx, payment.AuthorizeRequest{OrderID: "o-" + key, Amount: amt, Token: tok, IdempotencyKey: key})
		if err != nil {
			t.Fatalf("%s: %v", tok, err)
		}
		return r
	}
	if r := auth(payment.TokenVisa, "k1"); r.Status != payment.StatusAuthorized || r.GatewayRef == "" {
		t.Fatalf("visa: %+v", r)
	}
	if r := auth(payment.TokenVisa, "k1"); r.GatewayRef == "" || sim.Calls("authorize") != 1 {
		t.Fatalf("repeated key authorized again: %+v, %d calls", r, sim.Calls("authorize"))
	}
	if r := auth(payment.TokenDecline, "k2"); r.Status != payment.StatusDeclined {
		t.Fatalf("decline: %+v", r)
	}
	if r := auth(payment.TokenFail, "k3"); r.Status != payment.StatusFailed {
		t.Fatalf("fail: %+v", r)
	}
	if r := auth(payment.TokenAsync, "k4"); r.Status != payment.StatusPending {
		t.Fatalf("async: %+v", r)
	}
	tctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := sim.Authorize(tctx, payment.AuthorizeRequest{OrderID: "o5", Amount: amt, Token: payment.TokenTimeout, IdempotencyKey: "k5"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("timeout: %v", err)
	}
	if time.Since(start) > time.Second {
		t.Fatal("timeout token did not honour the deadline")
	}
}

func TestSimulatorMoneyLimits(t *testing.T) {
	sim := payment.NewSimulator(payment.SimulatorConfig{})
	defer sim.Close()
	ctx := context.Background()
	amt := domain.MustMoney(5000, "EUR")
	a, _ := sim.Authorize(ctx, payment.AuthorizeRequest{OrderID: "o1", Amount: amt, Token: payment.TokenVisa, IdempotencyKey: "a"})
	if r, _ := sim.Capture(ctx, payment.CaptureRequest{GatewayRef: a.GatewayRef, Amount: domain.MustMoney(5001, "EUR"), IdempotencyKey: "c0"}); r.Status != payment.StatusFailed {
		t.Fatalf("capture above authorization: %+v", r)
	}
	if r, _ := sim.Capture(ctx, payment.CaptureRequest{GatewayRef: a.GatewayRef, Amount: amt, IdempotencyKey: "c1"}); r.Status != payment.StatusSucceeded {
		t.Fatalf("capture: %+v", r)
	}
	if r, _ := sim.Void(ctx, payment.VoidRequest{GatewayRef: a.GatewayRef, IdempotencyKey: "v1"}); r.Status != payment.StatusFailed {
		t.Fatalf("void after capture: %+v", r)
	}
	if r, _ := sim.Refund(ctx, payment.RefundRequest{GatewayRef: a.GatewayRef, Amount: domain.MustMoney(3000, "EUR"), IdempotencyKey: "r1"}); r.Status != payment.StatusSucceeded {
		t.Fatalf("refund: %+v", r)
	}
	if r, _ := sim.Refund(ctx, payment.RefundRequest{GatewayRef: a.GatewayRef, Amount: domain.MustMoney(3000, "EUR"), IdempotencyKey: "r1"}); r.Status != payment.StatusSucceeded || sim.Calls("refund") != 1 {
		t.Fatalf("repeated refund key: %+v, %d", r, sim.Calls("refund"))
	}
	if r, _ := sim.Refund(ctx, payment.RefundRequest{GatewayRef: a.GatewayRef, Amount: domain.MustMoney(2001, "EUR"), IdempotencyKey: "r2"}); r.Status != payment.StatusFailed {
		t.Fatalf("refund above captured: %+v", r)
	}
}

func TestSimulatorAsyncWebhook(t *testing.T) {
	var mu sync.Mutex
	var got []payment.WebhookEvent
	done := make(chan struct{}, 1)
	sim := payment.NewSimulator(payment.SimulatorConfig{
		WebhookSecret: secret, AsyncDelay: time.Millisecond,
		Deliver: func(ctx context.Context, h http.Header, body []byte) error {
			ev, err := payment.ParseWebhook(secret, h, body, time.Now(), 0)
			if err != nil {
				return err
			}
			mu.Lock()
			got = append(got, ev)
			mu.Unlock()
			done <- struct{}{}
			return nil
		},
	})
	defer sim.Close()
	r, err := sim.Authorize(context.Background(), payment.AuthorizeRequest{OrderID: "o1", Amount: domain.MustMoney(100, "EUR"), Token: payment.TokenAsync, IdempotencyKey: "k"})
	if err != nil || r.Status != payment.StatusPending {
		t.Fatal(r, err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("no webhook")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || got[0].Data.GatewayRef != r.GatewayRef || got[0].Type != payment.EventAuthorized {
		t.Fatalf("webhooks %+v", got)
	}
	if a := sim.Authorizations("o1"); len(a) != 1 || a[0].State != "authorized" {
		t.Fatalf("authorization after webhook: %+v", a)
	}
}

// TestSimulatorLookupSurvivesRestart: a pending authorization is answered by Lookup, and a
// new simulator on the same state file (the old one "crashed" without sending its
// webhook) answers it too, settled once its time has come.
func TestSimulatorLookupSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "gateway.json")
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	first := payment.NewSimulator(payment.SimulatorConfig{StateFile: file, AsyncDelay: time.Hour, Now: clock})
	amount := domain.MustMoney(1500, "EUR")
	var refs []string
	for i, token := range []string{payment.TokenAsync, payment.TokenAsyncDecline} {
		res, err := first.Authorize(ctx, payment.AuthorizeRequest{OrderID: "o" + string(rune('1'+i)), Amount: amount, Token: token, IdempotencyKey: "k" + token})
		if err != nil || res.Status != payment.StatusPending {
			t.Fatal(res, err)
		}
		refs = append(refs, res.GatewayRef)
		if got, err := first.Lookup(ctx, payment.LookupRequest{OrderID: "o" + string(rune('1'+i)), GatewayRef: res.GatewayRef}); err != nil || got.Status != payment.StatusPending {
			t.Fatalf("lookup before settling: %+v %v", got, err)
		}
	}
	if got, _ := first.Lookup(ctx, payment.LookupRequest{OrderID: "o9", GatewayRef: refs[0]}); got.Status != payment.StatusFailed {
		t.Fatalf("another order's lookup: %+v", got)
	}
	first.Close() // its scheduled webhooks die with it

	now = now.Add(time.Hour)
	second := payment.NewSimulator(payment.SimulatorConfig{StateFile: file, AsyncDelay: time.Hour, Now: clock})
	defer second.Close()
	want := []payment.Status{payment.StatusAuthorized, payment.StatusDeclined}
	for i, ref := range refs {
		got, err := second.Lookup(ctx, payment.LookupRequest{OrderID: "o" + string(rune('1'+i)), GatewayRef: ref})
		if err != nil || got.Status != want[i] || got.GatewayRef != ref {
			t.Fatalf("lookup after restart: %+v %v, want %s", got, err, want[i])
		}
	}
	// The restarted gateway still holds the authorization: it can be captured.
	if res, err := second.Capture(ctx, payment.CaptureRequest{OrderID: "o1", GatewayRef: refs[0], Amount: amount, IdempotencyKey: "cap"}); err != nil || res.Status != payment.StatusSucceeded {
		t.Fatalf("capture after restart: %+v %v", res, err)
	}
}
