package bus_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/orderengine/orderengine/bus"
	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/telemetry"
)

// TestForwardedEventsJoinTheRequestTrace: an event appended inside a request's span
// carries its trace context in metadata; the forwarder's span and the consumer's span
// (started from the message) belong to that trace, so one request is one trace across
// the asynchronous hop.
func TestForwardedEventsJoinTheRequestTrace(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	tr := telemetry.WithProvider(tp)
	store := openStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// The "request": a span, and an event appended with its trace context.
	rctx, req := tr.Tracer().Start(ctx, "POST /v1/orders")
	md, _ := json.Marshal(map[string]any{"correlationId": "o-1", "traceparent": tr.Inject(rctx).TraceParent})
	if _, err := store.Append(ctx, "order-1", eventstore.NoStream, eventstore.EventData{ID: uuid.New(), Type: "order.placed", Data: []byte(`{}`), Metadata: md}); err != nil {
		t.Fatal(err)
	}
	req.End()
	// An event from outside any request starts its own trace.
	if _, err := store.Append(ctx, "order-2", eventstore.NoStream, eventstore.EventData{ID: uuid.New(), Type: "order.placed", Data: []byte(`{}`), Metadata: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}

	ps, err := bus.OpenMemory(bus.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	got := make(chan *message.Message, 2)
	run := start(t, ps, store, "g", "order", func(m *message.Message) error {
		// The consumer's span, from the message's event metadata.
		rec, err := bus.EventFromMessage(m)
		if err != nil {
			return err
		}
		_, span := tr.StartFromEvent(m.Context(), "saga.handle", rec.Metadata)
		span.End()
		got <- m
		return nil
	}, "")
	defer run.stop()
	fwd, err := bus.NewForwarder(bus.ForwarderConfig{Store: store, Publisher: ps.Publisher(), TopicPrefix: ps.TopicPrefix(), Tracing: tr})
	if err != nil {
		t.Fatal(err)
	}
	go fwd.Run(ctx)
	var msgs []*message.Message
	for range 2 {
		select {
		case m := <-got:
			msgs = append(msgs, m)
		case <-time.After(10 * time.Second):
			t.Fatal("messages not delivered")
		}
	}

	want := req.SpanContext().TraceID()
	// A forward span ends once the consumer acked.
	deadline := time.Now().Add(5 * time.Second)
	for len(exp.GetSpans()) < 5 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	spans := exp.GetSpans()
	byName := map[string][]tracetest.SpanStub{}
	for _, s := range spans {
		byName[s.Name] = append(byName[s.Name], s)
	}
	fwdSpans, sagaSpans := byName["bus.forward orderengine-order"], byName["saga.handle"]
	if len(fwdSpans) != 2 || len(sagaSpans) != 2 {
		t.Fatalf("spans: %v", names(spans))
	}
	joined := 0
	for _, s := range append(fwdSpans, sagaSpans...) {
		if s.SpanContext.TraceID() == want {
			joined++
			if s.Parent.SpanID() != req.SpanContext().SpanID() {
				t.Errorf("%s: parent %s, want the request span", s.Name, s.Parent.SpanID())
			}
		}
	}
	if joined != 2 {
		t.Fatalf("%d spans in the request's trace, want the forward and the saga span of order-1", joined)
	}
	if tp := msgs[0].Metadata.Get(bus.MetaTraceParent); tp == "" {
		t.Fatal("message without traceparent")
	}
}

func names(spans tracetest.SpanStubs) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	return out
}
