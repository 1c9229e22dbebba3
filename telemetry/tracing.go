// Package telemetry sets up OpenTelemetry tracing from the standard OTEL_* variables,
// carries W3C trace context through event metadata so that asynchronous consumers (the
// bus forwarder, the checkout saga, projections) join the trace of the request that
// caused an event, and defines the engine's business metrics.
package telemetry

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// ScopeName is the instrumentation scope of the engine's spans.
const ScopeName = "github.com/orderengine/orderengine"

// Tracing is the process's tracer provider and propagator (passed around, never global).
type Tracing struct {
	Provider   trace.TracerProvider
	Propagator propagation.TextMapPropagator
	shutdown   func(context.Context) error
}

// Tracer is the engine's tracer.
func (t *Tracing) Tracer() trace.Tracer { return t.Provider.Tracer(ScopeName) }

// Shutdown flushes and stops the exporter.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t.shutdown == nil {
		return nil
	}
	return t.shutdown(ctx)
}

// Enabled reports whether spans are recorded and exported.
func (t *Tracing) Enabled() bool { return t.shutdown != nil }

// Disabled is tracing off: spans are no-ops, trace context still propagates.
func Disabled() *Tracing {
	return &Tracing{Provider: noop.NewTracerProvider(), Propagator: propagator()}
}

// WithProvider is tracing through a caller's provider (tests: an in-memory exporter).
func WithProvider(tp *sdktrace.TracerProvider) *Tracing {
	return &Tracing{Provider: tp, Propagator: propagator(), shutdown: tp.Shutdown}
}

func propagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

// FromEnv sets tracing up from the standard variables. It is off unless
// OTEL_TRACES_EXPORTER is "otlp", or an OTLP endpoint (OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set and OTEL_TRACES_EXPORTER is not "none";
// OTEL_SDK_DISABLED=true turns it off. The protocol comes from
// OTEL_EXPORTER_OTLP_TRACES_PROTOCOL or OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf"
// (default) or "grpc". The exporters and the SDK read the other OTEL_* variables
// (endpoint, headers, timeout, OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES,
// OTEL_TRACES_SAMPLER…) themselves.
func FromEnv(ctx context.Context, getenv func(string) string, version string) (*Tracing, error) {
	exp := strings.ToLower(strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")))
	endpoint := getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
	switch {
	case strings.EqualFold(getenv("OTEL_SDK_DISABLED"), "true"):
		return Disabled(), nil
	case exp == "otlp":
	case exp == "" && endpoint:
	case exp == "" || exp == "none":
		return Disabled(), nil
	default:
		return nil, fmt.Errorf("OTEL_TRACES_EXPORTER=%q: want otlp or none", exp)
	}
	proto := getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if proto == "" {
		proto = getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	var (
		exporter sdktrace.SpanExporter
		err      error
	)
	switch proto {
	case "", "http/protobuf":
		exporter, err = otlptracehttp.New(ctx)
	case "grpc":
		exporter, err = otlptracegrpc.New(ctx)
	default:
		return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL=%q: want http/protobuf or grpc", proto)
	}
	if err != nil {
		return nil, fmt.Errorf("OTLP trace exporter: %w", err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
		semconv.ServiceVersion(version),
	))
	if err != nil {
		res = resource.Default()
	}
	if getenv("OTEL_SERVICE_NAME") == "" {
		if r, err := resource.Merge(res, resource.NewSchemaless(semconv.ServiceName("orderengine"))); err == nil {
			res = r
		}
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res))
	return &Tracing{Provider: tp, Propagator: propagator(), shutdown: tp.Shutdown}, nil
}

// TraceContext is the W3C trace context as stored in event metadata.
type TraceContext struct {
	TraceParent string `json:"traceparent,omitempty"`
	TraceState  string `json:"tracestate,omitempty"`
}

// Inject is the trace context of ctx's span, for an event's metadata (empty without one).
func (t *Tracing) Inject(ctx context.Context) TraceContext {
	c := propagation.MapCarrier{}
	t.Propagator.Inject(ctx, c)
	return TraceContext{TraceParent: c["traceparent"], TraceState: c["tracestate"]}
}

// Extract returns ctx carrying tc's span context as the remote parent.
func (t *Tracing) Extract(ctx context.Context, tc TraceContext) context.Context {
	if tc.TraceParent == "" {
		return ctx
	}
	c := propagation.MapCarrier{"traceparent": tc.TraceParent}
	if tc.TraceState != "" {
		c["tracestate"] = tc.TraceState
	}
	return t.Propagator.Extract(ctx, c)
}

// FromMetadata reads the trace context of an event's JSON metadata (fields
// "traceparent" and "tracestate"); a missing or unreadable one is empty.
func FromMetadata(metadata []byte) TraceContext {
	var tc TraceContext
	if len(metadata) > 0 {
		_ = json.Unmarshal(metadata, &tc)
	}
	return tc
}

// StartFromEvent starts a consumer span for handling an event, as a child of the span
// that caused the event when its metadata carries one (so one checkout is one trace),
// otherwise as a new root.
func (t *Tracing) StartFromEvent(ctx context.Context, name string, metadata []byte, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	ctx = t.Extract(ctx, FromMetadata(metadata))
	opts = append([]trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer)}, opts...)
	return t.Tracer().Start(ctx, name, opts...)
}

// TraceID is the trace id of ctx's span ("" without one), for log lines.
func TraceID(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.HasTraceID() {
		return ""
	}
	return sc.TraceID().String()
}
