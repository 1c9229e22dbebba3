package projections_test

import (
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/orderengine/orderengine/commands"
	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/eventregistry"
	"github.com/orderengine/orderengine/projections/projectionstest"
	"github.com/orderengine/orderengine/projections/readmodel"
	"github.com/orderengine/orderengine/telemetry"
)

// TestBatchSpansJoinTheEventsTrace: a batch whose events come from one request is a span
// in that request's trace, under the command that appended them.
func TestBatchSpansJoinTheEventsTrace(t *testing.T) {
	ctx := testCtx(t)
	exp := tracetest.NewInMemoryExporter()
	tr := telemetry.WithProvider(sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp)))
	store := projectionstest.EventStore(t)
	rt := commands.NewRuntime(store, eventregistry.New(), commands.RuntimeOptions{Tracing: tr})
	rctx, req := tr.Tracer().Start(ctx, "POST /v1/inventory/{sku}/receipts")
	if _, err := commands.Execute(rctx, rt, domain.NewInventoryDecider(), domain.ReceiveStock{SKU: "TEE-1", Warehouse: "main", Quantity: 2, Reference: "r"}, commands.Meta{Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	req.End()
	opt := fastOptions()
	opt.Tracing = tr
	rs, stop := startRunners(t, projectionstest.DB(t, "sqlite"), store, opt, readmodel.All()...)
	projectionstest.WaitCaughtUp(t, store, 30*time.Second, rs...)
	stop()
	var command tracetest.SpanStub
	batches := 0
	for _, s := range exp.GetSpans() {
		if s.Name == "command inventory" {
			command = s
		}
	}
	for _, s := range exp.GetSpans() {
		if s.Name != "projection.batch" {
			continue
		}
		batches++
		if s.SpanContext.TraceID() != req.SpanContext().TraceID() || s.Parent.SpanID() != command.SpanContext.SpanID() {
			t.Errorf("batch span in trace %s under %s, want the command's trace and span", s.SpanContext.TraceID(), s.Parent.SpanID())
		}
	}
	if batches == 0 {
		t.Fatal("no projection.batch span")
	}
}
