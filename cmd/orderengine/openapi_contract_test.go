package main

import (
	"context"
	"os"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
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
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(r.body)
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
