// Package readmodel holds the SQL read models (catalog, orders, inventory) as
// projections.Projection implementations, and the Reader that queries them.
//
// Each projection applies a batch by loading the rows the batch touches, folding the
// events in memory (with the domain's own Evolve functions where one exists) and writing
// the changed rows back in multi-row statements: a few statements per batch whatever its
// size, and the same rows whatever the batch boundaries.
package readmodel

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/projections"
)

// All returns every SQL read model's projection.
func All() []projections.Projection {
	return []projections.Projection{Catalog{}, Orders{}, Inventory{}}
}

// Catalog is the products read model: details, variants, prices and availability per
// variant (from inventory events).
type Catalog struct{}

var _ projections.Projection = Catalog{}

func (Catalog) Name() string { return "catalog" }
func (Catalog) Version() int { return 1 }

var catalogEvents = []string{
	domain.ProductCreated{}.EventType(), domain.ProductDetailsUpdated{}.EventType(),
	domain.ProductVariantAdded{}.EventType(), domain.ProductVariantUpdated{}.EventType(),
	domain.ProductPriceChanged{}.EventType(), domain.ProductArchived{}.EventType(),
}

func (Catalog) Filter() eventstore.Filter {
	return eventstore.Filter{EventTypes: append(slices.Clone(catalogEvents), inventoryEvents...)}
}

func (Catalog) Tables() []projections.Table {
	return []projections.Table{
		{Name: "catalog_products", Key: []string{"product_id"}, DDL: []string{
			`CREATE TABLE {catalog_products} (
				product_id  {{text}} PRIMARY KEY,
				sku         {{text}} NOT NULL,
				name        TEXT NOT NULL,
				name_key    {{text}} NOT NULL,
				description TEXT NOT NULL,
				category    {{text}} NOT NULL,
				brand       {{text}} NOT NULL,
				images      TEXT NOT NULL,
				metadata    TEXT NOT NULL,
				currency    {{text}} NOT NULL,
				base_price  BIGINT NOT NULL,
				price       BIGINT NOT NULL,
				max_price   BIGINT NOT NULL,
				status      {{text}} NOT NULL,
				available   BIGINT NOT NULL,
				in_stock    BOOLEAN NOT NULL,
				created_at  BIGINT NOT NULL,
				updated_at  BIGINT NOT NULL,
				version     BIGINT NOT NULL,
				position    BIGINT NOT NULL
			)`,
			`CREATE INDEX {catalog_products}_price ON {catalog_products} (status, price, product_id)`,
			`CREATE INDEX {catalog_products}_name ON {catalog_products} (status, name_key, product_id)`,
			`CREATE INDEX {catalog_products}_created ON {catalog_products} (status, created_at, product_id)`,
			`CREATE INDEX {catalog_products}_category ON {catalog_products} (category, status, price)`,
			`CREATE INDEX {catalog_products}_brand ON {catalog_products} (brand, status, price)`,
			`CREATE INDEX {catalog_products}_sku ON {catalog_products} (sku)`,
		}},
		{Name: "catalog_variants", Key: []string{"sku", "product_id"}, DDL: []string{
			`CREATE TABLE {catalog_variants} (
				sku        {{text}} NOT NULL,
				product_id {{text}} NOT NULL,
				ord        BIGINT NOT NULL,
				attributes TEXT NOT NULL,
				price      BIGINT NOT NULL,
				currency   TEXT NOT NULL,
				available  BIGINT NOT NULL,
				PRIMARY KEY (sku, product_id)
			)`,
			`CREATE INDEX {catalog_variants}_product ON {catalog_variants} (product_id, ord)`,
		}},
		{Name: "catalog_stock", Key: []string{"sku"}, DDL: []string{
			`CREATE TABLE {catalog_stock} (
				sku      {{text}} PRIMARY KEY,
				on_hand  BIGINT NOT NULL,
				reserved BIGINT NOT NULL
			)`,
		}},
	}
}

// productRow is a product's state while a batch is applied.
type productRow struct {
	p             domain.Product
	version       int64
	position      int64
	dirty         bool
	variantsDirty bool
}

type stockRow struct {
	onHand, reserved int64
	dirty            bool
}

func (s *stockRow) available() int64 { return max(0, s.onHand-s.reserved) }

