package readmodel

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/projections"
	"github.com/orderengine/orderengine/projections/keyset"
)

// Errors of the Reader.
var (
	ErrNotFound   = errors.New("not found")
	ErrBadCursor  = errors.New("invalid cursor")
	ErrBadRequest = errors.New("invalid query")
)

// Page limits.
const (
	DefaultLimit = 20
	MaxLimit     = 100
)

// ReaderOptions configure a Reader. The zero value is usable.
type ReaderOptions struct {
	// LowStockThreshold: a SKU or warehouse is low on stock when available ≤ it (default 5).
	LowStockThreshold int64
}

// Reader answers the read API's queries from the live generation of each read model.
// Every answer carries the position of the projection it was read from: every event up
// to it is reflected.
type Reader struct {
	db  *projections.DB
	opt ReaderOptions
}

// NewReader returns a Reader on db.
func NewReader(db *projections.DB, opt ReaderOptions) *Reader {
	if opt.LowStockThreshold <= 0 {
		opt.LowStockThreshold = 5
	}
	return &Reader{db: db, opt: opt}
}

// Page is one page of a list.
type Page[T any] struct {
	Items []T `json:"items"`
	// NextCursor fetches the next page; empty on the last.
	NextCursor string `json:"nextCursor,omitempty"`
	// Position of the projection the page was read at.
	Position uint64 `json:"position"`
}

// Product is a catalog product.
type Product struct {
	ID          string            `json:"id"`
	SKU         string            `json:"sku"`
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Category    string            `json:"category"`
	Brand       string            `json:"brand"`
	Images      []string          `json:"images"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	// Price is the base price; MinPrice and MaxPrice span the sellable SKUs' prices.
	Price    domain.Money `json:"price"`
	MinPrice domain.Money `json:"minPrice"`
	MaxPrice domain.Money `json:"maxPrice"`
	Variants []Variant    `json:"variants"`
	Status   string       `json:"status"`
	// Available sums the sellable SKUs' available stock.
	Available int64     `json:"available"`
	InStock   bool      `json:"inStock"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
	// Version is the product stream's 0-based version (the command API's ETag);
	// Position is the last event that changed the row.
	Version  int64  `json:"version"`
	Position uint64 `json:"position"`
}

// Variant is a sellable variant of a product.
type Variant struct {
	SKU        string            `json:"sku"`
	Attributes map[string]string `json:"attributes,omitempty"`
	Price      domain.Money      `json:"price"`
	Available  int64             `json:"available"`
	InStock    bool              `json:"inStock"`
}

// Product sorts.
const (
	SortName        = "name"
	SortNameDesc    = "-name"
	SortPrice       = "price"
	SortPriceDesc   = "-price"
	SortCreated     = "created"
	SortCreatedDesc = "-created"
)

// ProductQuery filters and sorts the catalog.
type ProductQuery struct {
	Category string
	Brand    string
	// Currency, if set, keeps products priced in it.
	Currency string
	// MinPrice and MaxPrice bound the lowest price of a product (minor units).
	MinPrice *int64
	MaxPrice *int64
	InStock  bool
	// IncludeArchived also lists archived products.
	IncludeArchived bool
	// Sort is one of name (default), -name, price, -price, created, -created.
	Sort   string
	Limit  int
	Cursor string
}

var productSorts = map[string]string{
	SortName: "name_key", SortNameDesc: "name_key", SortPrice: "price", SortPriceDesc: "price",
	SortCreated: "created_at", SortCreatedDesc: "created_at",
}

const productSelect = `SELECT product_id, sku, name, description, category, brand, images, metadata, currency,
	base_price, price, max_price, status, available, in_stock, created_at, updated_at, version, position, name_key
	FROM {catalog_products}`

// Product returns one product with its variants, and the catalog's position.
func (r *Reader) Product(ctx context.Context, id string) (Product, uint64, error) {
	v, err := r.db.View(ctx, Catalog{})
	if err != nil {
		return Product{}, 0, err
	}
	defer v.Close()
	rows, err := v.Query(ctx, productSelect+` WHERE product_id = $1`, id)
	if err != nil {
		return Product{}, 0, err
	}
	ps, _, err := scanProducts(rows)
	if err != nil {
		return Product{}, 0, err
	}
	if len(ps) == 0 {
		return Product{}, v.Position(), fmt.Errorf("product %s: %w", id, ErrNotFound)
	}
	if err := loadVariants(ctx, v, ps); err != nil {
		return Product{}, 0, err
	}
	return ps[0], v.Position(), nil
}

