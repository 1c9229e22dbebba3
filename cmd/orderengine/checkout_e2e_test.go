package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/orderengine/orderengine/auth"
	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/envelope"
	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/eventstore/postgres"
	"github.com/orderengine/orderengine/eventstore/sqlite"
	"github.com/orderengine/orderengine/payment"
	"github.com/orderengine/orderengine/writeapi"
)

// The end-to-end tests run the whole command side — HTTP API, command service, checkout
// saga on the in-process bus, gateway simulator — on each storage tier.

const e2eSecret = "e2e-secret-e2e-secret-e2e-secret-e2e"

type e2e struct {
	t   *testing.T
	app *app
	srv *httptest.Server
}

type tier struct {
	name string
	open func(t *testing.T) eventstore.Store
}

func tiers(t *testing.T) []tier {
	return []tier{
		{"sqlite", func(t *testing.T) eventstore.Store {
			s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "events.db"), sqlite.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}},
		{"postgres", openPostgresTier},
	}
}

func openPostgresTier(t *testing.T) eventstore.Store {
	t.Helper()
	url := os.Getenv("ORDERENGINE_TEST_POSTGRES_URL")
	if url == "" {
		url = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	schema := "e2e_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := postgres.Open(ctx, url, postgres.Options{Schema: schema})
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("PostgreSQL unreachable in CI: %v", err)
		}
		t.Skipf("PostgreSQL unreachable (%v); set ORDERENGINE_TEST_POSTGRES_URL", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s.Pool().Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
		s.Close()
	})
	return s
}

func newE2E(t *testing.T, store eventstore.Store, asyncDelay time.Duration, opts ...func(*appFlags)) *e2e {
	t.Helper()
	c := Config{DataDir: t.TempDir(), Events: "sqlite:", MaxEventSize: 1 << 20, LogLevel: "error"}
	f := appFlags{
		auth:           authFlags{secret: e2eSecret, issuer: auth.DefaultIssuer, audience: auth.DefaultAudience},
		bus:            "memory",
		reservationTTL: 15 * time.Minute,
		webhookSecret:  "webhook-secret",
		orderWait:      30 * time.Second,
		store:          store,
		rateLimit:      writeapi.RateLimit{PerUser: 10000, UserBurst: 10000, PerIP: 100000, IPBurst: 100000},
		asyncDelay:     asyncDelay,
		settleEvery:    200 * time.Millisecond,
	}
	for _, o := range opts {
		o(&f)
	}
	a, err := newApp(context.Background(), c, f, newLogger(c, io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.run(ctx) }()
	srv := httptest.NewServer(a.handler)
	t.Cleanup(func() {
		srv.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("checkout run: %v", err)
		}
		a.close()
	})
	return &e2e{t: t, app: a, srv: srv}
}

