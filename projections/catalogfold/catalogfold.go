// Package catalogfold folds catalog and inventory events into product and stock state:
// the one fold that the catalog read model (projections/readmodel) and the search
// documents of every search backend (search/internal/docs) share.
//
// A sink applies a batch in four steps: Touched names the products and SKUs the batch
// changes; it loads their stored states into a Batch (stock rows first, since their
// owners are products to load too, then the stock of the loaded products' SKUs, see
// MissingSKUs); Apply folds the events; it writes back the dirty products and stock rows.
//
// Every stored product and stock row may carry the position of the last event it
// reflects, and Apply skips events at or before it. That makes a batch idempotent per
// row: Elasticsearch, whose writes are not transactional, may re-apply a batch after a
// partial failure, and the rows come out the same. (SQL sinks, exactly-once by their
// transaction, may store positions or not.)
package catalogfold

import (
	"fmt"
	"maps"
	"slices"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/projections"
)

// Product is the state of a product.
type Product struct {
	domain.Product
	// Version counts the product's events.
	Version int64 `json:"version"`
	// Position is the last event reflected (the product's or its SKUs' stock).
	Position uint64 `json:"position"`
	// CreatedPosition is the position of product.created (a stable integer key; 0 when
	// the store does not keep it).
	CreatedPosition uint64 `json:"createdPosition"`
}

// Prices are the lowest and highest sellable price (the base price without variants).
func (p *Product) Prices() (lo, hi int64) {
	lo, hi = p.Price.Amount, p.Price.Amount
	if len(p.Variants) > 0 {
		lo, hi = p.Variants[0].Price.Amount, p.Variants[0].Price.Amount
	}
	for _, v := range p.Variants {
		lo, hi = min(lo, v.Price.Amount), max(hi, v.Price.Amount)
	}
	return lo, hi
}

// Stock is the stock of a SKU and the products selling it.
type Stock struct {
	SKU      string   `json:"sku"`
	OnHand   int64    `json:"onHand"`
	Reserved int64    `json:"reserved"`
	Owners   []string `json:"owners,omitempty"`
	// Position is the last event reflected (an inventory event or a product adding the
	// SKU).
	Position uint64 `json:"position"`
}

// Available is on hand minus reserved, at least 0.
func (s *Stock) Available() int64 { return max(0, s.OnHand-s.Reserved) }

func (s *Stock) addOwner(id string) bool {
	i, found := slices.BinarySearch(s.Owners, id)
	if found {
		return false
	}
	s.Owners = slices.Insert(s.Owners, i, id)
	return true
}

// ProductEventTypes are the catalog's events.
func ProductEventTypes() []string {
	return []string{
		domain.ProductCreated{}.EventType(), domain.ProductDetailsUpdated{}.EventType(),
		domain.ProductVariantAdded{}.EventType(), domain.ProductVariantUpdated{}.EventType(),
		domain.ProductPriceChanged{}.EventType(), domain.ProductArchived{}.EventType(),
	}
}

// StockEventTypes are the inventory's events.
func StockEventTypes() []string {
	return []string{
		domain.InventoryReceived{}.EventType(), domain.InventoryAdjusted{}.EventType(),
		domain.InventoryReserved{}.EventType(), domain.InventoryReleased{}.EventType(),
		domain.InventoryReservationExpired{}.EventType(), domain.InventoryCommitted{}.EventType(),
		domain.InventoryRestocked{}.EventType(),
	}
}

// Filter selects the catalog's and the inventory's events.
func Filter() eventstore.Filter {
	return eventstore.Filter{EventTypes: append(ProductEventTypes(), StockEventTypes()...)}
}

// ProductID is the product of a catalog event ("" for others).
func ProductID(e domain.Event) string {
	switch d := e.(type) {
	case domain.ProductCreated:
		return d.ProductID
	case domain.ProductDetailsUpdated:
		return d.ProductID
	case domain.ProductVariantAdded:
		return d.ProductID
	case domain.ProductVariantUpdated:
		return d.ProductID
	case domain.ProductPriceChanged:
		return d.ProductID
	case domain.ProductArchived:
		return d.ProductID
	}
	return ""
}

