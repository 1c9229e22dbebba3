package writeapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/orderengine/orderengine/auth"
	"github.com/orderengine/orderengine/commands"
	"github.com/orderengine/orderengine/eventregistry"
	"github.com/orderengine/orderengine/eventstore/sqlite"
	"github.com/orderengine/orderengine/idempotency"
	"github.com/orderengine/orderengine/writeapi"
)

var secret = []byte(strings.Repeat("k", 32))

type env struct {
	t   *testing.T
	srv *httptest.Server
	api *writeapi.API
}

func newEnv(t *testing.T, cfg func(*writeapi.Config)) *env {
	t.Helper()
	store, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "events.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	rt := commands.NewRuntime(store, eventregistry.New(), commands.RuntimeOptions{})
	svc, err := commands.NewService(rt, commands.ServiceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ver, err := auth.NewVerifier(auth.Config{HS256Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	c := writeapi.Config{Service: svc, Verifier: ver, Idempotency: idempotency.New(store, idempotency.Options{})}
	if cfg != nil {
		cfg(&c)
	}
	api, err := writeapi.New(c)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return &env{t: t, srv: srv, api: api}
}

func token(t *testing.T, sub string, roles ...auth.Role) string {
	t.Helper()
	tok, err := auth.Signer{Secret: secret}.Sign(sub, roles, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	return m
}

func (e *env) do(method, path, tok string, body any, headers ...string) resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, rd)
	if rd != nil {
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
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, res.Header, b}
}

func (e *env) must(want int, r resp) resp {
	e.t.Helper()
	if r.status != want {
		e.t.Fatalf("status %d, want %d: %s", r.status, want, r.body)
	}
	return r
}

// seed creates a product with stock as admin.
func (e *env) seed(admin, sku string, price int64, stock int64) {
	e.t.Helper()
	e.must(201, e.do("POST", "/v1/products", admin, map[string]any{
		"sku": sku, "name": "Tee " + sku, "category": "tees", "brand": "Acme",
		"price": map[string]any{"amount": price, "currency": "EUR"},
	}))
	if stock > 0 {
		e.must(201, e.do("POST", "/v1/inventory/"+sku+"/receipts", admin, map[string]any{"warehouse": "main", "quantity": stock}))
	}
}

func TestOpenAPIMatchesRouter(t *testing.T) {
	e := newEnv(t, nil)
	var routes []string
	err := chi.Walk(e.api.Router(), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		routes = append(routes, method+" "+route)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	r := e.must(200, e.do("GET", "/v1/openapi.json", "", nil))
	var doc struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi %q", doc.OpenAPI)
	}
	var documented []string
	for path, ops := range doc.Paths {
		for m := range ops {
			documented = append(documented, strings.ToUpper(m)+" "+path)
		}
	}
	sort.Strings(routes)
	sort.Strings(documented)
	if strings.Join(routes, "\n") != strings.Join(documented, "\n") {
		t.Fatalf("router and OpenAPI document differ\nrouter:\n%s\n\ndocument:\n%s", strings.Join(routes, "\n"), strings.Join(documented, "\n"))
	}
}

func TestAuthorizationMatrix(t *testing.T) {
	e := newEnv(t, nil)
	tokens := map[string]string{
		"none":     "",
		"customer": token(t, "alice", auth.RoleCustomer),
		"admin":    token(t, "root", auth.RoleAdmin),
		"auditor":  token(t, "audrey", auth.RoleAuditor),
		"analyst":  token(t, "ann", auth.RoleAnalyst),
	}
	for _, op := range writeapi.Operations() {
		if len(op.Roles) == 0 {
			continue
		}
		path := strings.NewReplacer("{id}", "x1", "{sku}", "SKU-1", "{code}", "SAVE10").Replace(op.Path)
		for name, tok := range tokens {
			r := e.do(op.Method, path, tok, "{}")
			allowed := false
			for _, role := range op.Roles {
				allowed = allowed || role == name
			}
			switch {
			case name == "none" && r.status != 401:
				t.Errorf("%s %s without a token: %d, want 401", op.Method, op.Path, r.status)
			case name != "none" && !allowed && r.status != 403:
				t.Errorf("%s %s as %s: %d, want 403", op.Method, op.Path, name, r.status)
			case allowed && (r.status == 401 || r.status == 403):
				t.Errorf("%s %s as %s: %d, want it allowed", op.Method, op.Path, name, r.status)
			}
			if r.status >= 400 && r.header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("%s %s as %s: %d with content type %q", op.Method, op.Path, name, r.status, r.header.Get("Content-Type"))
			}
		}
	}
}

func TestCartFlowOverHTTP(t *testing.T) {
	e := newEnv(t, nil)
	admin := token(t, "root", auth.RoleAdmin)
	alice := token(t, "alice", auth.RoleCustomer)
	bob := token(t, "bob", auth.RoleCustomer)
	e.seed(admin, "TEE-1", 1999, 10)

	cart := e.must(201, e.do("POST", "/v1/carts", alice, map[string]any{"currency": "EUR"}))
	id := cart.json(t)["id"].(string)
	if cart.header.Get("ETag") != `"0"` || cart.header.Get("Orderengine-Position") == "" || cart.header.Get("Location") != "/v1/carts/"+id {
		t.Fatalf("create cart headers %v", cart.header)
	}
	// The client cannot send a price.
	r := e.must(400, e.do("POST", "/v1/carts/"+id+"/items", alice, map[string]any{"sku": "TEE-1", "quantity": 2, "unitPrice": 1}))
	if !strings.Contains(string(r.body), "unitPrice") {
		t.Fatalf("unknown field problem: %s", r.body)
	}
	r = e.must(200, e.do("POST", "/v1/carts/"+id+"/items", alice, map[string]any{"sku": "TEE-1", "quantity": 2}))
	lines := r.json(t)["lines"].([]any)
	if len(lines) != 1 {
		t.Fatalf("lines %v", lines)
	}
	if got := lines[0].(map[string]any)["unitPrice"].(map[string]any)["amount"]; got != float64(1999) {
		t.Fatalf("unit price %v, want the catalog's 1999", got)
	}
	v := r.header.Get("ETag")
	// If-Match: a stale version → 412, the current one → 200.
	e.must(412, e.do("PATCH", "/v1/carts/"+id+"/items/TEE-1", alice, map[string]any{"quantity": 3}, "If-Match", `"0"`))
	e.must(200, e.do("PATCH", "/v1/carts/"+id+"/items/TEE-1", alice, map[string]any{"quantity": 3}, "If-Match", v))
	// Another customer sees nothing.
	e.must(404, e.do("GET", "/v1/carts/"+id, bob, nil))
	e.must(404, e.do("POST", "/v1/carts/"+id+"/items", bob, map[string]any{"sku": "TEE-1", "quantity": 1}))
	got := e.must(200, e.do("GET", "/v1/carts/"+id, alice, nil))
	e.must(304, e.do("GET", "/v1/carts/"+id, alice, nil, "If-None-Match", got.header.Get("ETag")))
	// Unknown SKU → 404; bad JSON → 400; wrong content type → 415.
	e.must(404, e.do("POST", "/v1/carts/"+id+"/items", alice, map[string]any{"sku": "NOPE-1", "quantity": 1}))
	e.must(400, e.do("POST", "/v1/carts/"+id+"/items", alice, `{"sku":`))
	r = e.do("POST", "/v1/carts/"+id+"/items", alice, nil, "Content-Type", "text/plain")
	if r.status != 415 && r.status != 400 {
		t.Fatalf("text/plain body: %d", r.status)
	}
}

func TestIdempotencyKeyOverHTTP(t *testing.T) {
	e := newEnv(t, nil)
	admin := token(t, "root", auth.RoleAdmin)
	alice := token(t, "alice", auth.RoleCustomer)
	e.seed(admin, "MUG-1", 900, 5)
	body := map[string]any{"currency": "EUR"}
	first := e.must(201, e.do("POST", "/v1/carts", alice, body, "Idempotency-Key", "k-1"))
	var wg sync.WaitGroup
	results := make([]resp, 10)
	for i := range results {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			results[i] = e.do("POST", "/v1/carts", alice, body, "Idempotency-Key", "k-1")
		}(i)
	}
	wg.Wait()
	for _, r := range results {
		if r.status != 201 || !bytes.Equal(r.body, first.body) || r.header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("replay: %d %s (first %s)", r.status, r.body, first.body)
		}
		for _, h := range []string{"Cache-Control", "ETag", "Location", "Content-Type"} {
			if r.header.Get(h) != first.header.Get(h) {
				t.Fatalf("replay %s %q, first %q", h, r.header.Get(h), first.header.Get(h))
			}
		}
	}
	e.must(422, e.do("POST", "/v1/carts", alice, map[string]any{"currency": "USD"}, "Idempotency-Key", "k-1"))
	e.must(400, e.do("POST", "/v1/carts", alice, body, "Idempotency-Key", strings.Repeat("x", 256)))
	// The same key from another user is their own.
	bob := token(t, "bob", auth.RoleCustomer)
	other := e.must(201, e.do("POST", "/v1/carts", bob, body, "Idempotency-Key", "k-1"))
	if other.json(t)["id"] == first.json(t)["id"] {
		t.Fatal("two users' keys collided")
	}
}

