package main

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/orderengine/orderengine/auth"
	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/telemetry"
	"github.com/orderengine/orderengine/writeapi"
)

// TestE2EOneCheckoutOneTrace: with tracing on, one checkout is one trace: the HTTP
// request's span (continuing the client's traceparent), its commands and appends, the
// forwarder's publication, the saga's start after the bus hop and every step (driven in
// the background, joined through the events' metadata), and the gateway call. The hash
// chains still verify with the trace context in the metadata, and /metrics shows the
// business figures.
func TestE2EOneCheckoutOneTrace(t *testing.T) {
	store := tiers(t)[0].open(t)
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	c := Config{DataDir: t.TempDir(), Events: "sqlite:", MaxEventSize: 1 << 20, LogLevel: "error"}
	f := appFlags{
		auth:           authFlags{secret: e2eSecret, issuer: auth.DefaultIssuer, audience: auth.DefaultAudience},
		bus:            "memory",
		reservationTTL: 15 * time.Minute,
		webhookSecret:  "webhook-secret",
		orderWait:      30 * time.Second,
		store:          store,
		rateLimit:      writeapi.RateLimit{PerUser: 10000, UserBurst: 10000, PerIP: 100000, IPBurst: 100000},
		tracing:        telemetry.WithProvider(tp),
	}
	a, err := newApp(context.Background(), c, f, newLogger(c, io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.run(ctx) }()
	srv := httptest.NewServer(a.handler)
	defer func() {
		srv.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
		a.close()
	}()
	e := &e2e{t: t, app: a, srv: srv}
	admin := e.token("root", auth.RoleAdmin)
	alice := e.token("alice", auth.RoleCustomer)
	e.product(admin, "TEE-1", 1999, 5)
	cart := e.cart(alice, map[string]int64{"TEE-1": 1})

	const trace = "4bf92f3577b34da6a3ce929d0e0e4736"
	r := e.placeOrder(alice, cart, "tok_visa", "traceparent", "00-"+trace+"-00f067aa0ba902b7-01")
	if r.status != 201 && r.status != 202 {
		t.Fatalf("place order: %d %s", r.status, short(r.body))
	}
	if r = e.awaitCheckout(alice, r.field("order", "id")); r.field("outcome") != "confirmed" {
		t.Fatalf("checkout: %s", short(r.body))
	}

	want := []string{"POST /v1/orders", "command order", "eventstore.append", "bus.forward orderengine-order",
		"checkout.start", "checkout.reserve_stock", "command inventory", "checkout.authorize_payment",
		"payment.authorize", "checkout.confirm", "command checkout"}
	var inTrace map[string]int
	deadline := time.Now().Add(10 * time.Second)
	for {
		inTrace = map[string]int{}
		for _, s := range exp.GetSpans() {
			if s.SpanContext.TraceID().String() == trace {
				inTrace[s.Name]++
			}
		}
		var missing []string
		for _, n := range want {
			if inTrace[n] == 0 {
				missing = append(missing, n)
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("missing from the checkout's trace: %v (there: %v)", missing, inTrace)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Nothing of this checkout started a trace of its own.
	for _, s := range exp.GetSpans() {
		if strings.HasPrefix(s.Name, "checkout.") && s.SpanContext.TraceID().String() != trace {
			t.Errorf("%s in trace %s, not the checkout's", s.Name, s.SpanContext.TraceID())
		}
	}

	if rep, err := eventstore.VerifyChains(context.Background(), store, "", nil); err != nil || rep.Broken != nil {
		t.Fatalf("audit verify: %+v %v", rep, err)
	}

	// Steps end (and are observed) just after the state they wrote becomes visible.
	want = []string{
		"orderengine_checkouts_started_total 1",
		`orderengine_checkouts_finished_total{outcome="confirmed",reason="none"} 1`,
		`orderengine_payments_total{outcome="authorized"} 1`,
		`orderengine_checkout_step_duration_seconds_count{step="confirm"} 1`,
		`orderengine_checkout_duration_seconds_count{outcome="confirmed"} 1`,
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		m := e.do("GET", "/metrics", "", nil)
		var missing []string
		for _, line := range want {
			if !strings.Contains(string(m.body), line+"\n") {
				missing = append(missing, line)
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics lacks %q:\n%s", missing, grepLines(string(m.body), "orderengine_checkout"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func grepLines(s, prefix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
