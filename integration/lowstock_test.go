package integration_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/envelope"
	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/eventstore/sqlite"
	"github.com/orderengine/orderengine/integration"
)

// TestLowStock folds a real inventory stream: inventory.low_stock comes exactly when the
// available stock crosses down to the threshold, from a reservation or an adjustment, also
// for a translator that starts in the middle of the stream.
func TestLowStock(t *testing.T) {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "events.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	reg := domain.NewDomainRegistry()
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	sku := "MUG-1"
	reserve := func(order string, n int64) domain.Event {
		return domain.InventoryReserved{SKU: sku, OrderID: order, Quantity: n, Allocations: []domain.Allocation{{Warehouse: "main", Quantity: n}}, ExpiresAt: at.Add(time.Hour), At: at}
	}
	evs := []domain.Event{
		domain.InventoryReceived{SKU: sku, Warehouse: "main", Quantity: 10, At: at}, // 10
		reserve("o1", 3), // 7
		reserve("o2", 2), // 5: low
		reserve("o3", 1), // 4: still low, no event
		domain.InventoryAdjusted{SKU: sku, Warehouse: "main", Delta: 10, Reason: "found", At: at}, // 14
		domain.InventoryAdjusted{SKU: sku, Warehouse: "main", Delta: -10, Reason: "lost", At: at}, // 4: low
	}
	for i, e := range evs {
		d, err := envelope.Encode(reg, uuid.New(), e, envelope.Metadata{OccurredAt: at})
		if err != nil {
			t.Fatal(err)
		}
		expected := eventstore.NoStream
		if i > 0 {
			expected = eventstore.Exact(uint64(i - 1))
		}
		if _, err := store.Append(ctx, "inventory-"+sku, expected, d); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := store.ReadAll(ctx, 0, 100, eventstore.Filter{})
	if err != nil || len(recs) != len(evs) {
		t.Fatalf("%d records, %v", len(recs), err)
	}
	tr := integration.NewTranslator(reg).WithLowStock(store, 5)
	var got []integration.Event
	for _, rec := range recs {
		ev, err := tr.TranslateContext(ctx, rec)
		if errors.Is(err, integration.ErrNotIntegration) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ev)
	}
	if len(got) != 2 {
		t.Fatalf("%d low-stock events, want 2: %+v", len(got), got)
	}
	first, second := got[0].Data.(integration.InventoryLowStock), got[1].Data.(integration.InventoryLowStock)
	if got[0].SKU != sku || got[0].Position != recs[2].Position || first.Available != 5 || first.Cause != "reserved" || first.Threshold != 5 {
		t.Fatalf("first %+v %+v", got[0], first)
	}
	if got[1].Position != recs[5].Position || second.Available != 4 || second.Cause != "adjusted" || got[1].Key() != "sku:"+sku {
		t.Fatalf("second %+v %+v", got[1], second)
	}
	// A translator meeting the stream in the middle folds it from the store.
	fresh := integration.NewTranslator(reg).WithLowStock(store, 5)
	if ev, err := fresh.TranslateContext(ctx, recs[5]); err != nil || ev.Type != "inventory.low_stock" {
		t.Fatalf("fresh translator: %+v %v", ev, err)
	}
	if _, err := fresh.TranslateContext(ctx, recs[3]); !errors.Is(err, integration.ErrNotIntegration) {
		t.Fatalf("4 after 5 is no new low-stock event: %v", err)
	}
	// Without WithLowStock there is no low-stock event.
	if _, err := integration.NewTranslator(reg).Translate(recs[2]); !errors.Is(err, integration.ErrNotIntegration) {
		t.Fatalf("plain translator: %v", err)
	}
}
