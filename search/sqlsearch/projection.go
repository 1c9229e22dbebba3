package sqlsearch

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"unicode/utf8"

	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/projections"
	"github.com/orderengine/orderengine/projections/catalogfold"
	"github.com/orderengine/orderengine/search/internal/docs"
)

// ProjectionName is the search projection's name in the read-model database.
const ProjectionName = "search"

// Projection is the search read model as a projections.Projection. Its tables depend
// on the dialect: SQLite gets FTS5 virtual tables, PostgreSQL generated tsvector
// columns and trigram indexes. Build it with NewProjection (or take it from
// Backend.Projection) to add it to the projections a CLI lists and rebuilds.
type Projection struct {
	pg bool
	// trgm is the schema pg_trgm is installed in (PostgreSQL).
	trgm string
}

var _ projections.Projection = (*Projection)(nil)

// Name implements projections.Projection.
func (*Projection) Name() string { return ProjectionName }

// Version implements projections.Projection.
func (*Projection) Version() int { return 1 }

// Filter implements projections.Projection: catalog and inventory events.
func (*Projection) Filter() eventstore.Filter { return docs.Filter() }

// Column weights of the text fields (name, brand, category, description, attributes).
const sqliteWeights = "10.0, 4.0, 4.0, 1.0, 1.0"

// Tables implements projections.Projection.
func (p *Projection) Tables() []projections.Table {
	docCols := `
		product_id  {{text}} PRIMARY KEY,
		doc_id      BIGINT NOT NULL,
		sku         {{text}} NOT NULL,
		name        TEXT NOT NULL,
		name_key    {{text}} NOT NULL,
		description TEXT NOT NULL,
		brand       {{text}} NOT NULL,
		category    {{text}} NOT NULL,
		images      TEXT NOT NULL,
		attrs       TEXT NOT NULL,
		attr_text   TEXT NOT NULL,
		currency    {{text}} NOT NULL,
		price       BIGINT NOT NULL,
		max_price   BIGINT NOT NULL,
		available   BIGINT NOT NULL,
		in_stock    BOOLEAN NOT NULL,
		active      BOOLEAN NOT NULL,
		created_at  BIGINT NOT NULL,
		updated_at  BIGINT NOT NULL,
		version     BIGINT NOT NULL,
		position    BIGINT NOT NULL,
		state       TEXT NOT NULL`
	if p.pg {
		// Weighted full text (A name, B brand and category, C description and
		// attributes) and an unstemmed name+brand vector for autocomplete, kept by
		// PostgreSQL itself.
		docCols += `,
		tsv tsvector GENERATED ALWAYS AS (
			setweight(to_tsvector('english'::regconfig, name), 'A') ||
			setweight(to_tsvector('english'::regconfig, brand || ' ' || category), 'B') ||
			setweight(to_tsvector('english'::regconfig, description || ' ' || attr_text), 'C')) STORED,
		suggest tsvector GENERATED ALWAYS AS (
			setweight(to_tsvector('simple'::regconfig, name), 'A') ||
			setweight(to_tsvector('simple'::regconfig, brand), 'B')) STORED`
	}
	docDDL := []string{
		`CREATE TABLE {search_docs} (` + docCols + `)`,
		`CREATE UNIQUE INDEX {search_docs}_doc ON {search_docs} (doc_id)`,
		`CREATE INDEX {search_docs}_price ON {search_docs} (active, price, product_id)`,
		`CREATE INDEX {search_docs}_name ON {search_docs} (active, name_key, product_id)`,
		`CREATE INDEX {search_docs}_created ON {search_docs} (active, created_at, product_id)`,
		`CREATE INDEX {search_docs}_brand ON {search_docs} (brand, active)`,
		`CREATE INDEX {search_docs}_category ON {search_docs} (category, active)`,
	}
	wordsDDL := []string{
		`CREATE TABLE {search_words} (
			word {{text}} PRIMARY KEY,
			len  BIGINT NOT NULL,
			docs BIGINT NOT NULL
		)`,
		`CREATE INDEX {search_words}_len ON {search_words} (len, word)`,
	}
	if p.pg {
		docDDL = append(docDDL,
			`CREATE INDEX {search_docs}_tsv ON {search_docs} USING GIN (tsv)`,
			`CREATE INDEX {search_docs}_suggest ON {search_docs} USING GIN (suggest)`)
		wordsDDL = append(wordsDDL,
			`CREATE INDEX {search_words}_trgm ON {search_words} USING GIN (word `+quoteIdent(p.trgm)+`.gin_trgm_ops)`)
	}
	tables := []projections.Table{
		{Name: "search_docs", Key: []string{"product_id"}, DDL: docDDL},
		{Name: "search_attrs", Key: []string{"product_id", "name", "value"}, DDL: []string{
			`CREATE TABLE {search_attrs} (
				product_id {{text}} NOT NULL,
				name       {{text}} NOT NULL,
				value      {{text}} NOT NULL,
				PRIMARY KEY (product_id, name, value)
			)`,
			`CREATE INDEX {search_attrs}_value ON {search_attrs} (name, value, product_id)`,
		}},
		{Name: "search_stock", Key: []string{"sku"}, DDL: []string{
			`CREATE TABLE {search_stock} (
				sku      {{text}} PRIMARY KEY,
				on_hand  BIGINT NOT NULL,
				reserved BIGINT NOT NULL,
				owners   TEXT NOT NULL,
				position BIGINT NOT NULL
			)`,
		}},
		{Name: "search_words", Key: []string{"word"}, DDL: wordsDDL},
	}
	if !p.pg {
		// FTS5 tables keyed by doc_id (the position of product.created): the ranked
		// full text (Porter stemming), and an unstemmed name+brand index with prefix
		// indexes for autocomplete. Only active products are in them.
		tables = append(tables,
			projections.Table{Name: "search_fts", Key: []string{"rowid"}, DDL: []string{
				`CREATE VIRTUAL TABLE {search_fts} USING fts5(name, brand, category, description, attrs,
					tokenize = 'porter unicode61 remove_diacritics 2')`,
			}},
			projections.Table{Name: "search_suggest", Key: []string{"rowid"}, DDL: []string{
				`CREATE VIRTUAL TABLE {search_suggest} USING fts5(name, brand,
					tokenize = 'unicode61 remove_diacritics 2', prefix = '1 2 3')`,
			}},
		)
	}
	return tables
}

