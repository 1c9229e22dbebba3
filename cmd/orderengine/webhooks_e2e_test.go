package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orderengine/orderengine/auth"
	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/idempotency"
)

// allowLocalWebhooks lets endpoints point at an httptest receiver (http, loopback), as
// --webhooks-allow-http --webhooks-allow-private do.
func allowLocalWebhooks(f *appFlags) {
	f.webhooks.allowHTTP, f.webhooks.allowPrivate = true, true
}

type receivedHook struct {
	header http.Header
	body   []byte
}

// TestE2EWebhooksDeliverSignedOrderEvents registers an endpoint through the admin API,
// places an order, and checks that the receiver gets order.placed and order.confirmed
// with Standard Webhooks signatures that verify with the secret the API returned.
func TestE2EWebhooksDeliverSignedOrderEvents(t *testing.T) {
	for _, tier := range tiers(t) {
		t.Run(tier.name, func(t *testing.T) {
			e := newE2E(t, tier.open(t), 0, allowLocalWebhooks)
			var (
				mu  sync.Mutex
				got []receivedHook
			)
			receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				mu.Lock()
				got = append(got, receivedHook{r.Header.Clone(), body})
				mu.Unlock()
				w.WriteHeader(http.StatusNoContent)
			}))
			defer receiver.Close()

			admin, alice := e.token("root", auth.RoleAdmin), e.token("alice", auth.RoleCustomer)
			r := e.must(201, e.do("POST", "/v1/webhook-endpoints", admin, map[string]any{
				"url": receiver.URL + "/orders", "eventTypes": []string{"order.placed", "order.confirmed"}}))
			secret, _ := r.field("secret").(string)
			key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
			if err != nil || !strings.HasPrefix(secret, "whsec_") {
				t.Fatalf("secret %q: %v", secret, err)
			}
			e.product(admin, "MUG-1", 900, 5)
			r = e.must(201, e.placeOrder(alice, e.cart(alice, map[string]int64{"MUG-1": 1}), "tok_visa"))
			order, _ := r.field("order", "id").(string)

			want := []string{"order.placed", "order.confirmed"}
			var types []string
			deadline := time.Now().Add(time.Minute)
			for {
				mu.Lock()
				hooks := append([]receivedHook(nil), got...)
				mu.Unlock()
				types = types[:0]
				for _, h := range hooks {
					types = append(types, verifyHook(t, key, h, order))
				}
				if len(types) >= len(want) || time.Now().After(deadline) {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if strings.Join(types, ",") != strings.Join(want, ",") {
				t.Fatalf("received %v, want %v in order", types, want)
			}
		})
	}
}

// verifyHook checks one delivery's signature as a receiver would (Standard Webhooks:
// base64 HMAC-SHA256 of "id.timestamp.body") and returns its event type.
func verifyHook(t *testing.T, key []byte, h receivedHook, order string) string {
	t.Helper()
	id, ts := h.header.Get("webhook-id"), h.header.Get("webhook-timestamp")
	if id == "" || ts == "" {
		t.Fatalf("delivery without webhook-id/webhook-timestamp: %v", h.header)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "." + string(h.body)))
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if !strings.Contains(" "+h.header.Get("webhook-signature")+" ", " "+want+" ") {
		t.Fatalf("signature %q does not verify (want %s among them)", h.header.Get("webhook-signature"), want)
	}
	var ev struct {
		Type    string `json:"type"`
		OrderID string `json:"orderId"`
	}
	if err := json.Unmarshal(h.body, &ev); err != nil {
		t.Fatalf("delivery body: %v: %s", err, h.body)
	}
	if ev.OrderID != order {
		t.Fatalf("%s for order %q, want %q: %s", ev.Type, ev.OrderID, order, h.body)
	}
	return ev.Type
}

// TestE2EIdempotencySweepDeletesExpiredRecords: with a short retention, the sweep that
// serve runs deletes an Idempotency-Key record once it has expired, while the engine runs.
func TestE2EIdempotencySweepDeletesExpiredRecords(t *testing.T) {
	for _, tier := range tiers(t) {
		t.Run(tier.name, func(t *testing.T) {
			e := newE2E(t, tier.open(t), 0, func(f *appFlags) {
				f.idempotencyTTL, f.sweepEvery = time.Second, 100*time.Millisecond
			})
			alice := e.token("alice", auth.RoleCustomer)
			e.must(201, e.do("POST", "/v1/carts", alice, map[string]any{"currency": "EUR"}, "Idempotency-Key", "sweep-1"))
			records := func() int {
				recs, err := e.app.store.ReadAll(context.Background(), 0, 100, eventstore.Filter{StreamPrefix: idempotency.Category + "-"})
				if err != nil {
					t.Fatal(err)
				}
				live := map[string]bool{}
				for _, r := range recs {
					live[r.Stream] = true
				}
				return len(live)
			}
			if n := records(); n != 1 {
				t.Fatalf("%d idempotency records after a keyed request, want 1", n)
			}
			// Replayed while it lives.
			if r := e.do("POST", "/v1/carts", alice, map[string]any{"currency": "EUR"}, "Idempotency-Key", "sweep-1"); r.header.Get("Idempotent-Replayed") != "true" {
				t.Fatalf("not replayed before expiry: %d %v", r.status, r.header)
			}
			deadline := time.Now().Add(30 * time.Second)
			for records() > 0 {
				if time.Now().After(deadline) {
					t.Fatalf("the expired idempotency record is still in the log after 30s; /readyz: %s", e.do("GET", "/readyz", "", nil).body)
				}
				time.Sleep(100 * time.Millisecond)
			}
			r := e.must(200, e.do("GET", "/readyz", "", nil))
			if !strings.Contains(string(r.body), `"idempotency-sweep"`) {
				t.Fatalf("/readyz does not show the sweep: %s", r.body)
			}
		})
	}
}