func (e *e2e) token(sub string, role auth.Role) string {
	tok, err := auth.Signer{Secret: []byte(e2eSecret)}.Sign(sub, []auth.Role{role}, time.Hour)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

type httpResp struct {
	status int
	header http.Header
	body   []byte
}

func (r httpResp) field(path ...string) any {
	var v any
	if json.Unmarshal(r.body, &v) != nil {
		return nil
	}
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func (e *e2e) do(method, path, tok string, body any, headers ...string) httpResp {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Errorf("%s %s: %v", method, path, err)
		return httpResp{}
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return httpResp{res.StatusCode, res.Header, b}
}

func short(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}

func (e *e2e) must(want int, r httpResp) httpResp {
	e.t.Helper()
	if r.status != want {
		e.t.Fatalf("status %d, want %d: %s", r.status, want, short(r.body))
	}
	return r
}

var address = map[string]any{"name": "Alice", "line1": "1 Main St", "city": "Berlin", "postalCode": "10115", "country": "DE"}

func (e *e2e) product(admin, sku string, price, stock int64) {
	e.t.Helper()
	e.must(201, e.do("POST", "/v1/products", admin, map[string]any{"sku": sku, "name": "Product " + sku,
		"price": map[string]any{"amount": price, "currency": "EUR"}}))
	if stock > 0 {
		e.must(201, e.do("POST", "/v1/inventory/"+sku+"/receipts", admin, map[string]any{"warehouse": "main", "quantity": stock}))
	}
}

// cart opens a cart for the customer with the given lines; errors are reported, not fatal,
// so it can run in goroutines.
func (e *e2e) cart(tok string, lines map[string]int64) string {
	r := e.do("POST", "/v1/carts", tok, map[string]any{"currency": "EUR"})
	id, _ := r.field("id").(string)
	if r.status != 201 || id == "" {
		e.t.Errorf("create cart: %d %s", r.status, r.body)
		return ""
	}
	for sku, q := range lines {
		if r := e.do("POST", "/v1/carts/"+id+"/items", tok, map[string]any{"sku": sku, "quantity": q}); r.status != 200 {
			e.t.Errorf("add %s: %d %s", sku, r.status, r.body)
		}
	}
	return id
}

func (e *e2e) placeOrder(tok, cartID, paymentToken string, headers ...string) httpResp {
	return e.do("POST", "/v1/orders?wait=30s", tok, map[string]any{
		"cartId": cartID, "shippingAddress": address, "payment": map[string]any{"token": paymentToken},
	}, headers...)
}

// awaitCheckout polls an order's checkout until it is terminal (at most 3 minutes).
func (e *e2e) awaitCheckout(tok string, orderID any) httpResp {
	id, _ := orderID.(string)
	deadline := time.Now().Add(3 * time.Minute)
	for {
		r := e.do("GET", "/v1/orders/"+id+"/checkout", tok, nil)
		if r.field("terminal") == true || time.Now().After(deadline) {
			return r
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stockHistory replays a SKU's inventory stream and fails if available stock was ever
// negative; it returns the final state.
func (e *e2e) stockHistory(sku string) domain.Inventory {
	e.t.Helper()
	recs, err := e.app.store.ReadStream(context.Background(), "inventory-"+sku, eventstore.Forward, 0, 1_000_000)
	if err != nil {
		e.t.Fatal(err)
	}
	var s domain.Inventory
	reg := e.app.svc.Runtime().Registry()
	for _, rec := range recs {
		ev, _, err := envelope.Decode(reg, rec)
		if err != nil {
			e.t.Fatal(err)
		}
		s = domain.EvolveInventory(s, ev)
		if t := s.Totals(); t.Available() < 0 || t.Reserved < 0 || t.OnHand < 0 {
			e.t.Fatalf("%s at version %d: on hand %d, reserved %d", sku, rec.Version, t.OnHand, t.Reserved)
		}
	}
	return s
}

func (e *e2e) countEvents(stream, typ string) int {
	recs, err := e.app.store.ReadStream(context.Background(), stream, eventstore.Forward, 0, 1_000_000)
	if err != nil {
		e.t.Fatal(err)
	}
	n := 0
	for _, r := range recs {
		if r.Type == typ {
			n++
		}
	}
	return n
}

func TestE2EConcurrentCheckoutsNoOversell(t *testing.T) {
	for _, tr := range tiers(t) {
		t.Run(tr.name, func(t *testing.T) {
			e := newE2E(t, tr.open(t), 0)
			admin := e.token("root", auth.RoleAdmin)
			e.product(admin, "HOT-1", 1500, 50)
			const buyers = 200
			outcomes := make([]string, buyers)
			codes := make([]string, buyers)
			var wg sync.WaitGroup
			for i := 0; i < buyers; i++ {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					tok := e.token(fmt.Sprintf("buyer-%d", i), auth.RoleCustomer)
					id := e.cart(tok, map[string]int64{"HOT-1": 1})
					r := e.placeOrder(tok, id, "tok_visa")
					if r.status == 202 {
						// Slow under -race on a busy machine: follow the checkout instead.
						r = e.awaitCheckout(tok, r.field("order", "id"))
						outcomes[i], _ = r.field("outcome").(string)
						codes[i], _ = r.field("code").(string)
						return
					}
					if r.status != 201 {
						t.Errorf("buyer %d: %d %s", i, r.status, short(r.body))
						return
					}
					outcomes[i], _ = r.field("checkout", "outcome").(string)
					codes[i], _ = r.field("checkout", "code").(string)
				}(i)
			}
			wg.Wait()
			confirmed, outOfStock := 0, 0
			for i := range outcomes {
				switch {
				case outcomes[i] == "confirmed":
					confirmed++
				case outcomes[i] == "cancelled" && codes[i] == "out_of_stock":
					outOfStock++
				}
			}
			if confirmed != 50 || outOfStock != 150 {
				t.Fatalf("%d confirmed, %d cancelled out of stock; want 50 and 150", confirmed, outOfStock)
			}
			if tot := e.stockHistory("HOT-1").Totals(); tot.Available() != 0 || tot.Reserved != 0 {
				t.Fatalf("final stock: on hand %d, reserved %d", tot.OnHand, tot.Reserved)
			}
		})
	}
}

func TestE2EOrderIdempotencyKey(t *testing.T) {
	for _, tr := range tiers(t) {
		t.Run(tr.name, func(t *testing.T) {
			e := newE2E(t, tr.open(t), 0)
			admin := e.token("root", auth.RoleAdmin)
			e.product(admin, "MUG-1", 900, 20)
			alice := e.token("alice", auth.RoleCustomer)
			cartID := e.cart(alice, map[string]int64{"MUG-1": 2})

			var wg sync.WaitGroup
			parallel := make([]httpResp, 10)
			for i := range parallel {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					parallel[i] = e.placeOrder(alice, cartID, "tok_visa", "Idempotency-Key", "checkout-1")
				}(i)
			}
			wg.Wait()
			var first *httpResp
			for i, r := range parallel {
				switch r.status {
				case 201:
					if first == nil {
						first = &parallel[i]
					} else if !bytes.Equal(r.body, first.body) {
						t.Fatalf("two different 201 bodies:\n%s\n%s", first.body, r.body)
					}
				case 409:
				default:
					t.Fatalf("parallel POST /v1/orders: %d %s", r.status, r.body)
				}
			}
			if first == nil {
				// Every parallel attempt met the in-flight first one; it has finished by now.
				r := e.must(201, e.placeOrder(alice, cartID, "tok_visa", "Idempotency-Key", "checkout-1"))
				first = &r
			}
			for i := 0; i < 10; i++ {
				r := e.placeOrder(alice, cartID, "tok_visa", "Idempotency-Key", "checkout-1")
				if r.status != 201 || !bytes.Equal(r.body, first.body) {
					t.Fatalf("sequential retry %d: %d %s", i, r.status, r.body)
				}
			}
			orderID, _ := first.field("order", "id").(string)
			if n := len(e.app.gateway.Authorizations(orderID)); n != 1 {
				t.Fatalf("%d authorizations for order %s, want 1", n, orderID)
			}
			if n := e.countEvents("order-"+orderID, "order.placed"); n != 1 {
				t.Fatalf("%d order.placed events, want 1", n)
			}
			// Another customer cannot see or touch the order: 404, as if it did not exist.
			mallory := e.token("mallory", auth.RoleCustomer)
			e.must(404, e.do("GET", "/v1/orders/"+orderID+"/checkout", mallory, nil))
			e.must(404, e.do("POST", "/v1/orders/"+orderID+"/cancel", mallory, map[string]any{"reason": "mine now"}))
			e.must(404, e.do("GET", "/v1/carts/"+cartID, mallory, nil))
			e.must(200, e.do("GET", "/v1/orders/"+orderID+"/checkout", alice, nil))
			// The same key with another body is refused.
			e.must(422, e.do("POST", "/v1/orders?wait=30s", alice, map[string]any{"cartId": cartID, "payment": map[string]any{"token": "tok_decline"}}, "Idempotency-Key", "checkout-1"))
		})
	}
}

func TestE2EDeclinedPaymentReleasesOnce(t *testing.T) {
	for _, tr := range tiers(t) {
		t.Run(tr.name, func(t *testing.T) {
			e := newE2E(t, tr.open(t), 0)
			admin := e.token("root", auth.RoleAdmin)
			e.product(admin, "CAP-1", 1200, 7)
			e.product(admin, "CAP-2", 800, 3)
			bob := e.token("bob", auth.RoleCustomer)
			r := e.must(201, e.placeOrder(bob, e.cart(bob, map[string]int64{"CAP-1": 2, "CAP-2": 1}), "tok_decline"))
			if r.field("checkout", "outcome") != "cancelled" || r.field("order", "status") != "cancelled" {
				t.Fatalf("declined order: %s", r.body)
			}
			orderID := r.field("order", "id").(string)
			for sku, before := range map[string]int64{"CAP-1": 7, "CAP-2": 3} {
				if n := e.countEvents("inventory-"+sku, "inventory.released"); n != 1 {
					t.Fatalf("%s: %d releases, want exactly 1", sku, n)
				}
				if got := e.stockHistory(sku).Totals().Available(); got != before {
					t.Fatalf("%s available %d after the decline, want %d", sku, got, before)
				}
			}
			if n := len(e.app.gateway.Authorizations(orderID)); n != 1 {
				t.Fatalf("%d authorization attempts", n)
			}
		})
	}
}

func TestE2EPaymentWebhook(t *testing.T) {
	e := newE2E(t, tiers(t)[0].open(t), -1) // the simulator sends no webhook by itself
	admin := e.token("root", auth.RoleAdmin)
	e.product(admin, "HAT-1", 2500, 5)
	carol := e.token("carol", auth.RoleCustomer)
	r := e.do("POST", "/v1/orders?wait=300ms", carol, map[string]any{
		"cartId": e.cart(carol, map[string]int64{"HAT-1": 1}), "shippingAddress": address, "payment": map[string]any{"token": "tok_async"},
	})
	if r.status != 202 {
		t.Fatalf("async checkout: %d %s", r.status, r.body)
	}
	orderID := r.field("order", "id").(string)
	auths := e.app.gateway.Authorizations(orderID)
	if len(auths) != 1 {
		t.Fatalf("%d authorizations", len(auths))
	}
	header, body, err := e.app.gateway.Webhook(auths[0].GatewayRef)
	if err != nil {
		t.Fatal(err)
	}
	post := func(h http.Header, b []byte) httpResp {
		req, _ := http.NewRequest("POST", e.srv.URL+"/v1/webhooks/payments", bytes.NewReader(b))
		for k, vs := range h {
			req.Header[k] = vs
		}
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		out, _ := io.ReadAll(res.Body)
		return httpResp{res.StatusCode, res.Header, out}
	}
	var ev payment.WebhookEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		t.Fatal(err)
	}
	wrongSecret, wrongBody, _ := payment.SignedRequest([]byte("not-the-secret"), ev, time.Now())
	changed := bytes.Replace(body, []byte(`"amount":`), []byte(`"amount": `), 1)
	old := http.Header{payment.SignatureHeader: {payment.Sign([]byte("webhook-secret"), time.Now().Add(-301*time.Second), body)}}
	bad := []struct {
		name string
		h    http.Header
		b    []byte
	}{
		{"unsigned", http.Header{}, body},
		{"wrong secret", wrongSecret, wrongBody},
		{"one byte changed", header, changed},
		{"301 s old", old, body},
	}
	for _, c := range bad {
		if got := post(c.h, c.b); got.status != 400 {
			t.Fatalf("%s webhook: %d %s", c.name, got.status, got.body)
		}
	}
	if st := e.do("GET", "/v1/orders/"+orderID+"/checkout", carol, nil); st.field("terminal") != false {
		t.Fatalf("a rejected webhook moved the checkout: %s", st.body)
	}
	for i := 0; i < 5; i++ {
		if got := post(header, body); got.status != 200 {
			t.Fatalf("valid webhook %d: %d %s", i, got.status, got.body)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := e.do("GET", "/v1/orders/"+orderID+"/checkout", carol, nil)
		if st.field("outcome") == "confirmed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("checkout not confirmed after the webhook: %s", st.body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := e.countEvents("checkout-"+orderID, "checkout.webhook_received"); n != 1 {
		t.Fatalf("the same webhook took effect %d times", n)
	}
	if n := e.countEvents("order-"+orderID, "order.confirmed"); n != 1 {
		t.Fatalf("%d order.confirmed events", n)
	}
}

func TestE2EMetrics(t *testing.T) {
	e := newE2E(t, tiers(t)[0].open(t), 0)
	admin := e.token("root", auth.RoleAdmin)
	e.product(admin, "MET-1", 100, 1)
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := e.do("GET", "/metrics", "", nil)
		body := string(r.body)
		if r.status == 200 && strings.Contains(body, `orderengine_projection_state{projection="catalog",state="caught-up"} 1`) &&
			strings.Contains(body, `orderengine_projection_lag_positions{projection="orders"}`) &&
			strings.Contains(body, `orderengine_http_request_duration_seconds_count{method="POST",route="/v1/products",status="201"} 1`) &&
			strings.Contains(body, "orderengine_events_head_position") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics never showed the projections caught up and the request counted:\n%s", short(r.body))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestE2EReadYourWrites(t *testing.T) {
	for _, tr := range tiers(t) {
		t.Run(tr.name, func(t *testing.T) {
			e := newE2E(t, tr.open(t), 0)
			admin := e.token("root", auth.RoleAdmin)
			e.product(admin, "RYW-1", 1000, 3)
			dana := e.token("dana", auth.RoleCustomer)
			r := e.must(201, e.placeOrder(dana, e.cart(dana, map[string]int64{"RYW-1": 1}), "tok_visa"))
			id, _ := r.field("order", "id").(string)
			pos := r.header.Get("Orderengine-Position")
			got := e.must(200, e.do("GET", "/v1/orders/"+id+"?minPosition="+pos, dana, nil))
			if got.header.Get("Orderengine-Stale") == "true" || got.field("id") != id || got.field("status") != "paid" {
				t.Fatalf("read after write: stale=%q %s", got.header.Get("Orderengine-Stale"), short(got.body))
			}
			// The same through the header, and the order list.
			list := e.must(200, e.do("GET", "/v1/orders", dana, nil, "Orderengine-Position", pos))
			if items, _ := list.field("items").([]any); len(items) != 1 {
				t.Fatalf("dana's orders: %s", short(list.body))
			}
			// Someone else's order is 404 on the read side too.
			e.must(404, e.do("GET", "/v1/orders/"+id, e.token("eve", auth.RoleCustomer), nil))
			// The product, public, after the stock movement of the order.
			e.must(200, e.do("GET", "/v1/products?minPosition="+pos, "", nil))
		})
	}
}

func TestE2EOpenAPIDescribesEveryRoute(t *testing.T) {
	e := newE2E(t, tiers(t)[0].open(t), 0)
	var routes []string
	err := chi.Walk(e.app.handler.(chi.Router), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if strings.HasPrefix(route, "/v1/") {
			routes = append(routes, method+" "+route)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	r := e.must(200, e.do("GET", "/v1/openapi.json", "", nil))
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for p, ops := range doc.Paths {
		for m := range ops {
			documented[strings.ToUpper(m)+" "+p] = true
		}
	}
	for _, rt := range routes {
		if !documented[rt] {
			t.Errorf("route %s is not in /v1/openapi.json", rt)
		}
		delete(documented, rt)
	}
	for d := range documented {
		t.Errorf("documented %s has no route", d)
	}
}

func TestE2ESearchFindsRenamedProduct(t *testing.T) {
	for _, tr := range tiers(t) {
		t.Run(tr.name, func(t *testing.T) {
			e := newE2E(t, tr.open(t), 0)
			admin := e.token("root", auth.RoleAdmin)
			r := e.must(201, e.do("POST", "/v1/products", admin, map[string]any{"sku": "SRCH-1", "name": "Plain Mug", "brand": "Acme", "category": "mugs",
				"description": "a mug", "price": map[string]any{"amount": 900, "currency": "EUR"}}))
			id, _ := r.field("id").(string)
			r = e.must(200, e.do("PATCH", "/v1/products/"+id, admin, map[string]any{"name": "Turquoise Espresso Cup"}))
			pos := r.header.Get("Orderengine-Position")
			got := e.must(200, e.do("GET", "/v1/search?q=turquoise&minPosition="+pos, "", nil))
			if got.header.Get("Orderengine-Stale") == "true" {
				t.Fatalf("search stale after minPosition %s", pos)
			}
			items, _ := got.field("items").([]any)
			if len(items) != 1 || items[0].(map[string]any)["id"] != id {
				t.Fatalf("search for the new name: %s", short(got.body))
			}
			e.must(200, e.do("GET", "/v1/search/suggest?q=turq", "", nil))
		})
	}
}