// Apply implements projections.Projection.
func (Catalog) Apply(ctx context.Context, tx *projections.Tx, batch []projections.Event) error {
	pids := map[string]bool{}
	skus := map[string]bool{}
	invSKUs := map[string]bool{}
	for _, e := range batch {
		switch d := e.Data.(type) {
		case domain.ProductCreated:
			pids[d.ProductID] = true
			skus[d.SKU] = true
			for _, v := range d.Variants {
				skus[v.SKU] = true
			}
		case domain.ProductVariantAdded:
			pids[d.ProductID] = true
			skus[d.Variant.SKU] = true
		default:
			if id := productID(e.Data); id != "" {
				pids[id] = true
			} else if sku := inventorySKU(e.Data); sku != "" {
				invSKUs[sku] = true
				skus[sku] = true
			}
		}
	}
	// Products owning the SKUs whose stock moves.
	owner := func(rows *sql.Rows) error {
		var id string
		if err := rows.Scan(&id); err != nil {
			return err
		}
		pids[id] = true
		return nil
	}
	if len(invSKUs) > 0 {
		moved := keys(invSKUs)
		if err := tx.QueryIn(ctx, `SELECT product_id FROM {catalog_variants} WHERE sku IN {in}`, moved, owner); err != nil {
			return err
		}
		if err := tx.QueryIn(ctx, `SELECT product_id FROM {catalog_products} WHERE sku IN {in}`, moved, owner); err != nil {
			return err
		}
	}
	products, err := loadProducts(ctx, tx, keys(pids))
	if err != nil {
		return err
	}
	bySKU := map[string][]*productRow{}
	index := func(r *productRow, sku string) {
		if !slices.Contains(bySKU[sku], r) {
			bySKU[sku] = append(bySKU[sku], r)
		}
	}
	for _, r := range products {
		index(r, r.p.SKU)
		for _, v := range r.p.Variants {
			index(r, v.SKU)
		}
		for _, s := range r.p.SKUs() {
			skus[s] = true
		}
	}
	stock := map[string]*stockRow{}
	for s := range skus {
		stock[s] = &stockRow{}
	}
	if err := tx.QueryIn(ctx, `SELECT sku, on_hand, reserved FROM {catalog_stock} WHERE sku IN {in}`, keys(skus), func(rows *sql.Rows) error {
		var s string
		var r stockRow
		if err := rows.Scan(&s, &r.onHand, &r.reserved); err != nil {
			return err
		}
		stock[s] = &r
		return nil
	}); err != nil {
		return err
	}

	for _, e := range batch {
		if sku := inventorySKU(e.Data); sku != "" {
			s := stock[sku]
			s.onHand, s.reserved = moveStock(e.Data, s.onHand, s.reserved)
			s.dirty = true
			for _, r := range bySKU[sku] {
				r.dirty, r.variantsDirty, r.position = true, true, int64(e.Position)
			}
			continue
		}
		id := productID(e.Data)
		r := products[id]
		if _, created := e.Data.(domain.ProductCreated); created {
			if r != nil {
				return projections.Failed(e, fmt.Errorf("product %s created twice", id))
			}
			r = &productRow{}
			products[id] = r
		} else if r == nil {
			return projections.Failed(e, fmt.Errorf("product %s does not exist", id))
		}
		r.p = domain.EvolveProduct(r.p, e.Data)
		r.version++
		r.position = int64(e.Position)
		r.dirty = true
		switch e.Data.(type) {
		case domain.ProductCreated, domain.ProductVariantAdded, domain.ProductVariantUpdated, domain.ProductPriceChanged:
			r.variantsDirty = true
			index(r, r.p.SKU)
			for _, v := range r.p.Variants {
				index(r, v.SKU)
			}
		}
	}
	return writeCatalog(ctx, tx, products, stock)
}

