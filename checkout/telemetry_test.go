package checkout

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/orderengine/orderengine/payment"
	"github.com/orderengine/orderengine/telemetry"
)

// sample sums a family's counters (or histogram sample counts) whose labels include want.
func sample(t *testing.T, reg *prometheus.Registry, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if labels[k] != v {
					continue next
				}
			}
			if h := m.GetHistogram(); h != nil {
				sum += float64(h.GetSampleCount())
			} else {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// TestCheckoutTelemetry: the saga's spans (start after the bus hop, each step, the gateway
// call) join the trace of the span that placed the order, through the events' metadata;
// an order placed outside that trace has its own; the business metrics move with the
// checkouts.
func TestCheckoutTelemetry(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tr := telemetry.WithProvider(sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp)))
	reg := prometheus.NewRegistry()
	biz := telemetry.NewBusiness(reg)
	e := newEnv(t, "memory", payment.SimulatorConfig{}, func(c *Config) {
		c.Tracing, c.Metrics = tr, biz
		c.Gateway = payment.Traced(c.Gateway, tr.Tracer(), biz)
	})
	e.product("TEE-1", 1999, 5)

	base := e.ctx
	rctx, req := tr.Tracer().Start(base, "POST /v1/orders")
	e.ctx = rctx
	id := e.mustOrder(payment.TokenVisa, item{"TEE-1", 1})
	e.ctx = base
	req.End()
	declined := e.mustOrder(payment.TokenDecline, item{"TEE-1", 1})
	if st := e.wait(id); st.Outcome != OutcomeConfirmed {
		t.Fatalf("status %+v", st)
	}
	if st := e.wait(declined); st.Outcome != OutcomeCancelled {
		t.Fatalf("status %+v", st)
	}

	want := req.SpanContext().TraceID()
	// A start from the scheduler (no trace of its own) continues the order's trace.
	if got := telemetry.TraceID(e.checkout().joinOrderTrace(base, id)); got != want.String() {
		t.Fatalf("a background start joins trace %q, want the order's %s", got, want)
	}
	needed := []string{"checkout.start", "checkout.reserve_stock", "checkout.authorize_payment", "payment.authorize", "checkout.confirm"}
	var inTrace map[string]int
	deadline := time.Now().Add(5 * time.Second)
	for {
		inTrace = map[string]int{}
		others := 0
		for _, s := range exp.GetSpans() {
			if s.SpanContext.TraceID() == want {
				inTrace[s.Name]++
			} else if s.Name == "checkout.compensate" {
				others++
			}
		}
		missing := ""
		for _, n := range needed {
			if inTrace[n] == 0 {
				missing = n
			}
		}
		if inTrace["checkout.compensate"] > 0 {
			t.Fatal("the declined order's compensation joined the other order's trace")
		}
		if missing == "" && others > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("span %q missing from the order's trace (spans there: %v; compensations elsewhere: %d)", missing, inTrace, others)
		}
		time.Sleep(10 * time.Millisecond)
	}

	deadline = time.Now().Add(5 * time.Second)
	for sample(t, reg, "orderengine_checkout_step_duration_seconds", map[string]string{"step": "confirm"}) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"orderengine_checkouts_started_total", nil, 2},
		{"orderengine_checkouts_finished_total", map[string]string{"outcome": "confirmed", "reason": "none"}, 1},
		{"orderengine_checkouts_finished_total", map[string]string{"outcome": "cancelled", "reason": string(CodePaymentDeclined)}, 1},
		{"orderengine_checkout_duration_seconds", nil, 2},
		{"orderengine_payments_total", map[string]string{"outcome": "authorized"}, 1},
		{"orderengine_payments_total", map[string]string{"outcome": "declined"}, 1},
		{"orderengine_checkout_step_duration_seconds", map[string]string{"step": "confirm"}, 1},
		{"orderengine_checkout_step_duration_seconds", map[string]string{"step": "fail"}, 1},
		{"orderengine_checkout_step_duration_seconds", map[string]string{"step": "compensate"}, 1},
		{"orderengine_gateway_errors_total", nil, 0},
	} {
		if got := sample(t, reg, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if got := sample(t, reg, "orderengine_checkout_step_duration_seconds", map[string]string{"step": "reserve_stock"}); got < 2 {
		t.Errorf("reserve_stock steps observed %v, want at least 2", got)
	}
}