func TestRateLimit(t *testing.T) {
	e := newEnv(t, func(c *writeapi.Config) {
		c.RateLimit = writeapi.RateLimit{PerUser: 1, UserBurst: 3, PerIP: 1000, IPBurst: 1000}
	})
	alice := token(t, "alice", auth.RoleCustomer)
	var limited resp
	for i := 0; i < 10; i++ {
		r := e.do("POST", "/v1/carts", alice, map[string]any{"currency": "EUR"})
		if r.status == 429 {
			limited = r
			break
		}
	}
	if limited.status != 429 || limited.header.Get("Retry-After") == "" {
		t.Fatalf("no 429 with Retry-After after a burst: %d %v", limited.status, limited.header)
	}
	// Another user is not limited by alice's traffic.
	e.must(201, e.do("POST", "/v1/carts", token(t, "bob", auth.RoleCustomer), map[string]any{"currency": "EUR"}))
}

func TestErrorsAreProblems(t *testing.T) {
	e := newEnv(t, nil)
	admin := token(t, "root", auth.RoleAdmin)
	r := e.must(422, e.do("POST", "/v1/products", admin, map[string]any{"sku": "A-1", "name": "", "price": map[string]any{"amount": 100, "currency": "EUR"}}))
	m := r.json(t)
	if !strings.HasSuffix(m["type"].(string), "/validation") || m["status"] != float64(422) {
		t.Fatalf("problem %v", m)
	}
	e.seed(admin, "A-2", 100, 0)
	r = e.must(409, e.do("POST", "/v1/products", admin, map[string]any{"sku": "A-2", "name": "dup", "price": map[string]any{"amount": 100, "currency": "EUR"}}))
	if !strings.HasSuffix(r.json(t)["type"].(string), "/already-exists") {
		t.Fatalf("duplicate SKU problem %s", r.body)
	}
	e.must(404, e.do("GET", "/v1/nope", admin, nil))
	e.must(413, e.do("POST", "/v1/products", admin, `{"name":"`+strings.Repeat("x", 70<<10)+`"}`))
}
