package commands_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/orderengine/orderengine/commands"
	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/envelope"
	"github.com/orderengine/orderengine/eventregistry"
	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/eventstore/sqlite"
)

func newRuntime(t *testing.T) (*commands.Runtime, eventstore.Store) {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "events.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return commands.NewRuntime(s, eventregistry.New(), commands.RuntimeOptions{Now: func() time.Time { return now }}), s
}

func TestExecuteRetriesConflicts(t *testing.T) {
	rt, _ := newRuntime(t)
	ctx := context.Background()
	inv := domain.NewInventoryDecider()
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, err := commands.Execute(ctx, rt, inv, domain.ReceiveStock{SKU: "TEE-1", Warehouse: "main", Quantity: 1, Reference: fmt.Sprint(i)}, commands.Meta{Actor: "test"})
			errs <- err
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent receipt: %v", err)
		}
	}
	l, err := commands.Load(ctx, rt, inv, "TEE-1")
	if err != nil {
		t.Fatal(err)
	}
	if got := l.State.Totals().OnHand; got != n || l.Version != n-1 {
		t.Fatalf("on hand %d at version %d, want %d at %d", got, l.Version, n, n-1)
	}
}

func TestIdempotencyKeyReplays(t *testing.T) {
	rt, store := newRuntime(t)
	ctx := context.Background()
	inv := domain.NewInventoryDecider()
	cmd := domain.ReceiveStock{SKU: "MUG-1", Warehouse: "main", Quantity: 5}
	meta := commands.Meta{Actor: "alice", IdempotencyKey: "key-1", CorrelationID: "corr-1"}
	first, err := commands.Execute(ctx, rt, inv, cmd, meta)
	if err != nil || first.Replayed || len(first.Events) != 1 {
		t.Fatalf("first: %+v %v", first, err)
	}
	again, err := commands.Execute(ctx, rt, inv, cmd, meta)
	if err != nil || !again.Replayed || again.Version != first.Version || again.Position != first.Position {
		t.Fatalf("retry: %+v %v (first %+v)", again, err, first)
	}
	if got := again.State.Totals().OnHand; got != 5 {
		t.Fatalf("on hand %d after a retried receipt, want 5", got)
	}
	recs, err := store.ReadStream(ctx, "inventory-MUG-1", eventstore.Forward, 0, 10)
	if err != nil || len(recs) != 1 {
		t.Fatalf("stream has %d events (%v)", len(recs), err)
	}
	_, md, err := envelope.Decode(rt.Registry(), recs[0])
	if err != nil || md.Actor != "alice" || md.CorrelationID != "corr-1" || md.IdempotencyKey != "key-1" || md.SchemaVersion < 1 || md.ChainHash == "" {
		t.Fatalf("metadata %+v (%v)", md, err)
	}
}

func TestIfMatch(t *testing.T) {
	rt, _ := newRuntime(t)
	ctx := context.Background()
	inv := domain.NewInventoryDecider()
	r, err := commands.Execute(ctx, rt, inv, domain.ReceiveStock{SKU: "CAP-1", Warehouse: "main", Quantity: 2}, commands.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	stale := r.Version + 1
	if _, err := commands.Execute(ctx, rt, inv, domain.ReceiveStock{SKU: "CAP-1", Warehouse: "main", Quantity: 2}, commands.Meta{IfMatch: &stale}); !errors.Is(err, commands.ErrPreconditionFailed) {
		t.Fatalf("stale If-Match: %v", err)
	}
	cur := r.Version
	if _, err := commands.Execute(ctx, rt, inv, domain.ReceiveStock{SKU: "CAP-1", Warehouse: "main", Quantity: 2}, commands.Meta{IfMatch: &cur}); err != nil {
		t.Fatalf("current If-Match: %v", err)
	}
}

func TestDecideErrorsWriteNothing(t *testing.T) {
	rt, store := newRuntime(t)
	ctx := context.Background()
	inv := domain.NewInventoryDecider()
	_, err := commands.Execute(ctx, rt, inv, domain.ReserveStock{SKU: "NONE-1", OrderID: "o1", Quantity: 1, ExpiresAt: rt.Now().Add(time.Minute)}, commands.Meta{})
	if err == nil {
		t.Fatal("reserving unknown stock succeeded")
	}
	if _, err := store.ReadStream(ctx, "inventory-NONE-1", eventstore.Forward, 0, 1); !errors.Is(err, eventstore.ErrStreamNotFound) {
		t.Fatalf("a failed command wrote: %v", err)
	}
}

// TestCacheSeesOtherWriters: a runtime's cached state never hides events appended by
// another runtime (another process) on the same store.
func TestCacheSeesOtherWriters(t *testing.T) {
	rt1, store := newRuntime(t)
	rt2 := commands.NewRuntime(store, eventregistry.New(), commands.RuntimeOptions{})
	uncached := commands.NewRuntime(store, eventregistry.New(), commands.RuntimeOptions{CacheStreams: -1})
	ctx := context.Background()
	inv := domain.NewInventoryDecider()
	for i := 0; i < 30; i++ {
		rt := rt1
		if i%3 == 1 {
			rt = rt2
		}
		if _, err := commands.Execute(ctx, rt, inv, domain.ReceiveStock{SKU: "C-1", Warehouse: "main", Quantity: 1}, commands.Meta{}); err != nil {
			t.Fatal(err)
		}
		for _, r := range []*commands.Runtime{rt1, rt2, uncached} {
			l, err := commands.Load(ctx, r, inv, "C-1")
			if err != nil {
				t.Fatal(err)
			}
			if got := l.State.Totals().OnHand; got != int64(i+1) || l.Version != uint64(i) {
				t.Fatalf("after %d receipts a runtime sees %d at version %d", i+1, got, l.Version)
			}
		}
	}
	// A replay is recognised from the cache, also by the runtime that did not write it.
	meta := commands.Meta{IdempotencyKey: "k-cache"}
	first, err := commands.Execute(ctx, rt1, inv, domain.ReceiveStock{SKU: "C-1", Warehouse: "main", Quantity: 5}, meta)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*commands.Runtime{rt1, rt2, uncached} {
		again, err := commands.Execute(ctx, r, inv, domain.ReceiveStock{SKU: "C-1", Warehouse: "main", Quantity: 5}, meta)
		if err != nil || !again.Replayed || again.Version != first.Version {
			t.Fatalf("replay: %+v %v (first %+v)", again, err, first)
		}
	}
}
