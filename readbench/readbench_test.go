package readbench

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestRunCountsAndFailures runs against a server that has no search and fails order
// history without a token: search is left out, order history fails, the rest pass.
func TestRunCountsAndFailures(t *testing.T) {
	var products atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/v1/search":
			w.WriteHeader(http.StatusNotImplemented)
		case r.URL.Path == "/v1/orders" && r.Header.Get("Authorization") != "Bearer good":
			w.WriteHeader(http.StatusUnauthorized)
		case strings.HasPrefix(r.URL.Path, "/v1/products/p"):
			products.Add(1)
		}
	}))
	defer srv.Close()
	cfg := Config{BaseURL: srv.URL, Concurrency: 4, Duration: 200 * time.Millisecond,
		ProductIDs: []string{"p1", "p2"}, Categories: []string{"tees"}, CustomerTokens: []string{"bad"}, Tier: "test"}
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Result{}
	for _, r := range res {
		got[r.Workload] = r
	}
	if _, ok := got["search"]; ok || len(res) != 4 {
		t.Fatalf("search should be left out: %+v", res)
	}
	if !got["catalog_list"].OK || !got["product_detail"].OK || got["order_history"].OK || got["combined"].OK || AllOK(res) {
		t.Fatalf("results %+v", res)
	}
	if int64(got["product_detail"].Requests) != products.Load() || got["order_history"].Errors != got["order_history"].Requests {
		t.Fatalf("counts %+v (server saw %d product requests)", res, products.Load())
	}
	var out bytes.Buffer
	PrintResultLines(&out, res)
	if strings.Count(out.String(), "RESULT {") != 4 {
		t.Fatalf("RESULT lines %q", out.String())
	}
	if err := (Config{}).Validate(); err == nil {
		t.Fatal("empty config validated")
	}
}
