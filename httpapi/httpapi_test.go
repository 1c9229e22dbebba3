package httpapi_test

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/orderengine/orderengine/httpapi"
	"github.com/orderengine/orderengine/problem"
)

func decodeProblem(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != problem.ContentType {
		t.Fatalf("content type %q", ct)
	}
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestRouteAnswers404And405WithAllowAndInstance(t *testing.T) {
	r := chi.NewRouter()
	ok := func(w http.ResponseWriter, _ *http.Request) {}
	r.Get("/v1/things/{id}", ok)
	r.Patch("/v1/things/{id}", ok)
	r.Post("/v1/things", ok)
	httpapi.Route(r)

	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest("DELETE", "/v1/things/7", nil))
	if rec.Code != 405 || rec.Header().Get("Allow") != "GET, PATCH" {
		t.Fatalf("405: status %d, Allow %q", rec.Code, rec.Header().Get("Allow"))
	}
	if m := decodeProblem(t, rec); m["instance"] != "/v1/things/7" || m["type"] != problem.TypeBase+"method-not-allowed" {
		t.Fatalf("405 body %v", m)
	}
	rec = httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/nothing", nil))
	if m := decodeProblem(t, rec); rec.Code != 404 || m["instance"] != "/v1/nothing" {
		t.Fatalf("404: status %d body %v", rec.Code, m)
	}
}

type inner struct {
	Token string `json:"token"`
	Note  string `json:"note,omitempty"`
}

type body struct {
	ID      string     `json:"id"`
	Count   int64      `json:"count"`
	Comment string     `json:"comment,omitempty"`
	Payment inner      `json:"payment"`
	Opt     *inner     `json:"opt,omitempty"`
	When    *time.Time `json:"when,omitempty"`
	Picky   *picky     `json:"picky,omitempty"`
}

// picky refuses every value, as domain.Money refuses an unknown currency.
type picky struct{}

func (*picky) UnmarshalJSON([]byte) error { return errors.New("picky refuses") }

func TestDecodeStrict(t *testing.T) {
	for _, c := range []struct {
		in     string
		status int
		detail string
	}{
		{`{}`, 422, "missing required fields: count, id, payment"},
		{`null`, 422, "missing required fields: count, id, payment"},
		{` null `, 422, "missing required fields: count, id, payment"},
		{`{"id":"a","count":1,"payment":{"token":"t"},"when":"yesterday"}`, 422, "yesterday"},
		{`{"id":"a","count":1,"payment":{"token":"t"},"picky":"no"}`, 422, "picky refuses"},
		{`{"id":"a","count":1`, 400, "invalid JSON"},
		{`{"id":"a","count":0,"payment":{}}`, 422, "missing required field: payment.token"},
		{`{"id":"a","count":1,"payment":{"token":"t"},"opt":{}}`, 422, "missing required field: opt.token"},
		{`{"id":null,"count":1,"payment":{"token":"t"}}`, 422, "missing required field: id"},
		{`{"id":"a","count":"x","payment":{"token":"t"}}`, 400, `field "count" must be an integer`},
		{`{"id":"a","count":1,"payment":{"token":"t"},"price":1}`, 400, `unknown field "price" is not accepted`},
		{`[]`, 400, "the body must be a JSON object"},
		{``, 400, "the request body is empty"},
		{`{"id":"a","count":1,"payment":{"token":"t"}} {}`, 400, "more than one JSON value"},
	} {
		var b body
		err := httpapi.DecodeStrict([]byte(c.in), &b, false)
		var re *httpapi.RequestError
		if !errors.As(err, &re) || re.Status != c.status || !strings.Contains(re.Detail, c.detail) {
			t.Errorf("%s: %v, want %d %q", c.in, err, c.status, c.detail)
		}
	}
	var b body
	if err := httpapi.DecodeStrict([]byte(`{"id":"a","count":0,"payment":{"token":"t"}}`), &b, false); err != nil || b.Payment.Token != "t" {
		t.Fatalf("valid body: %v %+v", err, b)
	}
	if err := httpapi.DecodeStrict(nil, &b, true); err != nil {
		t.Fatalf("optional empty body: %v", err)
	}
}

func TestFailMapsKnownErrorsAndHidesUnknown(t *testing.T) {
	errKnown := errors.New("known")
	m := func(err error) (problem.Details, bool) {
		if errors.Is(err, errKnown) {
			return problem.New(409, "known", "Known", err.Error()), true
		}
		return problem.Details{}, false
	}
	rec := httptest.NewRecorder()
	httpapi.Fail(rec, httptest.NewRequest("POST", "/v1/x", nil), slog.New(slog.DiscardHandler), errors.Join(errKnown), m)
	if p := decodeProblem(t, rec); rec.Code != 409 || p["instance"] != "/v1/x" {
		t.Fatalf("known: %d %v", rec.Code, p)
	}
	rec = httptest.NewRecorder()
	httpapi.Fail(rec, httptest.NewRequest("POST", "/v1/x", nil), slog.New(slog.DiscardHandler), errors.New("db password wrong"), m)
	if p := decodeProblem(t, rec); rec.Code != 500 || strings.Contains(rec.Body.String(), "password") || p["instance"] != "/v1/x" {
		t.Fatalf("unknown: %d %s", rec.Code, rec.Body)
	}
}

type dup struct{ A string }

func TestSchemasFollowEncodingJSON(t *testing.T) {
	type Money struct {
		Amount   int64  `json:"amount"`
		Currency string `json:"currency"`
	}
	type Thing struct {
		ID    string            `json:"id"`
		Tags  []string          `json:"tags"`
		Price *Money            `json:"price,omitempty"`
		Attrs map[string]string `json:"attrs,omitempty"`
		Raw   json.RawMessage   `json:"raw"`
		skip  int
		Money
	}
	_ = Thing{}.skip
	s := httpapi.NewSchemas()
	if ref := s.Ref(Thing{}); ref["$ref"] != "#/components/schemas/Thing" {
		t.Fatalf("ref %v", ref)
	}
	got, _ := json.Marshal(s.Components()["Thing"])
	want := `{"additionalProperties":false,"properties":{"amount":{"format":"int64","type":"integer"},"attrs":{"additionalProperties":{"type":"string"},"type":"object"},"currency":{"type":"string"},"id":{"type":"string"},"price":{"$ref":"#/components/schemas/Money"},"raw":{"description":"JSON as stored"},"tags":{"anyOf":[{"items":{"type":"string"},"type":"array"},{"type":"null"}]}},"required":["id","tags","raw","amount","currency"],"type":"object"}`
	if string(got) != want {
		t.Fatalf("schema\n got %s\nwant %s", got, want)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("two types named dup: no panic")
		}
	}()
	type other struct{ B string }
	s.Name(other{}, "dup")
	s.Ref(dup{})
}