// Products lists the catalog with filters, a sort and keyset pagination.
func (r *Reader) Products(ctx context.Context, q ProductQuery) (Page[Product], error) {
	if q.Sort == "" {
		q.Sort = SortName
	}
	col, ok := productSorts[q.Sort]
	if !ok {
		return Page[Product]{}, fmt.Errorf("%w: sort must be name, -name, price, -price, created or -created", ErrBadRequest)
	}
	limit, err := pageLimit(q.Limit)
	if err != nil {
		return Page[Product]{}, err
	}
	desc := strings.HasPrefix(q.Sort, "-")
	var w where
	if !q.IncludeArchived {
		w.add("status = ?", string(domain.ProductStatusActive))
	}
	if q.Category != "" {
		w.add("category = ?", q.Category)
	}
	if q.Brand != "" {
		w.add("brand = ?", q.Brand)
	}
	if q.Currency != "" {
		w.add("currency = ?", q.Currency)
	}
	if q.MinPrice != nil {
		w.add("price >= ?", *q.MinPrice)
	}
	if q.MaxPrice != nil {
		w.add("price <= ?", *q.MaxPrice)
	}
	if q.InStock {
		w.add("in_stock = ?", true)
	}
	if q.Cursor != "" {
		c, err := decodeCursor(q.Cursor, q.Sort)
		if err != nil {
			return Page[Product]{}, err
		}
		var key any = c.S
		if col != "name_key" {
			key = c.N
		}
		w.keyset(col, "product_id", desc, key, c.ID)
	}
	dir := " ASC"
	if desc {
		dir = " DESC"
	}
	v, err := r.db.View(ctx, Catalog{})
	if err != nil {
		return Page[Product]{}, err
	}
	defer v.Close()
	query := productSelect + w.sql() + " ORDER BY " + col + dir + ", product_id" + dir + w.limit(limit+1)
	rows, err := v.Query(ctx, query, w.args...)
	if err != nil {
		return Page[Product]{}, err
	}
	ps, nameKeys, err := scanProducts(rows)
	if err != nil {
		return Page[Product]{}, err
	}
	page := Page[Product]{Position: v.Position()}
	if len(ps) > limit {
		ps, nameKeys = ps[:limit], nameKeys[:limit]
		last := ps[limit-1]
		c := cursor{Sort: q.Sort, ID: last.ID}
		switch col {
		case "name_key":
			c.S = nameKeys[limit-1]
		case "price":
			c.N = last.MinPrice.Amount
		default:
			c.N = nanos(last.CreatedAt)
		}
		page.NextCursor = c.encode()
	}
	if err := loadVariants(ctx, v, ps); err != nil {
		return Page[Product]{}, err
	}
	page.Items = ps
	if page.Items == nil {
		page.Items = []Product{}
	}
	return page, nil
}

func scanProducts(rows *sql.Rows) ([]Product, []string, error) {
	defer rows.Close()
	var (
		out      []Product
		nameKeys []string
	)
	for rows.Next() {
		var (
			p                          Product
			images, metadata, currency string
			base, lo, hi               int64
			created, updated, pos      int64
			nameKey                    string
		)
		if err := rows.Scan(&p.ID, &p.SKU, &p.Name, &p.Description, &p.Category, &p.Brand, &images, &metadata,
			&currency, &base, &lo, &hi, &p.Status, &p.Available, &p.InStock, &created, &updated, &p.Version, &pos, &nameKey); err != nil {
			return nil, nil, err
		}
		p.Version-- // the table counts events; the API speaks 0-based stream versions
		if err := unmarshalOpt(images, &p.Images); err != nil {
			return nil, nil, err
		}
		if err := unmarshalOpt(metadata, &p.Metadata); err != nil {
			return nil, nil, err
		}
		if p.Images == nil {
			p.Images = []string{}
		}
		p.Price = domain.Money{Amount: base, Currency: currency}
		p.MinPrice = domain.Money{Amount: lo, Currency: currency}
		p.MaxPrice = domain.Money{Amount: hi, Currency: currency}
		p.CreatedAt, p.UpdatedAt, p.Position = fromNanos(created), fromNanos(updated), uint64(pos)
		p.Variants = []Variant{}
		out = append(out, p)
		nameKeys = append(nameKeys, nameKey)
	}
	return out, nameKeys, rows.Err()
}

