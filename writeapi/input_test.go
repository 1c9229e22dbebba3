package writeapi_test

import (
	"strings"
	"testing"

	"github.com/orderengine/orderengine/auth"
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
	r := e.must(422, e.do("POST", "/v1/products", admin, map[string]any{"sku": "M-1", "name": "M", "price": map[string]any{"amount": 100, "currency": "XXQ"}}))
	if !strings.HasSuffix(r.json(t)["type"].(string), "/validation") {
		t.Fatalf("money problem: %s", r.body)
	}
}
