package readapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/orderengine/orderengine/httpapi"
	"github.com/orderengine/orderengine/readapi"
	"github.com/orderengine/orderengine/writeapi"
)

func TestOpenAPIMatchesRouter(t *testing.T) {
	s := newStack(t, nil)
	var routes []string
	err := chi.Walk(s.api.Router(), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		routes = append(routes, method+" "+route)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The document survives JSON and is 3.1.
	sch := httpapi.NewSchemas()
	b, err := json.Marshal(httpapi.Document(map[string]any{"title": "read API", "version": "1"}, nil, nil,
		httpapi.Paths(readapi.OpenAPIOps(sch), sch), sch, nil))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI    string                               `json:"openapi"`
		Paths      map[string]map[string]map[string]any `json:"paths"`
		Components struct {
			Schemas map[string]any `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi %q", doc.OpenAPI)
	}
	var documented []string
	for path, ops := range doc.Paths {
		for m, op := range ops {
			documented = append(documented, strings.ToUpper(m)+" "+path)
			// Every schema referenced is defined.
			raw, _ := json.Marshal(op)
			for _, part := range strings.Split(string(raw), `"$ref":"#/components/schemas/`)[1:] {
				name := part[:strings.IndexByte(part, '"')]
				if _, ok := doc.Components.Schemas[name]; !ok {
					t.Errorf("%s %s references undefined schema %s", m, path, name)
				}
			}
		}
	}
	sort.Strings(routes)
	sort.Strings(documented)
	if strings.Join(routes, "\n") != strings.Join(documented, "\n") {
		t.Fatalf("router and OpenAPI document differ\nrouter:\n%s\n\ndocument:\n%s", strings.Join(routes, "\n"), strings.Join(documented, "\n"))
	}
	if _, ok := doc.Paths["/v1/openapi.json"]; ok {
		t.Fatal("the read API must leave /v1/openapi.json to the merged document")
	}
	// Merged with the command API, no two Go types share a schema name (Schemas panics).
	merged := writeapi.Document(readapi.OpenAPIOps)
	if len(merged["paths"].(map[string]any)) <= len(doc.Paths) {
		t.Fatal("the merged document lacks the command API")
	}
}

// TestDocumentedQueryParameters: every documented parameter is accepted with its example
// value, and anything else is refused — the allow-lists are the document.
func TestDocumentedQueryParameters(t *testing.T) {
	s := newStack(t, nil)
	sh := s.seedShop()
	s.search.setPosition(sh.head) // minPosition=1 needs no wait
	for _, op := range readapi.Operations() {
		path := fill(op.Path, sh)
		who := "admin"
		if len(op.Roles) > 0 && !slices.Contains(op.Roles, "admin") {
			who = op.Roles[0]
		}
		for _, name := range op.Query {
			ex := op.Examples[name]
			if ex == "" {
				continue
			}
			q := url.Values{name: {ex}}
			for _, req := range op.Required {
				q.Set(req, op.Examples[req])
			}
			r := s.do(op.Method, path+"?"+q.Encode(), who)
			if r.status == 400 {
				t.Errorf("%s %s?%s=%s: 400 %s", op.Method, op.Path, name, ex, r.body)
			}
		}
		r := s.must(400, s.do(op.Method, path+"?bogus=1"+required(op), who))
		if !strings.Contains(string(r.body), `\"bogus\"`) {
			t.Errorf("%s %s?bogus=1: %s", op.Method, op.Path, r.body)
		}
	}
}

// required is the query string of op's required parameters ("&…").
func required(op readapi.Operation) string {
	q := url.Values{}
	for _, req := range op.Required {
		q.Set(req, op.Examples[req])
	}
	if len(q) == 0 {
		return ""
	}
	return "&" + q.Encode()
}

func fill(path string, sh shop) string {
	return strings.NewReplacer("{id}", sh.aliceOrder, "{rid}", sh.aliceReturn, "{sku}", "TEE-1", "{name}", "catalog").Replace(
		strings.Replace(path, "/v1/products/{id}", "/v1/products/p-tee", 1))
}

