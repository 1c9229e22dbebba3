package readmodel

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/projections"
	"github.com/orderengine/orderengine/projections/catalogfold"
)

// Inventory is the stock read model: on hand, reserved and available per SKU and
// warehouse, and per SKU in total. The low-stock flag is computed by the Reader from its
// configured threshold, so changing the threshold needs no rebuild.
type Inventory struct{}

var _ projections.Projection = Inventory{}

func (Inventory) Name() string { return "inventory" }
func (Inventory) Version() int { return 1 }

func (Inventory) Filter() eventstore.Filter {
	return eventstore.Filter{EventTypes: catalogfold.StockEventTypes()}
}

func (Inventory) Tables() []projections.Table {
	return []projections.Table{
		{Name: "inventory_items", Key: []string{"sku"}, DDL: []string{
			`CREATE TABLE {inventory_items} (
				sku        {{text}} PRIMARY KEY,
				on_hand    BIGINT NOT NULL,
				reserved   BIGINT NOT NULL,
				available  BIGINT NOT NULL,
				warehouses BIGINT NOT NULL,
				updated_at BIGINT NOT NULL,
				version    BIGINT NOT NULL,
				position   BIGINT NOT NULL
			)`,
			`CREATE INDEX {inventory_items}_available ON {inventory_items} (available, sku)`,
		}},
		{Name: "inventory_levels", Key: []string{"sku", "warehouse"}, DDL: []string{
			`CREATE TABLE {inventory_levels} (
				sku        {{text}} NOT NULL,
				warehouse  {{text}} NOT NULL,
				on_hand    BIGINT NOT NULL,
				reserved   BIGINT NOT NULL,
				available  BIGINT NOT NULL,
				updated_at BIGINT NOT NULL,
				position   BIGINT NOT NULL,
				PRIMARY KEY (sku, warehouse)
			)`,
			`CREATE INDEX {inventory_levels}_available ON {inventory_levels} (available, sku, warehouse)`,
		}},
	}
}

type level struct {
	onHand, reserved int64
	updatedAt        int64
	position         int64
	dirty            bool
}

type item struct {
	levels   map[string]*level
	version  int64
	at       int64
	position int64
	dirty    bool
}

func (it *item) level(w string) *level {
	l := it.levels[w]
	if l == nil {
		l = &level{}
		it.levels[w] = l
	}
	return l
}

// Apply implements projections.Projection.
func (Inventory) Apply(ctx context.Context, tx *projections.Tx, batch []projections.Event) error {
	items := map[string]*item{}
	for _, e := range batch {
		if sku := catalogfold.StockSKU(e.Data); sku != "" && items[sku] == nil {
			items[sku] = &item{levels: map[string]*level{}}
		}
	}
	skus := keys(items)
	if err := tx.QueryIn(ctx, `SELECT sku, version, updated_at, position FROM {inventory_items} WHERE sku IN {in}`, skus,
		func(rows *sql.Rows) error {
			var sku string
			var v, at, pos int64
			if err := rows.Scan(&sku, &v, &at, &pos); err != nil {
				return err
			}
			it := items[sku]
			it.version, it.at, it.position = v, at, pos
			return nil
		}); err != nil {
		return err
	}
	if err := tx.QueryIn(ctx, `SELECT sku, warehouse, on_hand, reserved, updated_at, position FROM {inventory_levels} WHERE sku IN {in}`, skus,
		func(rows *sql.Rows) error {
			var sku, w string
			var l level
			if err := rows.Scan(&sku, &w, &l.onHand, &l.reserved, &l.updatedAt, &l.position); err != nil {
				return err
			}
			items[sku].levels[w] = &l
			return nil
		}); err != nil {
		return err
	}
	for _, e := range batch {
		sku := catalogfold.StockSKU(e.Data)
		if sku == "" {
			continue
		}
		it := items[sku]
		pos := int64(e.Position)
		var at time.Time
		move := func(w string, onHand, reserved int64) {
			l := it.level(w)
			l.onHand += onHand
			l.reserved += reserved
			l.updatedAt, l.position, l.dirty = nanos(at), pos, true
		}
		allocs := func(as []domain.Allocation, onHand, reserved int64) {
			for _, a := range as {
				move(a.Warehouse, onHand*a.Quantity, reserved*a.Quantity)
			}
		}
		switch d := e.Data.(type) {
		case domain.InventoryReceived:
			at = d.At
			move(d.Warehouse, d.Quantity, 0)
		case domain.InventoryAdjusted:
			at = d.At
			move(d.Warehouse, d.Delta, 0)
		case domain.InventoryReserved:
			at = d.At
			allocs(d.Allocations, 0, 1)
		case domain.InventoryReleased:
			at = d.At
			allocs(d.Allocations, 0, -1)
		case domain.InventoryReservationExpired:
			at = d.At
			allocs(d.Allocations, 0, -1)
		case domain.InventoryCommitted:
			at = d.At
			allocs(d.Allocations, -1, -1)
		case domain.InventoryRestocked:
			at = d.At
			move(d.Warehouse, d.Quantity, 0)
		default:
			return projections.Failed(e, fmt.Errorf("unexpected event %T", e.Data))
		}
		it.version++
		it.at, it.position, it.dirty = nanos(at), pos, true
	}

	var irows, lrows [][]any
	for _, sku := range sortedKeys(items) {
		it := items[sku]
		if !it.dirty {
			continue
		}
		var onHand, reserved int64
		ws := make([]string, 0, len(it.levels))
		for w := range it.levels {
			ws = append(ws, w)
		}
		sort.Strings(ws)
		for _, w := range ws {
			l := it.levels[w]
			onHand += l.onHand
			reserved += l.reserved
			if l.dirty {
				lrows = append(lrows, []any{sku, w, l.onHand, l.reserved, l.onHand - l.reserved, l.updatedAt, l.position})
			}
		}
		irows = append(irows, []any{sku, onHand, reserved, onHand - reserved, int64(len(ws)), it.at, it.version, it.position})
	}
	if err := tx.Upsert(ctx, "inventory_items", []string{"sku", "on_hand", "reserved", "available", "warehouses", "updated_at", "version", "position"}, 1, irows); err != nil {
		return err
	}
	return tx.Upsert(ctx, "inventory_levels", []string{"sku", "warehouse", "on_hand", "reserved", "available", "updated_at", "position"}, 2, lrows)
}

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// keys returns a map's keys, sorted, as query arguments.
func keys[V any](m map[string]V) []any {
	ks := sortedKeys(m)
	out := make([]any, len(ks))
	for i, k := range ks {
		out[i] = k
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
