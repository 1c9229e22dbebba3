package webhooks_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/orderengine/orderengine/auth"
	"github.com/orderengine/orderengine/idempotency"
	"github.com/orderengine/orderengine/webhooks"
)

var jwtSecret = []byte(strings.Repeat("k", 32))

type apiEnv struct {
	*env
	api *webhooks.API
	srv *httptest.Server
}

func newAPIEnv(t *testing.T, sec webhooks.Security) *apiEnv {
	e := newEnv(t)
	eps, err := webhooks.NewEndpoints(webhooks.EndpointsConfig{Store: e.store, SecretKey: testKey, Security: sec, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	e.eps = eps
	e.cfg.Endpoints = eps
	ver, err := auth.NewVerifier(auth.Config{HS256Secret: jwtSecret})
	if err != nil {
		t.Fatal(err)
	}
	api, err := webhooks.NewAPI(webhooks.APIConfig{Endpoints: eps, Verifier: ver, Idempotency: idempotency.New(e.store, idempotency.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.Router())
	t.Cleanup(srv.Close)
	return &apiEnv{env: e, api: api, srv: srv}
}

func tok(t *testing.T, sub string, role auth.Role) string {
	s, err := auth.Signer{Secret: jwtSecret}.Sign(sub, []auth.Role{role}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(a.body, &m); err != nil {
		t.Fatalf("%d %s: %v", a.status, a.body, err)
	}
	return m
}

func (e *apiEnv) do(method, path, token string, body any, hdr ...string) answer {
	e.t.Helper()
	var rd io.Reader
	if s, ok := body.(string); ok {
		rd = strings.NewReader(s)
	} else if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, b}
}

func (e *apiEnv) must(status int, a answer) answer {
	e.t.Helper()
	if a.status != status {
		e.t.Fatalf("status %d, want %d: %s", a.status, status, a.body)
	}
	return a
}

func TestOpenAPIMatchesRouter(t *testing.T) {
	e := newAPIEnv(t, webhooks.Security{})
	var routes, documented []string
	if err := chi.Walk(e.api.Router(), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		routes = append(routes, method+" "+route)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for path, ops := range webhooks.OpenAPIPaths() {
		for m := range ops.(map[string]any) {
			documented = append(documented, strings.ToUpper(m)+" "+path)
		}
	}
	sort.Strings(routes)
	sort.Strings(documented)
	if strings.Join(routes, "\n") != strings.Join(documented, "\n") {
		t.Fatalf("router and OpenAPI fragment differ\nrouter:\n%s\n\ndocument:\n%s", strings.Join(routes, "\n"), strings.Join(documented, "\n"))
	}
	schemas := webhooks.OpenAPISchemas()
	b, _ := json.Marshal(webhooks.OpenAPIPaths())
	for _, m := range regexpRefs.FindAllStringSubmatch(string(b), -1) {
		if _, ok := schemas[m[1]]; !ok && m[1] != "Problem" {
			t.Errorf("schema %s is referenced but not defined", m[1])
		}
	}
}

// TestAdminAPI walks the admin routes: auth, strict input, create with a secret shown
// once, idempotent create, patch, rotate, ping, deliveries, retry, replay, delete.
func TestAdminAPI(t *testing.T) {
	e := newAPIEnv(t, webhooks.Security{AllowHTTP: true, AllowPrivate: true})
	admin := tok(t, "root", auth.RoleAdmin)
	rc := newReceiver(t)

	e.must(401, e.do("GET", "/v1/webhook-endpoints", "", nil))
	e.must(403, e.do("GET", "/v1/webhook-endpoints", tok(t, "alice", auth.RoleCustomer), nil))
	e.must(400, e.do("POST", "/v1/webhook-endpoints", admin, map[string]any{"url": rc.srv.URL, "secret": "mine"}))
	e.must(422, e.do("POST", "/v1/webhook-endpoints", admin, map[string]any{"url": rc.srv.URL, "eventTypes": []string{"order.nope"}}))
	e.must(422, e.do("POST", "/v1/webhook-endpoints", admin, map[string]any{"url": "ftp://x"}))

	created := e.must(201, e.do("POST", "/v1/webhook-endpoints", admin,
		map[string]any{"url": rc.srv.URL + "/hook", "eventTypes": []string{"order.placed", "order.confirmed"}, "description": "erp"},
		"Idempotency-Key", "create-1")).json(t)
	id, secret := created["id"].(string), created["secret"].(string)
	if !strings.HasPrefix(secret, "whsec_") || created["enabled"] != true {
		t.Fatalf("created %v", created)
	}
	rc.mu.Lock()
	rc.secret = secret
	rc.mu.Unlock()
	// The same create again: the endpoint, without its secret; another body: 422.
	again := e.must(200, e.do("POST", "/v1/webhook-endpoints", admin,
		map[string]any{"url": rc.srv.URL + "/hook", "eventTypes": []string{"order.placed", "order.confirmed"}, "description": "erp"},
		"Idempotency-Key", "create-1"))
	if m := again.json(t); m["id"] != id || m["secret"] != nil || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replayed create %s", again.body)
	}
	e.must(422, e.do("POST", "/v1/webhook-endpoints", admin, map[string]any{"url": rc.srv.URL + "/other"}, "Idempotency-Key", "create-1"))

	got := e.must(200, e.do("GET", "/v1/webhook-endpoints/"+id, admin, nil))
	if bytes.Contains(got.body, []byte("whsec_")) || bytes.Contains(got.body, []byte(secret[6:])) {
		t.Fatalf("GET shows the secret: %s", got.body)
	}
	list := e.must(200, e.do("GET", "/v1/webhook-endpoints", admin, nil)).json(t)
	if items := list["items"].([]any); len(items) != 1 {
		t.Fatalf("list %v", list)
	}
	e.must(404, e.do("GET", "/v1/webhook-endpoints/nope", admin, nil))
	p := e.must(200, e.do("PATCH", "/v1/webhook-endpoints/"+id, admin, map[string]any{"eventTypes": []string{"order.placed"}, "description": "erp v2"})).json(t)
	if p["description"] != "erp v2" || len(p["eventTypes"].([]any)) != 1 {
		t.Fatalf("patched %v", p)
	}
	e.must(400, e.do("PATCH", "/v1/webhook-endpoints/"+id, admin, map[string]any{"status": "x"}))

	// Ping: signed with the secret shown at creation.
	ping := e.must(200, e.do("POST", "/v1/webhook-endpoints/"+id+"/test", admin, nil)).json(t)
	if ping["ok"] != true || rc.bad != 0 || len(rc.received()) != 1 || rc.received()[0].ev.Type != "ping" {
		t.Fatalf("ping %v (bad %d)", ping, rc.bad)
	}

	// Deliveries, retry and replay, with the worker running.
	e.start(e.cfg)
	pos := e.orderStep("api", 0)
	e.orderStep("api", 1) // payment.authorized: not subscribed
	waitFor(t, "delivery", 5*time.Second, func() bool { return len(rc.received()) == 2 })
	var page map[string]any
	waitFor(t, "delivery log", 5*time.Second, func() bool {
		page = e.must(200, e.do("GET", "/v1/webhook-endpoints/"+id+"/deliveries?limit=10", admin, nil)).json(t)
		return len(page["items"].([]any)) == 1
	})
	d := page["items"].([]any)[0].(map[string]any)
	at := d["attempts"].([]any)[0].(map[string]any)
	if d["status"] != "delivered" || d["eventType"] != "order.placed" || at["statusCode"] != 204.0 || at["latencyMs"] == nil {
		t.Fatalf("delivery %v", d)
	}
	e.must(400, e.do("GET", "/v1/webhook-endpoints/"+id+"/deliveries?limit=0", admin, nil))
	e.must(400, e.do("GET", "/v1/webhook-endpoints/"+id+"/deliveries?foo=1", admin, nil))
	did := d["id"].(string)
	e.must(202, e.do("POST", "/v1/webhook-deliveries/"+did+"/retry", admin, nil))
	waitFor(t, "retried delivery", 5*time.Second, func() bool { return len(rc.received()) == 3 })
	if r := rc.received()[2]; r.id != did {
		t.Fatalf("retry sent %s, want %s", r.id, did)
	}
	e.must(404, e.do("POST", "/v1/webhook-deliveries/msg_nope/retry", admin, nil))

	e.must(422, e.do("POST", "/v1/webhook-endpoints/"+id+"/replay", admin, map[string]any{}))
	e.must(422, e.do("POST", "/v1/webhook-endpoints/"+id+"/replay", admin, map[string]any{"fromPosition": 1, "fromTime": time.Now()}))
	rep := e.must(202, e.do("POST", "/v1/webhook-endpoints/"+id+"/replay", admin, map[string]any{"fromPosition": pos})).json(t)
	if rep["fromPosition"] != float64(pos) {
		t.Fatalf("replay %v", rep)
	}
	waitFor(t, "replayed delivery", 5*time.Second, func() bool { return len(rc.received()) == 4 })
	e.must(202, e.do("POST", "/v1/webhook-endpoints/"+id+"/replay", admin, map[string]any{"fromTime": time.Now().Add(-time.Hour)}))
	waitFor(t, "replay by time", 5*time.Second, func() bool { return len(rc.received()) == 5 })
	if rc.bad != 0 {
		t.Fatalf("%d bad signatures", rc.bad)
	}

	// Rotation: a new secret, shown once.
	rot := e.must(200, e.do("POST", "/v1/webhook-endpoints/"+id+"/rotate-secret", admin, nil)).json(t)
	if s, _ := rot["secret"].(string); !strings.HasPrefix(s, "whsec_") || s == secret || rot["previousSecretExpiresAt"] == nil {
		t.Fatalf("rotate %v", rot)
	}
	e.must(204, e.do("DELETE", "/v1/webhook-endpoints/"+id, admin, nil))
	e.must(404, e.do("GET", "/v1/webhook-endpoints/"+id, admin, nil))

	doc := e.must(200, e.do("GET", "/v1/asyncapi.json", "", nil)).json(t)
	if doc["asyncapi"] != "3.0.0" {
		t.Fatalf("asyncapi %v", doc["asyncapi"])
	}
}

// TestCreateRefusesPrivateDestinations: without the allow options, http and private or
// loopback URLs are refused with a problem document and nothing is stored.
func TestCreateRefusesPrivateDestinations(t *testing.T) {
	e := newAPIEnv(t, webhooks.Security{})
	admin := tok(t, "root", auth.RoleAdmin)
	for _, u := range []string{"http://example.com/hook", "https://127.0.0.1/hook", "https://10.1.2.3/hook", "https://169.254.169.254/latest",
		"https://[::1]/hook", "https://localhost/hook", "https://[fd00::1]/x", "https://100.64.0.1/x", "https://[::ffff:127.0.0.1]/x"} {
		a := e.must(422, e.do("POST", "/v1/webhook-endpoints", admin, map[string]any{"url": u}))
		if !strings.Contains(string(a.body), "forbidden-destination") || a.header.Get("Content-Type") != "application/problem+json" {
			t.Fatalf("%s: %s", u, a.body)
		}
	}
	e.must(201, e.do("POST", "/v1/webhook-endpoints", admin, map[string]any{"url": "https://hooks.example.com/orders"}))
	list := e.must(200, e.do("GET", "/v1/webhook-endpoints", admin, nil)).json(t)
	if n := len(list["items"].([]any)); n != 1 {
		t.Fatalf("%d endpoints stored", n)
	}
}

var regexpRefs = regexp.MustCompile(`#/components/schemas/([A-Za-z]+)`)