func quoteIdent(s string) string {
	b := []byte{'"'}
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			b = append(b, '"')
		}
		b = append(b, s[i])
	}
	return string(append(b, '"'))
}

// Apply implements projections.Projection.
func (p *Projection) Apply(ctx context.Context, tx *projections.Tx, batch []projections.Event) error {
	b := docs.NewBatch()
	pids, skus := catalogfold.Touched(batch)
	if err := loadStock(ctx, tx, b, skus); err != nil {
		return err
	}
	pids = union(pids, b.Owners())
	if err := loadProducts(ctx, tx, b, pids); err != nil {
		return err
	}
	if err := loadStock(ctx, tx, b, b.MissingSKUs()); err != nil {
		return err
	}
	if err := b.Apply(batch); err != nil {
		return err
	}
	return p.write(ctx, tx, b)
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

func loadStock(ctx context.Context, tx *projections.Tx, b *docs.Batch, skus []string) error {
	if len(skus) == 0 {
		return nil
	}
	return tx.QueryIn(ctx, `SELECT sku, on_hand, reserved, owners, position FROM {search_stock} WHERE sku IN {in}`, anys(skus),
		func(rows *sql.Rows) error {
			var (
				s      catalogfold.Stock
				owners string
				pos    int64
			)
			if err := rows.Scan(&s.SKU, &s.OnHand, &s.Reserved, &owners, &pos); err != nil {
				return err
			}
			if err := json.Unmarshal([]byte(owners), &s.Owners); err != nil {
				return fmt.Errorf("stock %s: owners: %w", s.SKU, err)
			}
			s.Position = uint64(pos)
			b.AddStock(&s)
			return nil
		})
}

func loadProducts(ctx context.Context, tx *projections.Tx, b *docs.Batch, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	return tx.QueryIn(ctx, `SELECT state, version, position, doc_id FROM {search_docs} WHERE product_id IN {in}`, anys(ids),
		func(rows *sql.Rows) error {
			var (
				p          catalogfold.Product
				state      string
				pos, docID int64
			)
			if err := rows.Scan(&state, &p.Version, &pos, &docID); err != nil {
				return err
			}
			if err := json.Unmarshal([]byte(state), &p.Product); err != nil {
				return fmt.Errorf("search document state: %w", err)
			}
			p.Position, p.CreatedPosition = uint64(pos), uint64(docID)
			b.AddProduct(&p)
			return nil
		})
}

var docColumns = []string{"product_id", "doc_id", "sku", "name", "name_key", "description", "brand", "category",
	"images", "attrs", "attr_text", "currency", "price", "max_price", "available", "in_stock", "active",
	"created_at", "updated_at", "version", "position", "state"}

func marshal(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // plain data: maps, slices, strings and numbers
	}
	return string(b)
}