func loadVariants(ctx context.Context, v *projections.View, ps []Product) error {
	if len(ps) == 0 {
		return nil
	}
	idx := map[string]int{}
	args := make([]any, len(ps))
	var b strings.Builder
	b.WriteString(`SELECT product_id, sku, attributes, price, currency, available FROM {catalog_variants} WHERE product_id IN (`)
	for i, p := range ps {
		idx[p.ID] = i
		args[i] = p.ID
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("$" + strconv.Itoa(i+1))
	}
	b.WriteString(`) ORDER BY product_id, ord`)
	rows, err := v.Query(ctx, b.String(), args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			pid, attrs string
			vr         Variant
		)
		if err := rows.Scan(&pid, &vr.SKU, &attrs, &vr.Price.Amount, &vr.Price.Currency, &vr.Available); err != nil {
			return err
		}
		if err := unmarshalOpt(attrs, &vr.Attributes); err != nil {
			return err
		}
		vr.InStock = vr.Available > 0
		p := &ps[idx[pid]]
		p.Variants = append(p.Variants, vr)
	}
	return rows.Err()
}

// Order is an order with its header and (for Order, or with OrderQuery.WithLines) lines.
type Order struct {
	ID                string           `json:"id"`
	CustomerID        string           `json:"customerId"`
	CartID            string           `json:"cartId,omitempty"`
	Status            string           `json:"status"`
	PaymentStatus     string           `json:"paymentStatus"`
	FulfillmentStatus string           `json:"fulfillmentStatus"`
	Currency          string           `json:"currency"`
	Totals            domain.Totals    `json:"totals"`
	Authorized        domain.Money     `json:"authorized"`
	Captured          domain.Money     `json:"captured"`
	Refunded          domain.Money     `json:"refunded"`
	CouponCode        string           `json:"couponCode,omitempty"`
	PaymentID         string           `json:"paymentId,omitempty"`
	ShippingAddress   domain.Address   `json:"shippingAddress"`
	BillingAddress    domain.Address   `json:"billingAddress"`
	Shipment          *domain.Shipment `json:"shipment,omitempty"`
	DeliveredAt       time.Time        `json:"deliveredAt,omitzero"`
	CancelledAt       time.Time        `json:"cancelledAt,omitzero"`
	CancelReason      string           `json:"cancelReason,omitempty"`
	PaymentFailure    string           `json:"paymentFailure,omitempty"`
	Refunds           []domain.Refund  `json:"refunds,omitempty"`
	// After payment: what happened to each line (fulfilled, cancelled, returned, restocked,
	// refunded, with amounts), the parcels, and the returns.
	Progress     []domain.OrderLineProgress `json:"progress,omitempty"`
	Fulfillments []domain.Fulfillment       `json:"fulfillments,omitempty"`
	Returns      []domain.Return            `json:"returns,omitempty"`
	// The latest edit (staged, confirming or closed) and the edits applied, with who, when
	// and the money they moved.
	Edit         *domain.OrderEdit    `json:"edit,omitempty"`
	AppliedEdits []domain.AppliedEdit `json:"appliedEdits,omitempty"`
	LineCount    int64                `json:"lineCount"`
	ItemCount    int64                `json:"itemCount"`
	Lines        []domain.Line        `json:"lines,omitempty"`
	PlacedAt     time.Time            `json:"placedAt"`
	UpdatedAt    time.Time            `json:"updatedAt"`
	// Version is the order stream's 0-based version (the command API's ETag); Position
	// is the last event's position.
	Version  int64  `json:"version"`
	Position uint64 `json:"position"`
}

// OrderQuery filters order history, newest first.
type OrderQuery struct {
	CustomerID string
	Status     string
	// From and To bound the placed time: From ≤ placedAt < To (zero: unbounded).
	From, To  time.Time
	WithLines bool
	Limit     int
	Cursor    string
}