// StockSKU is the SKU of an inventory event ("" for others).
func StockSKU(e domain.Event) string {
	switch d := e.(type) {
	case domain.InventoryReceived:
		return d.SKU
	case domain.InventoryAdjusted:
		return d.SKU
	case domain.InventoryReserved:
		return d.SKU
	case domain.InventoryReleased:
		return d.SKU
	case domain.InventoryReservationExpired:
		return d.SKU
	case domain.InventoryCommitted:
		return d.SKU
	case domain.InventoryRestocked:
		return d.SKU
	}
	return ""
}

// MoveStock applies an inventory event to on-hand and reserved quantities.
func MoveStock(e domain.Event, onHand, reserved int64) (int64, int64) {
	switch d := e.(type) {
	case domain.InventoryReceived:
		onHand += d.Quantity
	case domain.InventoryAdjusted:
		onHand += d.Delta
	case domain.InventoryReserved:
		reserved += d.Quantity
	case domain.InventoryReleased:
		reserved -= d.Quantity
	case domain.InventoryReservationExpired:
		reserved -= d.Quantity
	case domain.InventoryCommitted:
		onHand -= d.Quantity
		reserved -= d.Quantity
	case domain.InventoryRestocked:
		onHand += d.Quantity
	}
	return onHand, reserved
}

// Touched lists the products and SKUs a batch changes directly (sorted, unique).
func Touched(batch []projections.Event) (products, skus []string) {
	p, s := map[string]bool{}, map[string]bool{}
	for _, e := range batch {
		switch d := e.Data.(type) {
		case domain.ProductCreated:
			p[d.ProductID] = true
			s[d.SKU] = true
			for _, v := range d.Variants {
				s[v.SKU] = true
			}
		case domain.ProductVariantAdded:
			p[d.ProductID] = true
			s[d.Variant.SKU] = true
		default:
			if id := ProductID(e.Data); id != "" {
				p[id] = true
			} else if sku := StockSKU(e.Data); sku != "" {
				s[sku] = true
			}
		}
	}
	return sortedKeys(p), sortedKeys(s)
}

// Batch is the state a batch of events reads and writes.
type Batch struct {
	products   map[string]*Product
	stock      map[string]*Stock
	dirtyP     map[string]bool
	dirtyText  map[string]bool
	dirtyStock map[string]bool
	moved      map[string]bool
}

// NewBatch returns an empty batch.
func NewBatch() *Batch {
	return &Batch{
		products: map[string]*Product{}, stock: map[string]*Stock{},
		dirtyP: map[string]bool{}, dirtyText: map[string]bool{}, dirtyStock: map[string]bool{}, moved: map[string]bool{},
	}
}

// AddStock adds a loaded stock row.
func (b *Batch) AddStock(s *Stock) { b.stock[s.SKU] = s }

// AddProduct adds a loaded product.
func (b *Batch) AddProduct(p *Product) { b.products[p.ID] = p }

// Product is a loaded or created product (nil if neither).
func (b *Batch) Product(id string) *Product { return b.products[id] }

// Stock is a SKU's stock row (nil if neither loaded nor created).
func (b *Batch) Stock(sku string) *Stock { return b.stock[sku] }

// Available sums the available stock of a product's sellable SKUs.
func (b *Batch) Available(p *Product) int64 {
	var n int64
	for _, sku := range p.SKUs() {
		if s := b.stock[sku]; s != nil {
			n += s.Available()
		}
	}
	return n
}

// Owners lists the owners of the loaded stock rows that are not loaded products.
func (b *Batch) Owners() []string {
	m := map[string]bool{}
	for _, s := range b.stock {
		for _, o := range s.Owners {
			if b.products[o] == nil {
				m[o] = true
			}
		}
	}
	return sortedKeys(m)
}