func nanos(t interface{ UnixNano() int64 }) int64 { return t.UnixNano() }

func (p *Projection) write(ctx context.Context, tx *projections.Tx, b *docs.Batch) error {
	var (
		docRows, attrRows, ftsRows, sugRows [][]any
		textIDs, textDocIDs                 []any
	)
	for _, prod := range b.DirtyProducts() {
		d := b.Document(prod)
		images := d.Images
		if images == nil {
			images = []string{}
		}
		attrs := d.Attributes
		if attrs == nil {
			attrs = map[string][]string{}
		}
		created, updated := int64(0), int64(0)
		if !d.CreatedAt.IsZero() {
			created = nanos(d.CreatedAt)
		}
		if !d.UpdatedAt.IsZero() {
			updated = nanos(d.UpdatedAt)
		}
		docRows = append(docRows, []any{d.ID, int64(d.CreatedPosition), d.SKU, d.Name, d.NameKey, d.Description,
			d.Brand, d.Category, marshal(images), marshal(attrs), d.AttrText, d.Currency, d.Price, d.MaxPrice,
			d.Available, d.InStock, d.Active, created, updated, d.Version, int64(d.Position), marshal(prod.Product)})
		if !b.TextChanged(d.ID) {
			continue
		}
		textIDs = append(textIDs, d.ID)
		textDocIDs = append(textDocIDs, int64(d.CreatedPosition))
		if !d.Active {
			continue
		}
		for _, k := range sortedKeys(d.Attributes) {
			for _, v := range d.Attributes[k] {
				attrRows = append(attrRows, []any{d.ID, k, v})
			}
		}
		ftsRows = append(ftsRows, []any{int64(d.CreatedPosition), d.Name, d.Brand, d.Category, d.Description, d.AttrText})
		sugRows = append(sugRows, []any{int64(d.CreatedPosition), d.Name, d.Brand})
	}
	if err := tx.Upsert(ctx, "search_docs", docColumns, 1, docRows); err != nil {
		return err
	}
	if err := tx.DeleteIn(ctx, "search_attrs", "product_id", textIDs); err != nil {
		return err
	}
	if err := tx.Upsert(ctx, "search_attrs", []string{"product_id", "name", "value"}, 0, attrRows); err != nil {
		return err
	}
	if !p.pg {
		for _, t := range []string{"search_fts", "search_suggest"} {
			if err := tx.DeleteIn(ctx, t, "rowid", textDocIDs); err != nil {
				return err
			}
		}
		if err := tx.Upsert(ctx, "search_fts", []string{"rowid", "name", "brand", "category", "description", "attrs"}, 0, ftsRows); err != nil {
			return err
		}
		if err := tx.Upsert(ctx, "search_suggest", []string{"rowid", "name", "brand"}, 0, sugRows); err != nil {
			return err
		}
	}
	if err := writeWords(ctx, tx, b.WordDeltas()); err != nil {
		return err
	}
	var stockRows [][]any
	for _, s := range b.DirtyStock() {
		owners := s.Owners
		if owners == nil {
			owners = []string{}
		}
		stockRows = append(stockRows, []any{s.SKU, s.OnHand, s.Reserved, marshal(owners), int64(s.Position)})
	}
	return tx.Upsert(ctx, "search_stock", []string{"sku", "on_hand", "reserved", "owners", "position"}, 1, stockRows)
}

// writeWords applies vocabulary count changes: words whose count drops to 0 go.
func writeWords(ctx context.Context, tx *projections.Tx, deltas map[string]int64) error {
	if len(deltas) == 0 {
		return nil
	}
	words := sortedKeys(deltas)
	counts := map[string]int64{}
	if err := tx.QueryIn(ctx, `SELECT word, docs FROM {search_words} WHERE word IN {in}`, anys(words), func(rows *sql.Rows) error {
		var (
			w string
			n int64
		)
		if err := rows.Scan(&w, &n); err != nil {
			return err
		}
		counts[w] = n
		return nil
	}); err != nil {
		return err
	}
	var (
		upserts [][]any
		gone    []any
	)
	for _, w := range words {
		n := counts[w] + deltas[w]
		if n <= 0 {
			if _, ok := counts[w]; ok {
				gone = append(gone, w)
			}
			continue
		}
		upserts = append(upserts, []any{w, int64(utf8.RuneCountInString(w)), n})
	}
	if err := tx.DeleteIn(ctx, "search_words", "word", gone); err != nil {
		return err
	}
	return tx.Upsert(ctx, "search_words", []string{"word", "len", "docs"}, 1, upserts)
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