// Order returns one order with its lines, and the orders projection's position.
func (r *Reader) Order(ctx context.Context, id string) (Order, uint64, error) {
	v, err := r.db.View(ctx, Orders{})
	if err != nil {
		return Order{}, 0, err
	}
	defer v.Close()
	rows, err := v.Query(ctx, `SELECT `+orderCols+` FROM {orders} WHERE order_id = $1`, id)
	if err != nil {
		return Order{}, 0, err
	}
	os, err := scanOrders(rows)
	if err != nil {
		return Order{}, 0, err
	}
	if len(os) == 0 {
		return Order{}, v.Position(), fmt.Errorf("order %s: %w", id, ErrNotFound)
	}
	if err := loadLines(ctx, v, os); err != nil {
		return Order{}, 0, err
	}
	return os[0], v.Position(), nil
}

// Orders lists orders, newest first, filtered by customer, status and placed time.
func (r *Reader) Orders(ctx context.Context, q OrderQuery) (Page[Order], error) {
	limit, err := pageLimit(q.Limit)
	if err != nil {
		return Page[Order]{}, err
	}
	var w where
	if q.CustomerID != "" {
		w.add("customer_id = ?", q.CustomerID)
	}
	if q.Status != "" {
		w.add("status = ?", q.Status)
	}
	if !q.From.IsZero() {
		w.add("placed_at >= ?", q.From.UnixNano())
	}
	if !q.To.IsZero() {
		w.add("placed_at < ?", q.To.UnixNano())
	}
	if q.Cursor != "" {
		c, err := decodeCursor(q.Cursor, "orders")
		if err != nil {
			return Page[Order]{}, err
		}
		w.keyset("placed_at", "order_id", true, c.N, c.ID)
	}
	v, err := r.db.View(ctx, Orders{})
	if err != nil {
		return Page[Order]{}, err
	}
	defer v.Close()
	query := `SELECT ` + orderCols + ` FROM {orders}` + w.sql() + ` ORDER BY placed_at DESC, order_id DESC` + w.limit(limit+1)
	rows, err := v.Query(ctx, query, w.args...)
	if err != nil {
		return Page[Order]{}, err
	}
	os, err := scanOrders(rows)
	if err != nil {
		return Page[Order]{}, err
	}
	page := Page[Order]{Position: v.Position(), Items: []Order{}}
	if len(os) > limit {
		os = os[:limit]
		last := os[limit-1]
		page.NextCursor = cursor{Sort: "orders", N: nanos(last.PlacedAt), ID: last.ID}.encode()
	}
	if q.WithLines {
		if err := loadLines(ctx, v, os); err != nil {
			return Page[Order]{}, err
		}
	}
	if os != nil {
		page.Items = os
	}
	return page, nil
}

func scanOrders(rows *sql.Rows) ([]Order, error) {
	defer rows.Close()
	var out []Order
	for rows.Next() {
		r, err := scanOrderRow(rows)
		if err != nil {
			return nil, err
		}
		o := r.o
		out = append(out, Order{
			ID: o.ID, CustomerID: o.CustomerID, CartID: o.CartID, Status: string(o.Status),
			PaymentStatus: string(o.PaymentStatus), FulfillmentStatus: string(o.FulfillmentStatus),
			Currency: o.Currency, Totals: o.Totals, Authorized: o.Authorized, Captured: o.Captured,
			Refunded: o.Refunded, CouponCode: o.CouponCode, PaymentID: o.PaymentID,
			ShippingAddress: o.ShippingAddress, BillingAddress: o.BillingAddress, Shipment: o.Shipment,
			DeliveredAt: fromNanos(r.deliveredAt), CancelledAt: fromNanos(r.cancelledAt),
			CancelReason: o.CancelReason, PaymentFailure: r.paymentFailure, Refunds: o.Refunds,
			Progress: o.Progress, Fulfillments: o.Fulfillments, Returns: o.Returns, Edit: o.Edit, AppliedEdits: o.AppliedEdits,
			LineCount: r.lineCount, ItemCount: r.itemCount, PlacedAt: o.PlacedAt, UpdatedAt: o.UpdatedAt,
			Version: r.version - 1, Position: uint64(r.position), // the table counts events
		})
	}
	return out, rows.Err()
}

