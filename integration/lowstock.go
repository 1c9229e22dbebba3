package integration

import (
	"context"
	"fmt"
	"sync"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/envelope"
	"github.com/orderengine/orderengine/eventstore"
)

// StreamReader reads a stream (eventstore.Store satisfies it).
type StreamReader interface {
	ReadStream(ctx context.Context, stream string, dir eventstore.Direction, from uint64, limit int) ([]eventstore.RecordedEvent, error)
}

// WithLowStock enables inventory.low_stock: the translator folds each SKU's inventory
// stream (read through r, cached) to know the stock before and after a reservation or an
// adjustment, and emits the event when available stock crosses down to threshold or below.
func (t *Translator) WithLowStock(r StreamReader, threshold int64) *Translator {
	if threshold <= 0 {
		threshold = 5
	}
	t.stock = &stockFold{r: r, reg: t.reg, threshold: threshold, cache: map[string]*stockState{}}
	return t
}

type stockFold struct {
	r         StreamReader
	reg       *domain.Registry
	threshold int64

	mu    sync.Mutex
	cache map[string]*stockState // by stream
}

// stockState is an inventory folded up to a stream version.
type stockState struct {
	version uint64
	inv     domain.Inventory
}

const maxStockCache = 10_000

// before returns the inventory just before stream version v.
func (f *stockFold) before(ctx context.Context, stream string, v uint64) (domain.Inventory, error) {
	f.mu.Lock()
	st := f.cache[stream]
	f.mu.Unlock()
	var inv domain.Inventory
	from := uint64(0)
	if st != nil && st.version < v {
		inv, from = cloneInventory(st.inv), st.version+1 // Evolve may update maps in place
	}
	for from < v {
		recs, err := f.r.ReadStream(ctx, stream, eventstore.Forward, from, min(int(v-from), 500))
		if err != nil {
			return inv, fmt.Errorf("read %s: %w", stream, err)
		}
		if len(recs) == 0 {
			return inv, fmt.Errorf("read %s: no events from version %d", stream, from)
		}
		for _, rec := range recs {
			if rec.Version >= v {
				break
			}
			e, _, err := envelope.Decode(f.reg, rec)
			if err != nil {
				return inv, err
			}
			inv = domain.EvolveInventory(inv, e)
			from = rec.Version + 1
		}
	}
	return inv, nil
}

func (f *stockFold) remember(stream string, version uint64, inv domain.Inventory) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.cache) >= maxStockCache {
		clear(f.cache)
	}
	if cur := f.cache[stream]; cur == nil || cur.version < version {
		f.cache[stream] = &stockState{version: version, inv: inv}
	}
}

// lowStock derives inventory.low_stock from a reservation or an adjustment, or
// ErrNotIntegration when the stock did not cross the threshold.
func (f *stockFold) lowStock(ctx context.Context, rec eventstore.RecordedEvent, e domain.Event) (Event, error) {
	inv, err := f.before(ctx, rec.Stream, rec.Version)
	if err != nil {
		return Event{}, err
	}
	was := inv.Available()
	after := domain.EvolveInventory(cloneInventory(inv), e)
	f.remember(rec.Stream, rec.Version, after)
	now := after.Available()
	if !(was > f.threshold && now <= f.threshold) {
		return Event{}, ErrNotIntegration
	}
	ev := Event{Type: "inventory.low_stock"}
	switch e := e.(type) {
	case domain.InventoryReserved:
		ev.SKU, ev.Data = e.SKU, InventoryLowStock{Available: now, Threshold: f.threshold, Cause: "reserved", At: e.At.UTC()}
	case domain.InventoryAdjusted:
		ev.SKU, ev.Data = e.SKU, InventoryLowStock{Available: now, Threshold: f.threshold, Cause: "adjusted", At: e.At.UTC()}
	default:
		return Event{}, ErrNotIntegration
	}
	return ev, nil
}

func cloneInventory(s domain.Inventory) domain.Inventory {
	c := s
	c.Warehouses = make(map[string]domain.StockLevel, len(s.Warehouses))
	for k, v := range s.Warehouses {
		c.Warehouses[k] = v
	}
	c.Reservations = make(map[string]domain.Reservation, len(s.Reservations))
	for k, v := range s.Reservations {
		c.Reservations[k] = v
	}
	c.Settled = make(map[string]domain.SettledReservation, len(s.Settled))
	for k, v := range s.Settled {
		c.Settled[k] = v
	}
	return c
}
