package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/orderengine/orderengine/eventstore/sqlite"
	"github.com/orderengine/orderengine/projections"
	"github.com/orderengine/orderengine/telemetry"
)

// TestSlowBodyIsCutOff: a client that sends its body one byte at a time is disconnected
// by the read timeout instead of holding the connection.
func TestSlowBodyIsCutOff(t *testing.T) {
	readErr := make(chan error, 1)
	h := httpLimits{readHeader: time.Second, read: 500 * time.Millisecond, write: time.Second, idle: time.Second, maxHeaderBytes: 4096}
	srv := h.server(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		readErr <- err
	}), slog.New(slog.DiscardHandler))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()

	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	fmt.Fprintf(conn, "POST /v1/carts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n")
	for i := 0; i < 100; i++ {
		if _, err := conn.Write([]byte(" ")); err != nil {
			break // the server hung up
		}
		time.Sleep(100 * time.Millisecond)
		if time.Since(start) > 5*time.Second {
			break
		}
	}
	select {
	case err := <-readErr:
		if err == nil {
			t.Fatal("the slow body was read to the end")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the handler was still reading a slow body after 5 s")
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("cut off after %s, want about the 500ms read timeout", took)
	}
}

// TestMadeUpMethodsAddAtMostOneSeries: 1,000 requests with made-up methods share the
// "other" method label; 405 answers name the allowed methods.
func TestMadeUpMethodsAddAtMostOneSeries(t *testing.T) {
	store, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "events.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	m := newMetrics(store, func() []projections.Status { return nil })
	h := newRouter(http.NotFoundHandler(), m, func(r chi.Router) {
		r.Get("/v1/things/{id}", func(w http.ResponseWriter, _ *http.Request) {})
		r.Post("/v1/things/{id}", func(w http.ResponseWriter, _ *http.Request) {})
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	series := func() int {
		mfs, err := m.reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "orderengine_http_request_duration_seconds" {
				return len(mf.GetMetric())
			}
		}
		return 0
	}
	do := func(method, path string) *http.Response {
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res
	}
	do("GET", "/v1/things/1")
	before := series()
	for i := range 1000 {
		res := do(fmt.Sprintf("BREW%d", i), "/v1/things/1")
		if res.StatusCode != http.StatusMethodNotAllowed {
			t.Fatalf("made-up method: %d", res.StatusCode)
		}
		if i == 0 && res.Header.Get("Allow") != "GET, HEAD, POST" && res.Header.Get("Allow") != "GET, POST" {
			t.Fatalf("Allow: %q", res.Header.Get("Allow"))
		}
	}
	if added := series() - before; added > 1 {
		t.Fatalf("1,000 made-up methods added %d series", added)
	}
	res := do("DELETE", "/v1/things/1")
	if allow := res.Header.Get("Allow"); !strings.Contains(allow, "GET") || !strings.Contains(allow, "POST") {
		t.Fatalf("405 without Allow: %q", allow)
	}
}

func TestServeRejectsBadOperationsFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--trusted-proxies", "proxy.local"},
		{"--rate-limit-ip", "-1"},
		{"--rate-limit-user", "fast"},
		{"--http-read-timeout", "0s"},
		{"--http-max-header-bytes", "10"},
		{"--unready-after", "-1s"},
	} {
		err := run(context.Background(), append([]string{"serve", "--addr", "127.0.0.1:0"}, args...), env("ORDERENGINE_DATA_DIR", t.TempDir()), io.Discard, io.Discard)
		var u usageError
		if !errors.As(err, &u) {
			t.Errorf("%v: got %v, want a usage error", args, err)
		}
	}
	err := run(context.Background(), []string{"serve"}, env("ORDERENGINE_DATA_DIR", t.TempDir(), "ORDERENGINE_TRUSTED_PROXIES", "10.0.0.0/33"), io.Discard, io.Discard)
	var u usageError
	if !errors.As(err, &u) || !strings.Contains(err.Error(), "trusted") {
		t.Fatalf("bad ORDERENGINE_TRUSTED_PROXIES: %v", err)
	}
}

// TestRequestSpanAndLogLine: with tracing on, a request gets a server span named after
// its route (continuing the caller's traceparent), and one log line carrying its trace id.
func TestRequestSpanAndLogLine(t *testing.T) {
	store, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "events.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	var logs syncBuffer
	m := newMetrics(store, func() []projections.Status { return nil })
	m.log, m.tracing = slog.New(slog.NewJSONHandler(&logs, nil)), telemetry.WithProvider(tp)
	h := newRouter(http.NotFoundHandler(), m, func(r chi.Router) {
		r.Get("/v1/things/{id}", func(w http.ResponseWriter, _ *http.Request) {})
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/v1/things/42", nil)
	const caller = "4bf92f3577b34da6a3ce929d0e0e4736"
	req.Header.Set("traceparent", "00-"+caller+"-00f067aa0ba902b7-01")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	spans := exp.GetSpans()
	if len(spans) != 1 || spans[0].Name != "GET /v1/things/{id}" || spans[0].SpanContext.TraceID().String() != caller {
		t.Fatalf("spans: %+v", spans)
	}
	var line map[string]any
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &line) != nil {
		t.Fatalf("want one log line, got %q", lines)
	}
	if line["trace_id"] != caller || line["route"] != "/v1/things/{id}" || line["status"] != float64(200) || line["msg"] != "request" {
		t.Fatalf("log line: %v", line)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