func loadLines(ctx context.Context, v *projections.View, os []Order) error {
	if len(os) == 0 {
		return nil
	}
	idx := map[string]int{}
	args := make([]any, len(os))
	var b strings.Builder
	b.WriteString(`SELECT ` + lineCols + ` FROM {order_lines} WHERE order_id IN (`)
	for i, o := range os {
		idx[o.ID] = i
		args[i] = o.ID
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("$" + strconv.Itoa(i+1))
	}
	b.WriteString(`) ORDER BY order_id, line_no`)
	rows, err := v.Query(ctx, b.String(), args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id                               string
			no, rate                         int64
			l                                domain.Line
			unit, sub, disc, net, tax, gross int64
		)
		if err := rows.Scan(&id, &no, &l.SKU, &l.ProductID, &l.Name, &l.Quantity, &unit, &sub, &disc, &net, &tax,
			&gross, &rate, &l.TaxInclusive); err != nil {
			return err
		}
		o := &os[idx[id]]
		m := func(a int64) domain.Money { return domain.Money{Amount: a, Currency: o.Currency} }
		l.UnitPrice, l.Subtotal, l.Discount, l.Net, l.Tax, l.Gross = m(unit), m(sub), m(disc), m(net), m(tax), m(gross)
		l.TaxRate = domain.BasisPoints(rate)
		o.Lines = append(o.Lines, l)
	}
	return rows.Err()
}

// StockItem is a SKU's stock in total and per warehouse.
type StockItem struct {
	SKU        string           `json:"sku"`
	OnHand     int64            `json:"onHand"`
	Reserved   int64            `json:"reserved"`
	Available  int64            `json:"available"`
	LowStock   bool             `json:"lowStock"`
	Warehouses []WarehouseStock `json:"warehouses"`
	UpdatedAt  time.Time        `json:"updatedAt"`
	// Version is the SKU's inventory stream's 0-based version (the command API's ETag).
	Version  int64  `json:"version"`
	Position uint64 `json:"position"`
}

