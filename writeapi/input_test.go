package writeapi_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/orderengine/orderengine/auth"
	"github.com/orderengine/orderengine/writeapi"
)

// TestInputRules: a missing quantity is a 422 (never a removal), an invalid money value
// is a 422 like any other validation, and an oversized webhook body is a 413.
func TestInputRules(t *testing.T) {
	e := newEnv(t, nil)
	admin := token(t, "root", auth.RoleAdmin)
	alice := token(t, "alice", auth.RoleCustomer)
	e.seed(admin, "TEE-1", 1999, 10)
	id := e.must(201, e.do("POST", "/v1/carts", alice, map[string]any{"currency": "EUR"})).json(t)["id"].(string)
	e.must(200, e.do("POST", "/v1/carts/"+id+"/items", alice, map[string]any{"sku": "TEE-1", "quantity": 2}))
	for _, body := range []string{`{}`, `null`, `{"quantity":null}`} {
		r := e.must(422, e.do("PATCH", "/v1/carts/"+id+"/items/TEE-1", alice, body))
		if !strings.Contains(string(r.body), "quantity") {
			t.Fatalf("%s: %s", body, r.body)
		}
	}
	if lines := e.must(200, e.do("GET", "/v1/carts/"+id, alice, nil)).json(t)["lines"].([]any); len(lines) != 1 {
		t.Fatalf("a body without quantity changed the cart: %v", lines)
	}
	// Free text: no control characters, ANSI escapes or bidi overrides; a description keeps its lines.
	addr := map[string]any{"name": "Alice", "line1": "Main St 1", "city": "Berlin", "postalCode": "10115", "country": "DE"}
	for _, bad := range []string{"Main\x00St", "\x1b[31mMain", "Main \u202eSt", "Main\nSt"} {
		addr["line1"] = bad
		e.must(422, e.do("PUT", "/v1/carts/"+id+"/shipping-address", alice, addr))
	}
	addr["line1"] = "Hauptstraße 1"
	e.must(200, e.do("PUT", "/v1/carts/"+id+"/shipping-address", alice, addr))
	e.must(201, e.do("POST", "/v1/products", admin, map[string]any{"sku": "D-1", "name": "D", "description": "Soft.\nWashable.",
		"price": map[string]any{"amount": 100, "currency": "EUR"}}))
	e.must(422, e.do("POST", "/v1/products", admin, map[string]any{"sku": "D-2", "name": "D\u2066", "price": map[string]any{"amount": 100, "currency": "EUR"}}))

	r := e.must(422, e.do("POST", "/v1/products", admin, map[string]any{"sku": "M-1", "name": "M", "price": map[string]any{"amount": 100, "currency": "XXQ"}}))
	if !strings.HasSuffix(r.json(t)["type"].(string), "/validation") {
		t.Fatalf("money problem: %s", r.body)
	}
}

// TestCartIDsAndOpenCartCap: a client cannot choose a cart id; keyed carts of two
// customers differ; the open-cart cap holds under concurrent creates and a checked-out
// cart frees its slot.
func TestCartIDsAndOpenCartCap(t *testing.T) {
	e := newEnv(t, func(c *writeapi.Config) {
		c.RateLimit = writeapi.RateLimit{PerUser: 1e6, UserBurst: 1e6, PerIP: 1e6, IPBurst: 1e6}
	})
	alice := token(t, "alice", auth.RoleCustomer)
	bob := token(t, "bob", auth.RoleCustomer)
	e.must(400, e.do("POST", "/v1/carts", alice, map[string]any{"id": "my-cart", "currency": "EUR"}))
	a := e.must(201, e.do("POST", "/v1/carts", alice, map[string]any{"currency": "EUR"}, "Idempotency-Key", "k")).json(t)["id"]
	b := e.must(201, e.do("POST", "/v1/carts", bob, map[string]any{"currency": "EUR"}, "Idempotency-Key", "k")).json(t)["id"]
	if a == b {
		t.Fatal("two customers' keyed carts share an id")
	}

	var wg sync.WaitGroup
	statuses := make([]int, 40)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = e.do("POST", "/v1/carts", bob, map[string]any{"currency": "EUR"}).status
		}()
	}
	wg.Wait()
	created := 0
	for _, s := range statuses {
		switch s {
		case 201:
			created++
		case 409:
		default:
			t.Fatalf("status %d", s)
		}
	}
	// bob had one cart already: 19 more fit under the default cap of 20.
	if created != 19 {
		t.Fatalf("%d carts created concurrently, want 19 (cap 20)", created)
	}
	r := e.must(409, e.do("POST", "/v1/carts", bob, map[string]any{"currency": "EUR"}))
	if !strings.HasSuffix(r.json(t)["type"].(string), "/open-cart-limit") {
		t.Fatalf("cap problem: %s", r.body)
	}
	// alice is not limited by bob's carts.
	e.must(201, e.do("POST", "/v1/carts", alice, map[string]any{"currency": "EUR"}))
}
