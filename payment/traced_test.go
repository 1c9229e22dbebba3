package payment_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/payment"
	"github.com/orderengine/orderengine/telemetry"
)

// TestTracedGateway: every call is a span under the caller's; calls without an answer
// (a timeout) count as gateway errors, definitive answers (declined) do not.
func TestTracedGateway(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	reg := prometheus.NewRegistry()
	sim := payment.NewSimulator(payment.SimulatorConfig{WebhookSecret: secret, AsyncDelay: -1})
	defer sim.Close()
	g := payment.Traced(sim, tp.Tracer("test"), telemetry.NewBusiness(reg))
	ctx, parent := tp.Tracer("test").Start(context.Background(), "saga step")
	amount := domain.MustMoney(1000, "EUR")
	res, err := g.Authorize(ctx, payment.AuthorizeRequest{OrderID: "o1", Amount: amount, Token: payment.TokenVisa, IdempotencyKey: "k1"})
	if err != nil || res.Status != payment.StatusAuthorized {
		t.Fatalf("authorize: %+v %v", res, err)
	}
	if _, err := g.Void(ctx, payment.VoidRequest{OrderID: "o1", GatewayRef: res.GatewayRef, IdempotencyKey: "k2"}); err != nil {
		t.Fatal(err)
	}
	if res, err := g.Authorize(ctx, payment.AuthorizeRequest{OrderID: "o2", Amount: amount, Token: payment.TokenDecline, IdempotencyKey: "k3"}); err != nil || res.Status != payment.StatusDeclined {
		t.Fatalf("decline: %+v %v", res, err)
	}
	tctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	_, err = g.Authorize(tctx, payment.AuthorizeRequest{OrderID: "o3", Amount: amount, Token: payment.TokenTimeout, IdempotencyKey: "k4"})
	cancel()
	if err == nil {
		t.Fatal("a gateway that never answers returned no error")
	}
	parent.End()
	spans := exp.GetSpans()
	want := []string{"payment.authorize", "payment.void", "payment.authorize", "payment.authorize", "saga step"}
	if len(spans) != len(want) {
		t.Fatalf("%d spans, want %d", len(spans), len(want))
	}
	for i, s := range spans[:4] {
		if s.Name != want[i] || s.Parent.SpanID() != parent.SpanContext().SpanID() {
			t.Errorf("span %d: %s, want %s under the step", i, s.Name, want[i])
		}
	}
	if spans[3].Status.Code.String() != "Error" || spans[2].Status.Code.String() == "Error" {
		t.Error("only the unanswered call is an error span")
	}
	mfs, _ := reg.Gather()
	var got float64
	for _, mf := range mfs {
		if mf.GetName() == "orderengine_gateway_errors_total" {
			for _, m := range mf.GetMetric() {
				got += m.GetCounter().GetValue()
				if m.GetLabel()[0].GetValue() != "authorize" {
					t.Errorf("error counted for %s", m.GetLabel()[0].GetValue())
				}
			}
		}
	}
	if got != 1 {
		t.Fatalf("gateway errors %v, want 1", got)
	}
}

// TestTracedGatewayKeepsCapabilities: fulfilment in parts and order edits find their
// gateway capabilities by type assertion; the tracing wrapper must keep them.
func TestTracedGatewayKeepsCapabilities(t *testing.T) {
	tp := sdktrace.NewTracerProvider()
	sim := payment.NewSimulator(payment.SimulatorConfig{WebhookSecret: secret, AsyncDelay: -1})
	defer sim.Close()
	g := payment.Traced(sim, tp.Tracer("test"), nil)
	ctx := context.Background()
	res, err := g.Authorize(ctx, payment.AuthorizeRequest{OrderID: "o1", Amount: domain.MustMoney(1000, "EUR"), Token: payment.TokenVisa, IdempotencyKey: "k1"})
	if err != nil || res.Status != payment.StatusAuthorized {
		t.Fatalf("authorize: %+v %v", res, err)
	}
	parts, ok := g.(interface {
		CapturePart(context.Context, payment.CaptureRequest) (payment.Result, error)
	})
	if !ok {
		t.Fatal("the traced gateway lost CapturePart")
	}
	if _, err := parts.CapturePart(ctx, payment.CaptureRequest{OrderID: "o1", GatewayRef: res.GatewayRef, Amount: domain.MustMoney(400, "EUR"), IdempotencyKey: "k2"}); err != nil {
		t.Fatalf("capture a part through the wrapper: %v", err)
	}
	if _, ok := g.(payment.IncrementalGateway); !ok {
		t.Fatal("the traced gateway lost IncrementAuthorization")
	}
}
