package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/orderengine/orderengine/auth"
	"github.com/orderengine/orderengine/payment"
)

// loadServedOpenAPI fetches /v1/openapi.json from a running engine and checks it is a
// valid OpenAPI document. With ORDERENGINE_OPENAPI_OUT set it also writes it there, for
// the linters CI runs on it (.ci/run).
func loadServedOpenAPI(t *testing.T, e *e2e) *openapi3.T {
	t.Helper()
	r := e.must(200, e.do("GET", "/v1/openapi.json", "", nil))
	if out := os.Getenv("ORDERENGINE_OPENAPI_OUT"); out != "" {
		if err := os.WriteFile(out, r.body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	doc, err := openapi3.NewLoader().LoadFromData(r.body)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("the served document is not valid OpenAPI: %v", err)
	}
	return doc
}

func TestOpenAPIDocumentIsValid(t *testing.T) {
	e := newE2E(t, tiers(t)[0].open(t), 0)
	loadServedOpenAPI(t, e)
}

// contract sends requests to the engine and validates each request and its answer
// against the served document (status declared, headers and body match the schemas,
// which admit no undocumented member). It records which operations answered a success
// and which an error.
type contract struct {
	e      *e2e
	router routers.Router
	ok     map[string]bool
	failed map[string]bool
}

func ndjsonDecoder(body io.Reader, _ http.Header, schema *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
	// The document describes one line; check the first.
	line, err := bufio.NewReader(body).ReadBytes('\n')
	if err != nil && err != io.EOF {
		return nil, err
	}
	var v any
	return v, json.Unmarshal(line, &v)
}

func newContract(t *testing.T, e *e2e) *contract {
	doc := loadServedOpenAPI(t, e)
	doc.Servers = openapi3.Servers{{URL: e.srv.URL}}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	openapi3filter.RegisterBodyDecoder("application/x-ndjson", ndjsonDecoder)
	t.Cleanup(func() { openapi3filter.UnregisterBodyDecoder("application/x-ndjson") })
	return &contract{e: e, router: router, ok: map[string]bool{}, failed: map[string]bool{}}
}

// call sends a request, fails the test unless it answers want and both sides agree with
// the document, and returns the answer.
func (c *contract) call(want int, method, path, tok string, body any, headers ...string) httpResp {
	t := c.e.t
	t.Helper()
	var raw []byte
	switch b := body.(type) {
	case nil:
	case []byte:
		raw = b
	default:
		raw, _ = json.Marshal(b)
	}
	req, _ := http.NewRequest(method, c.e.srv.URL+path, bytes.NewReader(raw))
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		t.Fatalf("%s %s is not in the document: %v", method, path, err)
	}
	ctx := context.Background()
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true}}
	// Requests meant to be refused may break the document; the others must not.
	if want < 400 {
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			t.Fatalf("%s %s: the request breaks the document: %v", method, path, err)
		}
	}
	req.Body = io.NopCloser(bytes.NewReader(raw))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, res.StatusCode, want, short(got))
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: res.StatusCode, Header: res.Header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}}
	out.SetBodyBytes(got)
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		t.Fatalf("%s %s → %d: the answer breaks the document: %v\n%s", method, path, res.StatusCode, err, short(got))
	}
	if want >= 400 {
		var p map[string]any
		if err := json.Unmarshal(got, &p); err != nil || p["instance"] != req.URL.Path || res.Header.Get("Content-Type") != "application/problem+json" {
			t.Fatalf("%s %s → %d: want a problem document with instance %s: %s", method, path, want, req.URL.Path, got)
		}
	}
	key := route.Method + " " + route.Path
	if want < 400 {
		c.ok[key] = true
	} else {
		c.failed[key] = true
	}
	return httpResp{res.StatusCode, res.Header, got}
}