// MissingSKUs lists the sellable SKUs of the loaded products whose stock is not loaded.
func (b *Batch) MissingSKUs() []string {
	m := map[string]bool{}
	for _, p := range b.products {
		for _, s := range append(p.SKUs(), p.SKU) {
			if b.stock[s] == nil {
				m[s] = true
			}
		}
	}
	return sortedKeys(m)
}

func (b *Batch) stockOf(sku string) *Stock {
	s := b.stock[sku]
	if s == nil {
		s = &Stock{SKU: sku}
		b.stock[sku] = s
	}
	return s
}

// Apply folds the events in order. An event a row already reflects is skipped. The
// error of an event that cannot apply (a product created twice, an event for a product
// never created) names it (projections.Failed).
func (b *Batch) Apply(batch []projections.Event) error {
	for _, e := range batch {
		if sku := StockSKU(e.Data); sku != "" {
			s := b.stockOf(sku)
			if e.Position > s.Position {
				s.OnHand, s.Reserved = MoveStock(e.Data, s.OnHand, s.Reserved)
				s.Position = e.Position
				b.dirtyStock[sku] = true
				b.moved[sku] = true
			}
			for _, o := range s.Owners {
				if p := b.products[o]; p != nil && e.Position > p.Position {
					p.Position = e.Position
					b.dirtyP[o] = true
				}
			}
			continue
		}
		id := ProductID(e.Data)
		if id == "" {
			continue
		}
		p := b.products[id]
		// The SKUs a product sells know it (each stock row on its own: a replay may
		// find the product written and its stock rows not).
		switch d := e.Data.(type) {
		case domain.ProductCreated:
			if p != nil && p.CreatedPosition != e.Position {
				return projections.Failed(e, fmt.Errorf("product %s created twice", id))
			}
			b.own(id, d.SKU, e.Position)
			for _, v := range d.Variants {
				b.own(id, v.SKU, e.Position)
			}
			if p == nil {
				p = &Product{CreatedPosition: e.Position}
				b.products[id] = p
			}
		case domain.ProductVariantAdded:
			if p != nil {
				b.own(id, d.Variant.SKU, e.Position)
			}
		}
		if p == nil {
			return projections.Failed(e, fmt.Errorf("product %s does not exist", id))
		}
		if e.Position <= p.Position {
			continue // already reflected
		}
		p.Product = domain.EvolveProduct(p.Product, e.Data)
		p.Version++
		p.Position = e.Position
		b.dirtyP[id] = true
		b.dirtyText[id] = true
	}
	return nil
}

func (b *Batch) own(id, sku string, pos uint64) {
	s := b.stockOf(sku)
	if pos > s.Position && s.addOwner(id) {
		s.Position = pos
		b.dirtyStock[sku] = true
	}
}

// DirtyProducts are the changed products, by id.
func (b *Batch) DirtyProducts() []*Product {
	out := make([]*Product, 0, len(b.dirtyP))
	for _, id := range sortedKeys(b.dirtyP) {
		out = append(out, b.products[id])
	}
	return out
}

// TextChanged reports whether a product event changed the product (its text, prices
// or attributes may have changed), as opposed to only its stock.
func (b *Batch) TextChanged(id string) bool { return b.dirtyText[id] }

// TextChangedIDs are the products TextChanged reports, by id.
func (b *Batch) TextChangedIDs() []string { return sortedKeys(b.dirtyText) }

// DirtyStock are the changed stock rows (quantities or owners), by SKU.
func (b *Batch) DirtyStock() []*Stock {
	out := make([]*Stock, 0, len(b.dirtyStock))
	for _, sku := range sortedKeys(b.dirtyStock) {
		out = append(out, b.stock[sku])
	}
	return out
}

// MovedStock are the stock rows whose quantities an inventory event changed, by SKU
// (for stores that keep no owners).
func (b *Batch) MovedStock() []*Stock {
	out := make([]*Stock, 0, len(b.moved))
	for _, sku := range sortedKeys(b.moved) {
		out = append(out, b.stock[sku])
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
