package commands_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/orderengine/orderengine/commands"
	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/envelope"
	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/eventstore/sqlite"
	"github.com/orderengine/orderengine/telemetry"
)

func openSQLite(t *testing.T) eventstore.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "events.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func traceOf(t *testing.T, rec eventstore.RecordedEvent) string {
	t.Helper()
	_, md, err := envelope.Decode(domain.NewDomainRegistry(), rec)
	if err != nil {
		t.Fatal(err)
	}
	if md.TraceParent == "" {
		return ""
	}
	return md.TraceParent[3:35] // version-traceid-spanid-flags
}

// TestCommandSpansAndEventTraceContext: a command is a span in the caller's trace, its
// events carry that trace in their metadata, and a retry of the same Idempotency-Key in
// another trace is still a no-op (ids do not depend on the trace) that leaves the first
// trace context stored; the hash chains verify.
func TestCommandSpansAndEventTraceContext(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tr := telemetry.WithProvider(sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp)))
	store := openSQLite(t)
	rt := commands.NewRuntime(store, domain.NewDomainRegistry(), commands.RuntimeOptions{Tracing: tr})
	inv := domain.NewInventoryDecider()
	cmd := domain.ReceiveStock{SKU: "TEE-1", Warehouse: "main", Quantity: 3, Reference: "r1"}
	meta := commands.Meta{Actor: "test", IdempotencyKey: "k1"}

	ctx1, req1 := tr.Tracer().Start(context.Background(), "request 1")
	if _, err := commands.Execute(ctx1, rt, inv, cmd, meta); err != nil {
		t.Fatal(err)
	}
	req1.End()
	ctx2, req2 := tr.Tracer().Start(context.Background(), "request 2 (retry)")
	res, err := commands.Execute(ctx2, rt, inv, cmd, meta)
	req2.End()
	if err != nil || !res.Replayed {
		t.Fatalf("retry in another trace: replayed=%v err=%v", res.Replayed, err)
	}
	// A fresh runtime (no cache: another replica) recognises the retry too.
	rt2 := commands.NewRuntime(store, domain.NewDomainRegistry(), commands.RuntimeOptions{Tracing: tr})
	if res, err := commands.Execute(ctx2, rt2, inv, cmd, meta); err != nil || !res.Replayed {
		t.Fatalf("retry on another runtime: replayed=%v err=%v", res.Replayed, err)
	}
	recs, err := store.ReadStream(context.Background(), inv.StreamName("TEE-1"), eventstore.Forward, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 {
		t.Fatalf("%d events, want 1", len(recs))
	}
	if got, want := traceOf(t, recs[0]), req1.SpanContext().TraceID().String(); got != want {
		t.Fatalf("event's trace %q, want the first request's %q", got, want)
	}
	var cmdSpans []tracetest.SpanStub
	for _, s := range exp.GetSpans() {
		if s.Name == "command inventory" {
			cmdSpans = append(cmdSpans, s)
		}
	}
	if len(cmdSpans) != 3 {
		t.Fatalf("%d command spans, want 3", len(cmdSpans))
	}
	if cmdSpans[0].Parent.SpanID() != req1.SpanContext().SpanID() || cmdSpans[1].SpanContext.TraceID() != req2.SpanContext().TraceID() {
		t.Fatal("command spans are not children of their requests")
	}
	rep, err := eventstore.VerifyChains(context.Background(), store, "", nil)
	if err != nil || rep.Broken != nil || rep.Events != 1 {
		t.Fatalf("audit: %+v %v", rep, err)
	}
}

// TestStoreReappendIgnoresTraceContext: the store recognises a re-append by event ids
// alone, so the same events encoded in another trace (different metadata bytes) are a
// no-op that returns the first result, and the chain still verifies.
func TestStoreReappendIgnoresTraceContext(t *testing.T) {
	store := openSQLite(t)
	reg := domain.NewDomainRegistry()
	ctx := context.Background()
	id := uuid.New()
	e := domain.InventoryReceived{SKU: "TEE-1", Warehouse: "main", Quantity: 1, Reference: "r"}
	enc := func(tp string) eventstore.EventData {
		d, err := envelope.Encode(reg, id, e, envelope.Metadata{Actor: "test", TraceParent: tp})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	first, err := store.Append(ctx, "inventory-TEE-1", eventstore.NoStream, enc("00-11111111111111111111111111111111-1111111111111111-01"))
	if err != nil {
		t.Fatal(err)
	}
	again, err := store.Append(ctx, "inventory-TEE-1", eventstore.NoStream, enc("00-22222222222222222222222222222222-2222222222222222-01"))
	if err != nil || again != first {
		t.Fatalf("re-append in another trace: %+v %v, want %+v", again, err, first)
	}
	recs, err := store.ReadStream(ctx, "inventory-TEE-1", eventstore.Forward, 0, 10)
	if err != nil || len(recs) != 1 || traceOf(t, recs[0]) != "11111111111111111111111111111111" {
		t.Fatalf("stream after re-append: %d events, err %v", len(recs), err)
	}
	if rep, err := eventstore.VerifyChains(ctx, store, "", nil); err != nil || rep.Broken != nil {
		t.Fatalf("audit: %+v %v", rep, err)
	}
}

// counter sums the samples of a counter family whose labels include want.
func counter(t *testing.T, reg *prometheus.Registry, name string, want map[string]string) float64 {
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
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

// TestConflictsAndRetriesAreCounted: concurrent writers to one stock stream conflict; each
// conflict and each retry is counted under the stream's category.
func TestConflictsAndRetriesAreCounted(t *testing.T) {
	reg := prometheus.NewRegistry()
	rt := commands.NewRuntime(openSQLite(t), domain.NewDomainRegistry(), commands.RuntimeOptions{Metrics: telemetry.NewBusiness(reg)})
	inv := domain.NewInventoryDecider()
	ctx := context.Background()
	const n = 16
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if _, err := commands.Execute(ctx, rt, inv, domain.ReceiveStock{SKU: "HOT", Warehouse: "main", Quantity: 1, Reference: fmt.Sprint(i)}, commands.Meta{Actor: "test"}); err != nil {
				t.Error(err)
			}
		}()
	}
	close(start)
	wg.Wait()
	conflicts := counter(t, reg, "orderengine_version_conflicts_total", map[string]string{"category": domain.CategoryInventory})
	retries := counter(t, reg, "orderengine_command_retries_total", map[string]string{"category": domain.CategoryInventory})
	if conflicts == 0 || retries != conflicts {
		t.Fatalf("conflicts %v, retries %v: want equal and above zero (%d concurrent writers)", conflicts, retries, n)
	}
	// Without contention nothing moves.
	if _, err := commands.Execute(ctx, rt, inv, domain.ReceiveStock{SKU: "COLD", Warehouse: "main", Quantity: 1, Reference: "x"}, commands.Meta{Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	if got := counter(t, reg, "orderengine_version_conflicts_total", nil); got != conflicts {
		t.Fatalf("an uncontended command counted a conflict (%v → %v)", conflicts, got)
	}
}