// TestOpenAPIContract drives every documented route through a running engine — a success
// and at least one error each — and validates every request and answer against the served
// document with kin-openapi.
func TestOpenAPIContract(t *testing.T) {
	e := newE2E(t, tiers(t)[0].open(t), -1, allowLocalWebhooks) // tok_async payments wait for a webhook
	c := newContract(t, e)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer receiver.Close()
	admin, alice, bob := e.token("root", auth.RoleAdmin), e.token("alice", auth.RoleCustomer), e.token("bob", auth.RoleCustomer)
	auditor, analyst := e.token("audrey", auth.RoleAuditor), e.token("ann", auth.RoleAnalyst)
	eur := func(n int64) map[string]any { return map[string]any{"amount": n, "currency": "EUR"} }

	c.call(200, "GET", "/v1/openapi.json", "", nil)

	// Catalog and stock.
	r := c.call(201, "POST", "/v1/products", admin, map[string]any{"sku": "TEE-1", "name": "Blue Tee", "brand": "Acme", "category": "tees", "price": eur(1999)})
	pid, _ := r.field("id").(string)
	if r.header.Get("ETag") != `"0"` {
		t.Fatalf("a new product's ETag %q, want \"0\"", r.header.Get("ETag"))
	}
	r = c.call(422, "POST", "/v1/products", admin, map[string]any{})
	if d, _ := r.field("detail").(string); !strings.Contains(d, "name") || !strings.Contains(d, "price") || !strings.Contains(d, "sku") {
		t.Fatalf("missing fields not named: %s", r.body)
	}
	c.call(200, "PATCH", "/v1/products/"+pid, admin, map[string]any{"description": "soft"}, "If-Match", `"0"`)
	c.call(412, "PATCH", "/v1/products/"+pid, admin, map[string]any{"description": "x"}, "If-Match", `"99"`)
	c.call(201, "POST", "/v1/products/"+pid+"/variants", admin, map[string]any{"sku": "TEE-1-L", "attributes": map[string]string{"size": "L"}, "price": eur(2199)})
	c.call(422, "POST", "/v1/products/"+pid+"/variants", admin, map[string]any{"sku": "TEE-1-XL"})
	productETag := c.call(200, "PATCH", "/v1/products/"+pid+"/variants/TEE-1-L", admin, map[string]any{"price": eur(2099)}).header.Get("ETag")
	c.call(201, "POST", "/v1/products", admin, map[string]any{"sku": "MUG-1", "name": "Mug", "price": eur(900)})
	c.call(201, "POST", "/v1/inventory/MUG-1/receipts", admin, map[string]any{"warehouse": "main", "quantity": 10})
	c.call(404, "PATCH", "/v1/products/nope/variants/TEE-1-L", admin, map[string]any{"price": eur(2099)})
	c.call(201, "POST", "/v1/inventory/TEE-1/receipts", admin, map[string]any{"warehouse": "main", "quantity": 10})
	c.call(201, "POST", "/v1/inventory/TEE-1-L/receipts", admin, map[string]any{"warehouse": "main", "quantity": 5})
	c.call(422, "POST", "/v1/inventory/TEE-1/receipts", admin, map[string]any{"warehouse": "main"})
	c.call(201, "POST", "/v1/inventory/TEE-1/adjustments", admin, map[string]any{"warehouse": "main", "delta": -1, "reason": "damaged"})
	c.call(403, "POST", "/v1/inventory/TEE-1/adjustments", alice, map[string]any{"warehouse": "main", "delta": -1, "reason": "x"})
	c.call(201, "POST", "/v1/promotions", admin, map[string]any{"code": "TENOFF", "kind": "percent", "percentOff": 1000})
	c.call(409, "POST", "/v1/promotions", admin, map[string]any{"code": "TENOFF", "kind": "percent", "percentOff": 1000})
	r = c.call(201, "POST", "/v1/products", admin, map[string]any{"sku": "OLD-1", "name": "Old", "price": eur(100)})
	c.call(200, "POST", "/v1/products/"+r.field("id").(string)+"/archive", admin, map[string]any{"reason": "discontinued"})
	c.call(404, "POST", "/v1/products/nope/archive", admin, map[string]any{})

	// A cart, with an idempotent replay that keeps Cache-Control.
	r = c.call(201, "POST", "/v1/carts", alice, map[string]any{"currency": "EUR"}, "Idempotency-Key", "cart-1")
	cart, _ := r.field("id").(string)
	replay := c.call(201, "POST", "/v1/carts", alice, map[string]any{"currency": "EUR"}, "Idempotency-Key", "cart-1")
	if replay.header.Get("Idempotent-Replayed") != "true" || replay.header.Get("Cache-Control") != "no-store" || replay.field("id") != cart {
		t.Fatalf("replay: %v %s", replay.header, replay.body)
	}
	r = c.call(401, "POST", "/v1/carts", "", map[string]any{"currency": "EUR"})
	c.call(200, "GET", "/v1/carts/"+cart, alice, nil)
	c.call(404, "GET", "/v1/carts/"+cart, bob, nil)
	c.call(200, "POST", "/v1/carts/"+cart+"/items", alice, map[string]any{"sku": "MUG-1", "quantity": 1})
	c.call(200, "POST", "/v1/carts/"+cart+"/items", alice, map[string]any{"sku": "TEE-1-L", "quantity": 1})
	c.call(404, "POST", "/v1/carts/"+cart+"/items", alice, map[string]any{"sku": "NOPE", "quantity": 1})
	c.call(200, "PATCH", "/v1/carts/"+cart+"/items/MUG-1", alice, map[string]any{"quantity": 2})
	c.call(400, "PATCH", "/v1/carts/"+cart+"/items/MUG-1", alice, map[string]any{"quantity": "two"})
	c.call(200, "DELETE", "/v1/carts/"+cart+"/items/TEE-1-L", alice, nil)
	c.call(404, "DELETE", "/v1/carts/nope/items/TEE-1-L", alice, nil)
	c.call(200, "POST", "/v1/carts/"+cart+"/coupons", alice, map[string]any{"code": "TENOFF"})
	c.call(422, "POST", "/v1/carts/"+cart+"/coupons", alice, map[string]any{"code": "NOPE"})
	c.call(200, "DELETE", "/v1/carts/"+cart+"/coupons/TENOFF", alice, nil)
	c.call(404, "DELETE", "/v1/carts/nope/coupons/TENOFF", alice, nil)
	c.call(200, "PUT", "/v1/carts/"+cart+"/shipping-address", alice, address)
	c.call(422, "PUT", "/v1/carts/"+cart+"/shipping-address", alice, map[string]any{"name": "Alice"})

	// Checkout: {} names the missing fields; a placed order's ETag is the read model's version.
	r = c.call(422, "POST", "/v1/orders", alice, map[string]any{})
	if d, _ := r.field("detail").(string); !strings.Contains(d, "cartId") || !strings.Contains(d, "payment") {
		t.Fatalf("POST /v1/orders {}: %s", r.body)
	}
	r = c.call(201, "POST", "/v1/orders?wait=30s", alice, map[string]any{"cartId": cart, "payment": map[string]any{"token": "tok_visa"}})
	order, _ := r.field("order", "id").(string)
	if r.field("checkout", "outcome") != "confirmed" {
		t.Fatalf("checkout: %s", r.body)
	}
	c.call(200, "GET", "/v1/orders/"+order+"/checkout", alice, nil)
	c.call(404, "GET", "/v1/orders/"+order+"/checkout", bob, nil)
	c.call(200, "POST", "/v1/orders/"+order+"/shipments", admin, map[string]any{"carrier": "DHL", "trackingNumber": "123"})
	c.call(404, "POST", "/v1/orders/nope/shipments", admin, map[string]any{"carrier": "DHL", "trackingNumber": "123"})
	c.call(200, "POST", "/v1/orders/"+order+"/deliveries", admin, nil)
	c.call(404, "POST", "/v1/orders/nope/deliveries", admin, nil)
	c.call(200, "POST", "/v1/orders/"+order+"/refunds", admin, map[string]any{"amount": eur(100), "reason": "late"})
	c.call(422, "POST", "/v1/orders/"+order+"/refunds", admin, map[string]any{"reason": "late"})
	c.call(409, "POST", "/v1/orders/"+order+"/cancel", alice, map[string]any{})

	// Parcels, a received return, a rejected one, and their reads.
	r = c.call(201, "POST", "/v1/orders?wait=30s", alice, map[string]any{"cartId": e.cart(alice, map[string]int64{"MUG-1": 2}),
		"shippingAddress": address, "payment": map[string]any{"token": "tok_visa"}})
	order3, _ := r.field("order", "id").(string)
	one := []any{map[string]any{"sku": "MUG-1", "quantity": 1}}
	r = c.call(201, "POST", "/v1/orders/"+order3+"/fulfillments", admin, map[string]any{"lines": one, "warehouse": "main", "carrier": "DHL", "trackingNumber": "P1"})
	fs, _ := r.field("fulfillments").([]any)
	if len(fs) != 1 {
		t.Fatalf("fulfillments: %s", r.body)
	}
	fid, _ := fs[0].(map[string]any)["id"].(string)
	c.call(409, "POST", "/v1/orders/"+order3+"/fulfillments", admin, map[string]any{"lines": []any{map[string]any{"sku": "MUG-1", "quantity": 5}}, "carrier": "DHL", "trackingNumber": "P2"})
	c.call(200, "POST", "/v1/orders/"+order3+"/fulfillments/"+fid+"/delivery", admin, nil)
	c.call(404, "POST", "/v1/orders/"+order3+"/fulfillments/nope/delivery", admin, nil)
	r = c.call(201, "POST", "/v1/orders/"+order3+"/returns", alice, map[string]any{"lines": []any{map[string]any{"sku": "MUG-1", "quantity": 1, "reason": "cracked"}}})
	ret1, _ := r.field("id").(string)
	c.call(409, "POST", "/v1/orders/"+order3+"/returns", alice, map[string]any{"lines": []any{map[string]any{"sku": "MUG-1", "quantity": 5}}})
	c.call(200, "POST", "/v1/returns/"+ret1+"/approve", admin, nil)
	c.call(404, "POST", "/v1/returns/nope/approve", admin, nil)
	c.call(200, "POST", "/v1/returns/"+ret1+"/receive", admin, map[string]any{"lines": []any{map[string]any{"sku": "MUG-1", "quantity": 1, "restock": true}}})
	c.call(422, "POST", "/v1/returns/"+ret1+"/receive", admin, map[string]any{})
	c.call(200, "POST", "/v1/orders/"+order3+"/shipments", admin, map[string]any{"carrier": "DHL", "trackingNumber": "P2"})
	r = c.call(201, "POST", "/v1/orders/"+order3+"/returns", admin, map[string]any{"lines": []any{map[string]any{"sku": "MUG-1", "quantity": 1}}})
	ret2, _ := r.field("id").(string)
	c.call(422, "POST", "/v1/returns/"+ret2+"/reject", admin, map[string]any{})
	r = c.call(200, "POST", "/v1/returns/"+ret2+"/reject", admin, map[string]any{"reason": "worn"})
	pos3 := r.header.Get("Orderengine-Position")
	c.call(200, "GET", "/v1/orders/"+order3+"/returns?minPosition="+pos3, alice, nil)
	c.call(404, "GET", "/v1/orders/"+order3+"/returns", bob, nil)
	c.call(200, "GET", "/v1/returns/"+ret1+"?minPosition="+pos3, auditor, nil)
	c.call(404, "GET", "/v1/returns/"+ret1, bob, nil)

	// An order edit: open (If-Match required), stage, preview, confirm; a second one cancelled.
	r = c.call(201, "POST", "/v1/orders?wait=30s", alice, map[string]any{"cartId": e.cart(alice, map[string]int64{"MUG-1": 2}),
		"shippingAddress": address, "payment": map[string]any{"token": "tok_visa"}})
	order4, _ := r.field("order", "id").(string)
	edits := "/v1/orders/" + order4 + "/edits"
	c.call(428, "POST", edits, admin, nil)
	r = c.call(201, "POST", edits, admin, nil, "If-Match", r.header.Get("ETag"))
	eid, _ := r.field("edit", "id").(string)
	c.call(200, "POST", edits+"/"+eid+"/items", admin, map[string]any{"sku": "TEE-1-L", "quantity": 1})
	c.call(422, "POST", edits+"/"+eid+"/items", admin, map[string]any{"sku": "NOPE-1", "quantity": 1})
	c.call(200, "PATCH", edits+"/"+eid+"/items/MUG-1", admin, map[string]any{"quantity": 1})
	c.call(422, "PATCH", edits+"/"+eid+"/items/MUG-1", admin, map[string]any{"quantity": -1})
	c.call(200, "PUT", edits+"/"+eid+"/shipping-address", admin, address)
	paris := map[string]any{"name": "Alice", "line1": "1 rue de Rivoli", "city": "Paris", "postalCode": "75001", "country": "FR"}
	c.call(422, "PUT", edits+"/"+eid+"/shipping-address", admin, paris)
	c.call(200, "GET", edits+"/"+eid, admin, nil)
	c.call(404, "GET", edits+"/nope", admin, nil)
	r = c.call(200, "POST", edits+"/"+eid+"/confirm", admin, nil)
	if r.field("edit", "status") != "applied" {
		t.Fatalf("confirm: %s", r.body)
	}
	c.call(404, "POST", edits+"/nope/confirm", admin, nil)
	c.call(409, "POST", edits+"/"+eid+"/cancel", admin, nil)
	r = c.call(201, "POST", edits, admin, nil, "If-Match", r.header.Get("ETag"))
	c.call(200, "POST", edits+"/"+r.field("edit", "id").(string)+"/cancel", admin, nil)

	// An asynchronous payment: 202 with Location and Retry-After, then the gateway's webhook.
	cart2 := e.cart(alice, map[string]int64{"MUG-1": 1})
	r = c.call(202, "POST", "/v1/orders?wait=200ms", alice, map[string]any{"cartId": cart2, "shippingAddress": address, "payment": map[string]any{"token": "tok_async"}})
	order2, _ := r.field("order", "id").(string)
	if !strings.HasSuffix(r.header.Get("Location"), "/v1/orders/"+order2+"/checkout") || r.header.Get("Retry-After") == "" {
		t.Fatalf("202 headers: %v", r.header)
	}
	auths := e.app.gateway.Authorizations(order2)
	if len(auths) != 1 {
		t.Fatalf("%d authorizations", len(auths))
	}
	header, body, err := e.app.gateway.Webhook(auths[0].GatewayRef)
	if err != nil {
		t.Fatal(err)
	}
	c.call(200, "POST", "/v1/webhooks/payments", "", body, payment.SignatureHeader, header.Get(payment.SignatureHeader))
	c.call(400, "POST", "/v1/webhooks/payments", "", body, payment.SignatureHeader, "t=1,v1="+strings.Repeat("0", 64))
	c.call(413, "POST", "/v1/webhooks/payments", "", []byte(`{"pad":"`+strings.Repeat("x", 70<<10)+`"}`), payment.SignatureHeader, "t=1,v1="+strings.Repeat("0", 64))
	e.awaitCheckout(alice, order2)
	r = c.call(200, "POST", "/v1/orders/"+order2+"/cancel", alice, map[string]any{"reason": "changed my mind"})
	writeVersion, pos := r.header.Get("ETag"), r.header.Get("Orderengine-Position")

	// Reads: the order's version is the ETag the command answered.
	r = c.call(200, "GET", "/v1/orders/"+order2+"?minPosition="+pos, alice, nil)
	if v := r.field("version"); fmt.Sprint(v) != strings.Trim(writeVersion, `"`) {
		t.Fatalf("read version %v, write ETag %s", v, writeVersion)
	}
	c.call(304, "GET", "/v1/orders/"+order2+"?minPosition="+pos, alice, nil, "If-None-Match", r.header.Get("ETag"))
	c.call(200, "GET", "/v1/orders/"+order2+"?version=0", auditor, nil)
	c.call(404, "GET", "/v1/orders/"+order2, bob, nil)
	c.call(200, "GET", "/v1/orders?minPosition="+pos, alice, nil)
	c.call(403, "GET", "/v1/orders?customerId=bob", alice, nil)
	c.call(200, "GET", "/v1/orders/"+order2+"/events", auditor, nil)
	c.call(404, "GET", "/v1/orders/nope/events", auditor, nil)
	c.call(200, "GET", "/v1/products?minPosition="+pos, "", nil)
	c.call(400, "GET", "/v1/products?bogus=1", "", nil)
	r = c.call(200, "GET", "/v1/products/"+pid, "", nil)
	if v := r.field("version"); fmt.Sprint(v) != strings.Trim(productETag, `"`) {
		t.Fatalf("product version %v, its last write's ETag %s", v, productETag)
	}
	c.call(404, "GET", "/v1/products/nope", "", nil)
	c.call(200, "GET", "/v1/search?q=tee&minPosition="+pos, "", nil)
	c.call(400, "GET", "/v1/search?sort=bogus", "", nil)
	c.call(200, "GET", "/v1/search/suggest?q=te", "", nil)
	c.call(400, "GET", "/v1/search/suggest", "", nil)
	c.call(200, "GET", "/v1/inventory?minPosition="+pos, admin, nil)
	c.call(403, "GET", "/v1/inventory", alice, nil)
	c.call(200, "GET", "/v1/inventory/MUG-1", auditor, nil)
	c.call(404, "GET", "/v1/inventory/NOPE", auditor, nil)
	c.call(200, "GET", "/v1/admin/projections", analyst, nil)
	r = c.call(400, "GET", "/v1/admin/projections?x=1", analyst, nil)
	if d, _ := r.field("detail").(string); strings.Contains(d, "accepted: )") || !strings.Contains(d, "no query parameters") {
		t.Fatalf("no-parameter route: %s", d)
	}
	c.call(200, "GET", "/v1/admin/projections/catalog", analyst, nil)
	c.call(404, "GET", "/v1/admin/projections/nope", analyst, nil)
	c.call(202, "POST", "/v1/admin/projections/orders/rebuild", analyst, map[string]any{"dryRun": true})
	c.call(404, "POST", "/v1/admin/projections/nope/rebuild", analyst, nil)
	c.call(200, "GET", "/v1/admin/events?limit=5", auditor, nil)
	c.call(200, "GET", "/v1/admin/events?limit=5", auditor, nil, "Accept", "application/x-ndjson")
	c.call(403, "GET", "/v1/admin/events", alice, nil)
	c.call(403, "POST", "/v1/customers/ghost/erasure", alice, nil)
	if r := c.call(200, "POST", "/v1/customers/ghost/erasure", admin, nil); r.field("customerId") != "ghost" {
		t.Fatalf("erasure: %v", r.field("customerId"))
	}

	// Outgoing webhooks: an endpoint, replayed from the start so that it has deliveries.
	c.call(200, "GET", "/v1/asyncapi.json", "", nil)
	r = c.call(201, "POST", "/v1/webhook-endpoints", admin, map[string]any{"url": receiver.URL + "/hook", "eventTypes": []string{"order.placed"}})
	ep, _ := r.field("id").(string)
	if s, _ := r.field("secret").(string); !strings.HasPrefix(s, "whsec_") {
		t.Fatalf("create endpoint: %s", r.body)
	}
	c.call(201, "POST", "/v1/webhook-endpoints", admin, map[string]any{"url": receiver.URL + "/k"}, "Idempotency-Key", "ep-1")
	c.call(200, "POST", "/v1/webhook-endpoints", admin, map[string]any{"url": receiver.URL + "/k"}, "Idempotency-Key", "ep-1")
	c.call(422, "POST", "/v1/webhook-endpoints", admin, map[string]any{"url": "ftp://example.com/x"})
	c.call(400, "POST", "/v1/webhook-endpoints", admin, map[string]any{"url": receiver.URL, "bogus": 1})
	c.call(403, "POST", "/v1/webhook-endpoints", alice, map[string]any{"url": receiver.URL})
	c.call(200, "GET", "/v1/webhook-endpoints", admin, nil)
	c.call(400, "GET", "/v1/webhook-endpoints?x=1", admin, nil)
	c.call(200, "GET", "/v1/webhook-endpoints/"+ep, admin, nil)
	c.call(404, "GET", "/v1/webhook-endpoints/nope", admin, nil)
	c.call(200, "PATCH", "/v1/webhook-endpoints/"+ep, admin, map[string]any{"description": "the shop's ERP"})
	c.call(404, "PATCH", "/v1/webhook-endpoints/nope", admin, map[string]any{"description": "x"})
	c.call(200, "POST", "/v1/webhook-endpoints/"+ep+"/rotate-secret", admin, nil)
	c.call(404, "POST", "/v1/webhook-endpoints/nope/rotate-secret", admin, nil)
	if r = c.call(200, "POST", "/v1/webhook-endpoints/"+ep+"/test", admin, nil); r.field("ok") != true {
		t.Fatalf("test ping: %s", r.body)
	}
	c.call(404, "POST", "/v1/webhook-endpoints/nope/test", admin, nil)
	c.call(202, "POST", "/v1/webhook-endpoints/"+ep+"/replay", admin, map[string]any{"fromPosition": 0})
	c.call(422, "POST", "/v1/webhook-endpoints/"+ep+"/replay", admin, map[string]any{})
	var delivery string
	for deadline := time.Now().Add(time.Minute); delivery == "" && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		r = c.call(200, "GET", "/v1/webhook-endpoints/"+ep+"/deliveries?limit=5", admin, nil)
		var page struct{ Items []struct{ ID string } }
		_ = json.Unmarshal(r.body, &page)
		if len(page.Items) > 0 {
			delivery = page.Items[0].ID
		}
	}
	if delivery == "" {
		t.Fatalf("no delivery after a replay: %s", r.body)
	}
	c.call(400, "GET", "/v1/webhook-endpoints/"+ep+"/deliveries?limit=0", admin, nil)
	c.call(202, "POST", "/v1/webhook-deliveries/"+delivery+"/retry", admin, nil)
	c.call(404, "POST", "/v1/webhook-deliveries/"+ep+"-nope/retry", admin, nil)
	c.call(204, "DELETE", "/v1/webhook-endpoints/"+ep, admin, nil)
	c.call(404, "DELETE", "/v1/webhook-endpoints/"+ep, admin, nil)

	// Every documented operation answered a success and an error (the documents
	// themselves cannot fail).
	var missing []string
	for _, path := range e.docPaths(t) {
		for _, m := range path.methods {
			key := m + " " + path.path
			if !c.ok[key] {
				missing = append(missing, key+" (no success)")
			}
			if !c.failed[key] && key != "GET /v1/openapi.json" && key != "GET /v1/asyncapi.json" {
				missing = append(missing, key+" (no error)")
			}
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		t.Fatalf("not exercised:\n%s", strings.Join(missing, "\n"))
	}

	// A method the path does not take: 405 with Allow.
	r = e.do("DELETE", "/v1/carts", alice, nil)
	if r.status != 405 || r.header.Get("Allow") != "POST" || r.field("instance") != "/v1/carts" {
		t.Fatalf("405: %d Allow %q %s", r.status, r.header.Get("Allow"), r.body)
	}
	r = e.do("GET", "/v1/nope", "", nil)
	if r.status != 404 || r.field("instance") != "/v1/nope" {
		t.Fatalf("unknown route: %d %s", r.status, r.body)
	}
}

type docPath struct {
	path    string
	methods []string
}

func (e *e2e) docPaths(t *testing.T) []docPath {
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(e.must(200, e.do("GET", "/v1/openapi.json", "", nil)).body, &doc); err != nil {
		t.Fatal(err)
	}
	var out []docPath
	for p, ops := range doc.Paths {
		d := docPath{path: p}
		for m := range ops {
			d.methods = append(d.methods, strings.ToUpper(m))
		}
		out = append(out, d)
	}
	return out
}