// WarehouseStock is a SKU's stock in one warehouse.
type WarehouseStock struct {
	Warehouse string    `json:"warehouse"`
	OnHand    int64     `json:"onHand"`
	Reserved  int64     `json:"reserved"`
	Available int64     `json:"available"`
	LowStock  bool      `json:"lowStock"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// Stock returns a SKU's stock, and the inventory projection's position.
func (r *Reader) Stock(ctx context.Context, sku string) (StockItem, uint64, error) {
	v, err := r.db.View(ctx, Inventory{})
	if err != nil {
		return StockItem{}, 0, err
	}
	defer v.Close()
	items, err := r.stockItems(ctx, v, ` WHERE sku = $1`, sku)
	if err != nil {
		return StockItem{}, 0, err
	}
	if len(items) == 0 {
		return StockItem{}, v.Position(), fmt.Errorf("stock of %s: %w", sku, ErrNotFound)
	}
	return items[0], v.Position(), nil
}

// StockQuery lists SKUs by available stock, lowest first.
type StockQuery struct {
	// LowOnly keeps SKUs at or below the low-stock threshold.
	LowOnly bool
	Limit   int
	Cursor  string
}

// StockItems lists SKUs by available stock (lowest first), with their warehouses.
func (r *Reader) StockItems(ctx context.Context, q StockQuery) (Page[StockItem], error) {
	limit, err := pageLimit(q.Limit)
	if err != nil {
		return Page[StockItem]{}, err
	}
	var w where
	if q.LowOnly {
		w.add("available <= ?", r.opt.LowStockThreshold)
	}
	if q.Cursor != "" {
		c, err := decodeCursor(q.Cursor, "stock")
		if err != nil {
			return Page[StockItem]{}, err
		}
		w.keyset("available", "sku", false, c.N, c.ID)
	}
	v, err := r.db.View(ctx, Inventory{})
	if err != nil {
		return Page[StockItem]{}, err
	}
	defer v.Close()
	tail := w.sql() + ` ORDER BY available, sku` + w.limit(limit+1)
	items, err := r.stockItems(ctx, v, tail, w.args...)
	if err != nil {
		return Page[StockItem]{}, err
	}
	page := Page[StockItem]{Position: v.Position(), Items: []StockItem{}}
	if len(items) > limit {
		items = items[:limit]
		last := items[limit-1]
		page.NextCursor = cursor{Sort: "stock", N: last.Available, ID: last.SKU}.encode()
	}
	if items != nil {
		page.Items = items
	}
	return page, nil
}

func (r *Reader) stockItems(ctx context.Context, v *projections.View, tail string, args ...any) ([]StockItem, error) {
	rows, err := v.Query(ctx, `SELECT sku, on_hand, reserved, available, updated_at, version, position FROM {inventory_items}`+tail, args...)
	if err != nil {
		return nil, err
	}
	var items []StockItem
	idx := map[string]int{}
	for rows.Next() {
		var (
			it      StockItem
			at, pos int64
		)
		if err := rows.Scan(&it.SKU, &it.OnHand, &it.Reserved, &it.Available, &at, &it.Version, &pos); err != nil {
			rows.Close()
			return nil, err
		}
		it.UpdatedAt, it.Position = fromNanos(at), uint64(pos)
		it.Version-- // the table counts events; the API speaks 0-based stream versions
		it.LowStock = it.Available <= r.opt.LowStockThreshold
		it.Warehouses = []WarehouseStock{}
		idx[it.SKU] = len(items)
		items = append(items, it)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil || len(items) == 0 {
		return items, err
	}
	var b strings.Builder
	largs := make([]any, len(items))
	b.WriteString(`SELECT sku, warehouse, on_hand, reserved, available, updated_at FROM {inventory_levels} WHERE sku IN (`)
	for i, it := range items {
		largs[i] = it.SKU
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("$" + strconv.Itoa(i+1))
	}
	b.WriteString(`) ORDER BY sku, warehouse`)
	lrows, err := v.Query(ctx, b.String(), largs...)
	if err != nil {
		return nil, err
	}
	defer lrows.Close()
	for lrows.Next() {
		var (
			sku string
			ws  WarehouseStock
			at  int64
		)
		if err := lrows.Scan(&sku, &ws.Warehouse, &ws.OnHand, &ws.Reserved, &ws.Available, &at); err != nil {
			return nil, err
		}
		ws.UpdatedAt = fromNanos(at)
		ws.LowStock = ws.Available <= r.opt.LowStockThreshold
		it := &items[idx[sku]]
		it.Warehouses = append(it.Warehouses, ws)
	}
	return items, lrows.Err()
}

// Position is a projection's live checkpoint (see projections.DB.WaitPosition to wait
// for one).
func (r *Reader) Position(ctx context.Context, projection string) (uint64, error) {
	return r.db.Position(ctx, projection)
}

func pageLimit(n int) (int, error) {
	switch {
	case n == 0:
		return DefaultLimit, nil
	case n < 0 || n > MaxLimit:
		return 0, fmt.Errorf("%w: limit must be between 1 and %d", ErrBadRequest, MaxLimit)
	}
	return n, nil
}

// where builds a WHERE clause with $n placeholders ("?" in add marks the argument).
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, arg any) {
	w.args = append(w.args, arg)
	w.conds = append(w.conds, strings.Replace(cond, "?", "$"+strconv.Itoa(len(w.args)), 1))
}

// keyset adds "(col, id) > (k, id)" (or < for descending order).
func (w *where) keyset(col, idCol string, desc bool, key any, id string) {
	op := ">"
	if desc {
		op = "<"
	}
	w.args = append(w.args, key, id)
	n := len(w.args)
	w.conds = append(w.conds, fmt.Sprintf("(%s, %s) %s ($%d, $%d)", col, idCol, op, n-1, n))
}

func (w *where) sql() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

func (w *where) limit(n int) string {
	w.args = append(w.args, n)
	return " LIMIT $" + strconv.Itoa(len(w.args))
}

// cursor is the keyset position after a page's last item.
type cursor struct {
	Sort string `json:"s"`
	N    int64  `json:"n,omitempty"`
	S    string `json:"k,omitempty"`
	ID   string `json:"i"`
}

func (c cursor) encode() string { return keyset.Encode(c) }

func decodeCursor(s, sort string) (cursor, error) {
	var c cursor
	if err := keyset.Decode(s, &c); err != nil || c.ID == "" {
		return c, ErrBadCursor
	}
	if c.Sort != sort {
		return c, fmt.Errorf("%w: it belongs to another sort order", ErrBadCursor)
	}
	return c, nil
}

// PendingOrders lists (up to limit) orders with a money movement recorded but not settled
// at the gateway (a capture, partial void or refund a crash interrupted), for a sweeper to
// finish (orderops.Ops.Settle).
func (r *Reader) PendingOrders(ctx context.Context, limit int) ([]string, error) {
	v, err := r.db.View(ctx, Orders{})
	if err != nil {
		return nil, err
	}
	defer v.Close()
	rows, err := v.Query(ctx, `SELECT order_id FROM {orders} WHERE pending = 1 ORDER BY order_id LIMIT $1`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}
