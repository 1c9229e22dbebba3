package telemetry_test

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/orderengine/orderengine/telemetry"
)

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestFromEnvIsOffByDefault(t *testing.T) {
	ctx := context.Background()
	for _, e := range []func(string) string{
		env(),
		env("OTEL_TRACES_EXPORTER", "none", "OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
		env("OTEL_SDK_DISABLED", "true", "OTEL_TRACES_EXPORTER", "otlp"),
	} {
		tr, err := telemetry.FromEnv(ctx, e, "test")
		if err != nil || tr.Enabled() {
			t.Fatalf("enabled=%v err=%v", tr != nil && tr.Enabled(), err)
		}
	}
	for _, e := range []func(string) string{
		env("OTEL_TRACES_EXPORTER", "otlp"),
		env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
		env("OTEL_TRACES_EXPORTER", "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
	} {
		tr, err := telemetry.FromEnv(ctx, e, "test")
		if err != nil || !tr.Enabled() {
			t.Fatalf("want tracing on: %v", err)
		}
		_ = tr.Shutdown(ctx)
	}
	for _, e := range []func(string) string{
		env("OTEL_TRACES_EXPORTER", "zipkin"),
		env("OTEL_TRACES_EXPORTER", "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
	} {
		if _, err := telemetry.FromEnv(ctx, e, "test"); err == nil {
			t.Fatal("bad OTEL_* setting accepted")
		}
	}
}

// TestEventMetadataCarriesTheTrace: the trace context injected for an event's metadata
// makes the consumer's span a child of the producing span.
func TestEventMetadataCarriesTheTrace(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tr := telemetry.WithProvider(sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp)))
	ctx, req := tr.Tracer().Start(context.Background(), "request")
	tc := tr.Inject(ctx)
	req.End()
	if tc.TraceParent == "" {
		t.Fatal("no traceparent")
	}
	md := []byte(`{"correlationId":"x","traceparent":"` + tc.TraceParent + `"}`)
	cctx, span := tr.StartFromEvent(context.Background(), "consume", md)
	span.End()
	if telemetry.TraceID(cctx) != req.SpanContext().TraceID().String() {
		t.Fatalf("consumer trace %s, want %s", telemetry.TraceID(cctx), req.SpanContext().TraceID())
	}
	spans := exp.GetSpans()
	if len(spans) != 2 || spans[1].Parent.SpanID() != req.SpanContext().SpanID() {
		t.Fatalf("spans %+v", spans)
	}
	// Without trace context the consumer starts a new trace.
	nctx, span := tr.StartFromEvent(context.Background(), "consume", []byte(`{}`))
	span.End()
	if telemetry.TraceID(nctx) == "" || telemetry.TraceID(nctx) == telemetry.TraceID(cctx) {
		t.Fatal("an event without trace context joined another trace")
	}
}
