package traced_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/eventstore/eventstoretest"
	"github.com/orderengine/orderengine/eventstore/sqlite"
	"github.com/orderengine/orderengine/eventstore/traced"
)

func openSQLite(t *testing.T) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "events.db"), sqlite.Options{PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestConformance: the wrapped store passes the adapters' whole suite, multi-stream
// appends and deletions included (they skip when the capability is missing).
func TestConformance(t *testing.T) {
	tracer := sdktrace.NewTracerProvider(sdktrace.WithSyncer(tracetest.NewInMemoryExporter())).Tracer("test")
	eventstoretest.Run(t, eventstoretest.Harness{
		New: func(t *testing.T) eventstore.Store {
			s := traced.Wrap(openSQLite(t), tracer)
			if _, ok := s.(eventstore.MultiAppender); !ok {
				t.Fatal("wrapping lost MultiAppender")
			}
			if _, ok := s.(eventstore.StreamDeleter); !ok {
				t.Fatal("wrapping lost StreamDeleter")
			}
			return s
		},
		Corrupt: func(t *testing.T, s eventstore.Store, stream string, version uint64) {
			db := s.(interface{ Unwrap() eventstore.Store }).Unwrap().(*sqlite.Store).DB()
			if _, err := db.Exec(`UPDATE events SET data = CAST('{"x":2}' AS BLOB) WHERE stream_id = ? AND version = ?`, stream, version); err != nil {
				t.Fatal(err)
			}
		},
		GapWriters: 4,
		GapAppends: 100,
	})
}

type bare struct{ eventstore.Store }

type withMulti struct{ eventstore.Store }

func (withMulti) AppendMulti(context.Context, ...eventstore.StreamAppend) ([]eventstore.AppendResult, error) {
	return nil, nil
}

type withDelete struct{ eventstore.Store }

func (withDelete) DeleteStream(context.Context, string, eventstore.ExpectedVersion) error { return nil }

type withBoth struct{ eventstore.Store }

func (withBoth) AppendMulti(context.Context, ...eventstore.StreamAppend) ([]eventstore.AppendResult, error) {
	return nil, nil
}

func (withBoth) DeleteStream(context.Context, string, eventstore.ExpectedVersion) error { return nil }

// TestCapabilitiesPassThrough: the wrapper has exactly the wrapped store's optional
// capabilities, so callers discovering them by type assertion see no difference.
func TestCapabilitiesPassThrough(t *testing.T) {
	tracer := noop.NewTracerProvider().Tracer("test")
	for _, c := range []struct {
		name        string
		s           eventstore.Store
		multi, dele bool
	}{
		{"none", bare{}, false, false},
		{"multi", withMulti{}, true, false},
		{"delete", withDelete{}, false, true},
		{"both", withBoth{}, true, true},
	} {
		w := traced.Wrap(c.s, tracer)
		_, multi := w.(eventstore.MultiAppender)
		_, dele := w.(eventstore.StreamDeleter)
		if multi != c.multi || dele != c.dele {
			t.Errorf("%s: wrapper has MultiAppender=%v StreamDeleter=%v, want %v %v", c.name, multi, dele, c.multi, c.dele)
		}
		if w.(interface{ Unwrap() eventstore.Store }).Unwrap() != c.s {
			t.Errorf("%s: Unwrap is not the wrapped store", c.name)
		}
	}
}

// TestSpans: each operation is a client span in the caller's trace; failures are marked.
func TestSpans(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	inner := openSQLite(t)
	defer inner.Close()
	s := traced.Wrap(inner, tp.Tracer("test"))
	ctx, parent := tp.Tracer("test").Start(context.Background(), "command")
	if _, err := s.Append(ctx, "order-1", eventstore.NoStream, eventstoretest.NewEvent("order.placed", 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "order-1", eventstore.NoStream, eventstoretest.NewEvent("order.placed", 2)); !errors.Is(err, eventstore.ErrWrongExpectedVersion) {
		t.Fatalf("conflict: %v", err)
	}
	if _, err := s.ReadStream(ctx, "order-1", eventstore.Forward, 0, 10); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadAll(ctx, 0, 10, eventstore.Filter{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.(eventstore.MultiAppender).AppendMulti(ctx, eventstore.StreamAppend{Stream: "order-2", Expected: eventstore.NoStream,
		Events: []eventstore.EventData{eventstoretest.NewEvent("order.placed", 3)}}); err != nil {
		t.Fatal(err)
	}
	if err := s.(eventstore.StreamDeleter).DeleteStream(ctx, "order-2", eventstore.Any); err != nil {
		t.Fatal(err)
	}
	parent.End()
	want := []string{"eventstore.append", "eventstore.append", "eventstore.read_stream", "eventstore.read_all", "eventstore.append_multi", "eventstore.delete_stream"}
	spans := exp.GetSpans()
	if len(spans) != len(want)+1 {
		t.Fatalf("%d spans, want %d", len(spans), len(want)+1)
	}
	for i, name := range want {
		sp := spans[i]
		if sp.Name != name || sp.Parent.SpanID() != parent.SpanContext().SpanID() {
			t.Errorf("span %d: %s (parent %s), want %s under the command", i, sp.Name, sp.Parent.SpanID(), name)
		}
	}
	if spans[1].Status.Code.String() != "Error" || spans[0].Status.Code.String() == "Error" {
		t.Errorf("statuses: %v %v; want the conflicting append marked as an error", spans[0].Status, spans[1].Status)
	}
}