func productID(e domain.Event) string {
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

const productCols = `product_id, sku, name, name_key, description, category, brand, images, metadata, currency,
	base_price, price, max_price, status, available, in_stock, created_at, updated_at, version, position`

var productColList = splitCols(productCols)

const variantCols = `sku, product_id, ord, attributes, price, currency, available`

var variantColList = splitCols(variantCols)

func splitCols(s string) []string {
	parts := strings.Split(s, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}

func loadProducts(ctx context.Context, tx *projections.Tx, ids []any) (map[string]*productRow, error) {
	out := map[string]*productRow{}
	if len(ids) == 0 {
		return out, nil
	}
	err := tx.QueryIn(ctx, `SELECT product_id, sku, name, description, category, brand, images, metadata,
		currency, base_price, status, created_at, updated_at, version, position
		FROM {catalog_products} WHERE product_id IN {in}`, ids, func(rows *sql.Rows) error {
		var (
			r                productRow
			images, metadata string
			currency, status string
			base             int64
			created, updated int64
		)
		if err := rows.Scan(&r.p.ID, &r.p.SKU, &r.p.Name, &r.p.Description, &r.p.Category, &r.p.Brand,
			&images, &metadata, &currency, &base, &status, &created, &updated, &r.version, &r.position); err != nil {
			return err
		}
		if err := unmarshalOpt(images, &r.p.Images); err != nil {
			return err
		}
		if err := unmarshalOpt(metadata, &r.p.Metadata); err != nil {
			return err
		}
		r.p.Price = domain.Money{Amount: base, Currency: currency}
		r.p.Status = domain.ProductStatus(status)
		r.p.CreatedAt, r.p.UpdatedAt = fromNanos(created), fromNanos(updated)
		out[r.p.ID] = &r
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = tx.QueryIn(ctx, `SELECT product_id, sku, attributes, price, currency FROM {catalog_variants}
		WHERE product_id IN {in} ORDER BY product_id, ord`, ids, func(rows *sql.Rows) error {
		var (
			pid, attrs string
			v          domain.Variant
		)
		if err := rows.Scan(&pid, &v.SKU, &attrs, &v.Price.Amount, &v.Price.Currency); err != nil {
			return err
		}
		if err := unmarshalOpt(attrs, &v.Attributes); err != nil {
			return err
		}
		if r := out[pid]; r != nil {
			r.p.Variants = append(r.p.Variants, v)
		}
		return nil
	})
	return out, err
}

func writeCatalog(ctx context.Context, tx *projections.Tx, products map[string]*productRow, stock map[string]*stockRow) error {
	var prows, vrows [][]any
	var vdel []any
	for _, id := range sortedKeys(products) {
		r := products[id]
		if !r.dirty {
			continue
		}
		p := r.p
		avail := func(sku string) int64 {
			if s := stock[sku]; s != nil {
				return s.available()
			}
			return 0
		}
		var total int64
		lo, hi := p.Price.Amount, p.Price.Amount
		if len(p.Variants) > 0 {
			lo, hi = p.Variants[0].Price.Amount, p.Variants[0].Price.Amount
		}
		for _, s := range p.SKUs() {
			total += avail(s)
		}
		for _, v := range p.Variants {
			lo, hi = min(lo, v.Price.Amount), max(hi, v.Price.Amount)
		}
		prows = append(prows, []any{p.ID, p.SKU, p.Name, strings.ToLower(p.Name), p.Description, p.Category, p.Brand,
			marshal(p.Images), marshal(p.Metadata), p.Price.Currency, p.Price.Amount, lo, hi, string(p.Status),
			total, total > 0, nanos(p.CreatedAt), nanos(p.UpdatedAt), r.version, r.position})
		if r.variantsDirty {
			vdel = append(vdel, p.ID)
			for i, v := range p.Variants {
				vrows = append(vrows, []any{v.SKU, p.ID, int64(i), marshal(v.Attributes), v.Price.Amount, v.Price.Currency, avail(v.SKU)})
			}
		}
	}
	if err := tx.Upsert(ctx, "catalog_products", productColList, 1, prows); err != nil {
		return err
	}
	if err := tx.DeleteIn(ctx, "catalog_variants", "product_id", vdel); err != nil {
		return err
	}
	if err := tx.Upsert(ctx, "catalog_variants", variantColList, 0, vrows); err != nil {
		return err
	}
	var srows [][]any
	for _, sku := range sortedKeys(stock) {
		if s := stock[sku]; s.dirty {
			srows = append(srows, []any{sku, s.onHand, s.reserved})
		}
	}
	return tx.Upsert(ctx, "catalog_stock", []string{"sku", "on_hand", "reserved"}, 1, srows)
}

func marshal(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only maps and slices of strings are marshalled
	}
	return string(b)
}

func unmarshalOpt(s string, v any) error {
	if s == "" || s == "null" {
		return nil
	}
	return json.Unmarshal([]byte(s), v)
}
