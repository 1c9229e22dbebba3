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
	"slices"
	"strings"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/projections"
	"github.com/orderengine/orderengine/projections/catalogfold"
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

func (Catalog) Filter() eventstore.Filter { return catalogfold.Filter() }

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

// Apply implements projections.Projection with the catalog fold that the search
// documents share (projections/catalogfold): load the stock rows the batch touches with
// the products selling them, those products, the rest of their stock; fold; write back.
func (Catalog) Apply(ctx context.Context, tx *projections.Tx, batch []projections.Event) error {
	b := catalogfold.NewBatch()
	pids, skus := catalogfold.Touched(batch)
	if err := loadStock(ctx, tx, b, skus, true); err != nil {
		return err
	}
	if err := loadProducts(ctx, tx, b, union(pids, b.Owners())); err != nil {
		return err
	}
	if err := loadStock(ctx, tx, b, b.MissingSKUs(), false); err != nil {
		return err
	}
	if err := b.Apply(batch); err != nil {
		return err
	}
	return writeCatalog(ctx, tx, b)
}

// loadStock adds the stock of skus to b (zero when none is recorded) and, with owners,
// the products that sell each of them.
func loadStock(ctx context.Context, tx *projections.Tx, b *catalogfold.Batch, skus []string, owners bool) error {
	if len(skus) == 0 {
		return nil
	}
	for _, sku := range skus {
		b.AddStock(&catalogfold.Stock{SKU: sku})
	}
	args := anys(skus)
	if err := tx.QueryIn(ctx, `SELECT sku, on_hand, reserved FROM {catalog_stock} WHERE sku IN {in}`, args, func(rows *sql.Rows) error {
		var s catalogfold.Stock
		if err := rows.Scan(&s.SKU, &s.OnHand, &s.Reserved); err != nil {
			return err
		}
		b.AddStock(&s)
		return nil
	}); err != nil {
		return err
	}
	if !owners {
		return nil
	}
	owner := func(rows *sql.Rows) error {
		var sku, id string
		if err := rows.Scan(&sku, &id); err != nil {
			return err
		}
		s := b.Stock(sku)
		if i, found := slices.BinarySearch(s.Owners, id); !found {
			s.Owners = slices.Insert(s.Owners, i, id)
		}
		return nil
	}
	if err := tx.QueryIn(ctx, `SELECT sku, product_id FROM {catalog_variants} WHERE sku IN {in}`, args, owner); err != nil {
		return err
	}
	return tx.QueryIn(ctx, `SELECT sku, product_id FROM {catalog_products} WHERE sku IN {in}`, args, owner)
}

func union(a, b []string) []string {
	out := slices.Concat(a, b)
	slices.Sort(out)
	return slices.Compact(out)
}

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
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

func loadProducts(ctx context.Context, tx *projections.Tx, b *catalogfold.Batch, pids []string) error {
	if len(pids) == 0 {
		return nil
	}
	ids := anys(pids)
	out := map[string]*catalogfold.Product{}
	err := tx.QueryIn(ctx, `SELECT product_id, sku, name, description, category, brand, images, metadata,
		currency, base_price, status, created_at, updated_at, version, position
		FROM {catalog_products} WHERE product_id IN {in}`, ids, func(rows *sql.Rows) error {
		var (
			r                catalogfold.Product
			pos              int64
			images, metadata string
			currency, status string
			base             int64
			created, updated int64
		)
		if err := rows.Scan(&r.ID, &r.SKU, &r.Name, &r.Description, &r.Category, &r.Brand,
			&images, &metadata, &currency, &base, &status, &created, &updated, &r.Version, &pos); err != nil {
			return err
		}
		r.Position = uint64(pos)
		if err := unmarshalOpt(images, &r.Images); err != nil {
			return err
		}
		if err := unmarshalOpt(metadata, &r.Metadata); err != nil {
			return err
		}
		r.Price = domain.Money{Amount: base, Currency: currency}
		r.Status = domain.ProductStatus(status)
		r.CreatedAt, r.UpdatedAt = fromNanos(created), fromNanos(updated)
		out[r.ID] = &r
		return nil
	})
	if err != nil {
		return err
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
			r.Variants = append(r.Variants, v)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, id := range pids {
		if r := out[id]; r != nil {
			b.AddProduct(r)
		}
	}
	return nil
}

func writeCatalog(ctx context.Context, tx *projections.Tx, b *catalogfold.Batch) error {
	var prows, vrows [][]any
	var vdel []any
	avail := func(sku string) int64 {
		if s := b.Stock(sku); s != nil {
			return s.Available()
		}
		return 0
	}
	for _, p := range b.DirtyProducts() {
		lo, hi := p.Prices()
		total := b.Available(p)
		prows = append(prows, []any{p.ID, p.SKU, p.Name, strings.ToLower(p.Name), p.Description, p.Category, p.Brand,
			marshal(p.Images), marshal(p.Metadata), p.Price.Currency, p.Price.Amount, lo, hi, string(p.Status),
			total, total > 0, nanos(p.CreatedAt), nanos(p.UpdatedAt), p.Version, int64(p.Position)})
		// Variants carry availability: rewritten with every change of the product.
		vdel = append(vdel, p.ID)
		for i, v := range p.Variants {
			vrows = append(vrows, []any{v.SKU, p.ID, int64(i), marshal(v.Attributes), v.Price.Amount, v.Price.Currency, avail(v.SKU)})
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
	for _, s := range b.MovedStock() {
		srows = append(srows, []any{s.SKU, s.OnHand, s.Reserved})
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