// TestAuthorizationMatrix: every route × role, plus the object-level checks.
func TestAuthorizationMatrix(t *testing.T) {
	s := newStack(t, nil)
	sh := s.seedShop()
	role := map[string]string{"alice": "customer", "bob": "customer", "customer": "customer", "admin": "admin", "auditor": "auditor", "analyst": "analyst"}
	for _, op := range readapi.Operations() {
		path := fill(op.Path, sh) + strings.Replace(required(op), "&", "?", 1)
		for who := range s.tokens {
			r := s.do(op.Method, path, who)
			allowed := len(op.Roles) == 0 || slices.Contains(op.Roles, role[who])
			want := http.StatusOK
			switch {
			case len(op.Roles) == 0:
			case who == "none":
				want = http.StatusUnauthorized
			case !allowed:
				want = http.StatusForbidden
			case (who == "customer" || who == "bob") && (strings.HasPrefix(op.Path, "/v1/orders/{id}") || strings.HasPrefix(op.Path, "/v1/returns/{rid}")):
				want = http.StatusNotFound // alice's order
			case op.Method == "POST":
				want = http.StatusAccepted
				if r.status == http.StatusConflict { // the other role's rebuild is still running
					want = http.StatusConflict
				}
			}
			if r.status != want {
				t.Errorf("%s %s as %s: %d, want %d: %.200s", op.Method, op.Path, who, r.status, want, r.body)
			}
			if r.status >= 400 && r.header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("%s %s as %s: %d with content type %q", op.Method, op.Path, who, r.status, r.header.Get("Content-Type"))
			}
		}
	}
	// Bob's and carol's lists hold only their own orders.
	var page struct {
		Items []struct{ ID, CustomerID string }
	}
	s.must(200, s.do("GET", "/v1/orders", "bob")).decode(t, &page)
	if len(page.Items) != 1 || page.Items[0].ID != sh.bobOrder {
		t.Fatalf("bob's orders: %+v", page.Items)
	}
	s.must(200, s.do("GET", "/v1/orders", "customer")).decode(t, &page)
	if len(page.Items) != 0 {
		t.Fatalf("carol's orders: %+v", page.Items)
	}
	// customerId naming someone else is forbidden to a customer, harmless for their own.
	s.must(403, s.do("GET", "/v1/orders?customerId=bob", "alice"))
	s.must(200, s.do("GET", "/v1/orders?customerId=alice", "alice")).decode(t, &page)
	if len(page.Items) != 2 {
		t.Fatalf("alice's orders: %+v", page.Items)
	}
	s.must(200, s.do("GET", "/v1/orders?customerId=bob", "auditor")).decode(t, &page)
	if len(page.Items) != 1 || page.Items[0].CustomerID != "bob" {
		t.Fatalf("auditor's view of bob's orders: %+v", page.Items)
	}
	// Another customer's order is absent in every view, with the same answer as a
	// missing order.
	for _, suffix := range []string{"", "?version=0", "?asOf=2100-01-01T00:00:00Z", "/events"} {
		a := s.must(404, s.do("GET", "/v1/orders/"+sh.aliceOrder+suffix, "bob")).json(t)
		b := s.must(404, s.do("GET", "/v1/orders/no-such-order"+suffix, "admin")).json(t)
		if a["type"] != b["type"] || a["title"] != b["title"] {
			t.Errorf("%s: someone else's order %v differs from a missing one %v", suffix, a, b)
		}
	}
	// An invalid token is a 401 even where a role would not be needed beyond it.
	s.tokens["forged"] = s.tokens["admin"] + "x"
	s.must(401, s.do("GET", "/v1/orders", "forged"))
	// Public routes ignore a bad token.
	s.must(200, s.do("GET", "/v1/products", "forged"))
}

// TestRegisterBesideOtherRoutes: the routes mount on a router that already has other
// methods (with their own middleware) on the same paths, as when merged with the
// command API.
func TestRegisterBesideOtherRoutes(t *testing.T) {
	s := newStack(t, nil)
	s.seedShop()
	r := chi.NewRouter()
	deny := func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	}
	r.With(deny).Patch("/v1/products/{id}", func(http.ResponseWriter, *http.Request) {})
	r.With(deny).Post("/v1/inventory/{sku}/receipts", func(http.ResponseWriter, *http.Request) {})
	s.api.Register(r)
	srv := httptest.NewServer(r)
	defer srv.Close()
	for _, c := range []struct {
		method, path string
		want         int
	}{{"GET", "/v1/products/p-tee", 200}, {"PATCH", "/v1/products/p-tee", http.StatusTeapot}, {"GET", "/v1/inventory/TEE-1", 401}, {"POST", "/v1/inventory/TEE-1/receipts", http.StatusTeapot}} {
		req, _ := http.NewRequest(c.method, srv.URL+c.path, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != c.want {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, res.StatusCode, c.want)
		}
	}
}
