package readmodel

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/projections"
)

// Orders is the order history read model: one row per order (status, payment and
// fulfilment status, totals, addresses, timestamps, customer) and its lines.
type Orders struct{}

var _ projections.Projection = Orders{}

func (Orders) Name() string { return "orders" }
func (Orders) Version() int { return 3 } // 2: after_sales (parcels, returns, per-line counts); 3: order edits

var orderEvents = []string{
	domain.OrderPlaced{}.EventType(), domain.OrderPaymentAuthorized{}.EventType(),
	domain.OrderPaymentFailed{}.EventType(), domain.OrderConfirmed{}.EventType(),
	domain.OrderPaymentCaptured{}.EventType(), domain.OrderPaymentVoided{}.EventType(),
	domain.OrderShipped{}.EventType(), domain.OrderDelivered{}.EventType(),
	domain.OrderCancelled{}.EventType(), domain.OrderRefunded{}.EventType(),
	domain.OrderFulfilled{}.EventType(), domain.OrderFulfillmentCaptured{}.EventType(),
	domain.OrderFulfillmentDelivered{}.EventType(), domain.OrderLinesCancelled{}.EventType(),
	domain.OrderAuthorizationReleased{}.EventType(), domain.OrderReturnRequested{}.EventType(),
	domain.OrderReturnApproved{}.EventType(), domain.OrderReturnRejected{}.EventType(),
	domain.OrderReturnReceived{}.EventType(), domain.OrderRefundRequested{}.EventType(),
	domain.CustomerErased{}.EventType(),
}

func (Orders) Filter() eventstore.Filter {
	return eventstore.Filter{EventTypes: append(append([]string{}, orderEvents...), orderEditEvents...)}
}

func (Orders) Tables() []projections.Table {
	return []projections.Table{
		{Name: "orders", Key: []string{"order_id"}, DDL: []string{
			`CREATE TABLE {orders} (
				order_id           {{text}} PRIMARY KEY,
				customer_id        {{text}} NOT NULL,
				cart_id            TEXT NOT NULL,
				status             {{text}} NOT NULL,
				payment_status     TEXT NOT NULL,
				fulfillment_status TEXT NOT NULL,
				currency           TEXT NOT NULL,
				subtotal           BIGINT NOT NULL,
				discount           BIGINT NOT NULL,
				net                BIGINT NOT NULL,
				tax                BIGINT NOT NULL,
				gross              BIGINT NOT NULL,
				shipping           BIGINT NOT NULL,
				grand_total        BIGINT NOT NULL,
				authorized         BIGINT NOT NULL,
				captured           BIGINT NOT NULL,
				refunded           BIGINT NOT NULL,
				coupon_code        TEXT NOT NULL,
				payment_id         TEXT NOT NULL,
				shipping_address   TEXT NOT NULL,
				billing_address    TEXT NOT NULL,
				carrier            TEXT NOT NULL,
				tracking_number    TEXT NOT NULL,
				shipped_at         BIGINT NOT NULL,
				delivered_at       BIGINT NOT NULL,
				cancelled_at       BIGINT NOT NULL,
				cancel_reason      TEXT NOT NULL,
				payment_failure    TEXT NOT NULL,
				refunds            TEXT NOT NULL,
				after_sales        TEXT NOT NULL,
				pending            BIGINT NOT NULL,
				line_count         BIGINT NOT NULL,
				item_count         BIGINT NOT NULL,
				placed_at          BIGINT NOT NULL,
				updated_at         BIGINT NOT NULL,
				version            BIGINT NOT NULL,
				position           BIGINT NOT NULL
			)`,
			`CREATE INDEX {orders}_customer ON {orders} (customer_id, placed_at, order_id)`,
			`CREATE INDEX {orders}_status ON {orders} (status, placed_at, order_id)`,
			`CREATE INDEX {orders}_placed ON {orders} (placed_at, order_id)`,
			`CREATE INDEX {orders}_pending ON {orders} (pending, order_id)`,
		}},
		{Name: "order_lines", Key: []string{"order_id", "line_no"}, DDL: []string{
			`CREATE TABLE {order_lines} (
				order_id      {{text}} NOT NULL,
				line_no       BIGINT NOT NULL,
				sku           {{text}} NOT NULL,
				product_id    TEXT NOT NULL,
				name          TEXT NOT NULL,
				quantity      BIGINT NOT NULL,
				unit_price    BIGINT NOT NULL,
				subtotal      BIGINT NOT NULL,
				discount      BIGINT NOT NULL,
				net           BIGINT NOT NULL,
				tax           BIGINT NOT NULL,
				gross         BIGINT NOT NULL,
				tax_rate      BIGINT NOT NULL,
				tax_inclusive BOOLEAN NOT NULL,
				PRIMARY KEY (order_id, line_no)
			)`,
			`CREATE INDEX {order_lines}_sku ON {order_lines} (sku, order_id)`,
		}},
	}
}

// orderRow is an order's state while a batch is applied; lines are written once, when
// the order is placed, and not loaded again.
type orderRow struct {
	o                 domain.Order
	deliveredAt       int64
	cancelledAt       int64
	paymentFailure    string
	lineCount         int64
	itemCount         int64
	version, position int64
	placed            []domain.Line // lines to insert (placed in this batch)
}

const orderCols = `order_id, customer_id, cart_id, status, payment_status, fulfillment_status, currency,
	subtotal, discount, net, tax, gross, shipping, grand_total, authorized, captured, refunded,
	coupon_code, payment_id, shipping_address, billing_address, carrier, tracking_number,
	shipped_at, delivered_at, cancelled_at, cancel_reason, payment_failure, refunds, after_sales, pending,
	line_count, item_count, placed_at, updated_at, version, position`

var orderColList = splitCols(orderCols)

const lineCols = `order_id, line_no, sku, product_id, name, quantity, unit_price, subtotal, discount,
	net, tax, gross, tax_rate, tax_inclusive`

var lineColList = splitCols(lineCols)

func orderID(e domain.Event) string {
	if id, ok := editOrderID(e); ok {
		return id
	}
	switch d := e.(type) {
	case domain.OrderPlaced:
		return d.OrderID
	case domain.OrderPaymentAuthorized:
		return d.OrderID
	case domain.OrderPaymentFailed:
		return d.OrderID
	case domain.OrderConfirmed:
		return d.OrderID
	case domain.OrderPaymentCaptured:
		return d.OrderID
	case domain.OrderPaymentVoided:
		return d.OrderID
	case domain.OrderShipped:
		return d.OrderID
	case domain.OrderDelivered:
		return d.OrderID
	case domain.OrderCancelled:
		return d.OrderID
	case domain.OrderRefunded:
		return d.OrderID
	case domain.OrderFulfilled:
		return d.OrderID
	case domain.OrderFulfillmentCaptured:
		return d.OrderID
	case domain.OrderFulfillmentDelivered:
		return d.OrderID
	case domain.OrderLinesCancelled:
		return d.OrderID
	case domain.OrderAuthorizationReleased:
		return d.OrderID
	case domain.OrderReturnRequested:
		return d.OrderID
	case domain.OrderReturnApproved:
		return d.OrderID
	case domain.OrderReturnRejected:
		return d.OrderID
	case domain.OrderReturnReceived:
		return d.OrderID
	case domain.OrderRefundRequested:
		return d.OrderID
	}
	return ""
}

// afterSales is the part of an order's state after payment kept as one JSON column: the
// per-line counts, parcels, returns, and money movements not settled yet, which the
// order's fold needs to go on.
type afterSales struct {
	Progress         []domain.OrderLineProgress `json:"progress,omitempty"`
	Fulfillments     []domain.Fulfillment       `json:"fulfillments,omitempty"`
	Returns          []domain.Return            `json:"returns,omitempty"`
	PendingRefunds   []domain.PendingRefund     `json:"pendingRefunds,omitempty"`
	PendingReleases  []domain.PendingRelease    `json:"pendingReleases,omitempty"`
	Cancellations    []string                   `json:"cancellations,omitempty"`
	ShippingRefunded bool                       `json:"shippingRefunded,omitempty"`
	DeliveredAt      *time.Time                 `json:"deliveredAt,omitempty"`
	Edit             *domain.OrderEdit          `json:"edit,omitempty"`
	AppliedEdits     []domain.AppliedEdit       `json:"appliedEdits,omitempty"`
}

func afterSalesOf(o domain.Order) afterSales {
	return afterSales{Progress: o.Progress, Fulfillments: o.Fulfillments, Returns: o.Returns, PendingRefunds: o.PendingRefunds,
		PendingReleases: o.PendingReleases, Cancellations: o.Cancellations, ShippingRefunded: o.ShippingRefunded, DeliveredAt: o.DeliveredAt,
		Edit: o.Edit, AppliedEdits: o.AppliedEdits}
}

func (a afterSales) into(o *domain.Order) {
	o.Progress, o.Fulfillments, o.Returns, o.PendingRefunds = a.Progress, a.Fulfillments, a.Returns, a.PendingRefunds
	o.PendingReleases, o.Cancellations, o.ShippingRefunded, o.DeliveredAt = a.PendingReleases, a.Cancellations, a.ShippingRefunded, a.DeliveredAt
	o.Edit, o.AppliedEdits = a.Edit, a.AppliedEdits
}

// Apply implements projections.Projection.
func (Orders) Apply(ctx context.Context, tx *projections.Tx, batch []projections.Event) error {
	// customer.erased scrubs the customer's rows after the batch's other events are in.
	var erased []string
	orders := batch[:0:0]
	for _, e := range batch {
		if c, ok := e.Data.(domain.CustomerErased); ok {
			erased = append(erased, c.CustomerID)
			continue
		}
		orders = append(orders, e)
	}
	batch = orders
	if err := applyOrders(ctx, tx, batch); err != nil {
		return err
	}
	return scrubCustomers(ctx, tx, erased)
}

// erasedAddress is what an erased customer's addresses read as (the country stays:
// it is not personal and tax audits need it).
func erasedAddress(country string) domain.Address {
	const x = "[erased]"
	return domain.Address{Name: x, Line1: x, City: x, PostalCode: x, Country: country}
}

// scrubCustomers replaces the personal data of the customers' orders (addresses,
// cancel reasons) by the erasure placeholder. Events read after the erasure open as
// "[erased]" anyway; this catches the rows written before.
func scrubCustomers(ctx context.Context, tx *projections.Tx, customers []string) error {
	for _, c := range customers {
		rows, err := tx.Query(ctx, `SELECT order_id, shipping_address, billing_address FROM {orders} WHERE customer_id = $1`, c)
		if err != nil {
			return err
		}
		type upd struct{ id, ship, bill string }
		var ups []upd
		for rows.Next() {
			var id, ship, bill string
			if err := rows.Scan(&id, &ship, &bill); err != nil {
				rows.Close()
				return err
			}
			var sa, ba domain.Address
			_ = json.Unmarshal([]byte(ship), &sa)
			_ = json.Unmarshal([]byte(bill), &ba)
			ups = append(ups, upd{id, marshal(erasedAddress(sa.Country)), marshal(erasedAddress(ba.Country))})
		}
		if err := rows.Close(); err != nil {
			return err
		}
		for _, u := range ups {
			if _, err := tx.Exec(ctx, `UPDATE {orders} SET shipping_address = $1, billing_address = $2,
				cancel_reason = CASE WHEN cancel_reason = '' THEN '' ELSE '[erased]' END WHERE order_id = $3`, u.ship, u.bill, u.id); err != nil {
				return err
			}
		}
	}
	return nil
}

func applyOrders(ctx context.Context, tx *projections.Tx, batch []projections.Event) error {
	if len(batch) == 0 {
		return nil
	}
	rows := map[string]*orderRow{}
	var load []any
	seen := map[string]bool{}
	for _, e := range batch {
		if id := orderID(e.Data); !seen[id] {
			seen[id] = true
			load = append(load, id)
		}
	}
	if err := tx.QueryIn(ctx, `SELECT `+orderCols+` FROM {orders} WHERE order_id IN {in}`, load, func(r *sql.Rows) error {
		o, err := scanOrderRow(r)
		if err == nil {
			rows[o.o.ID] = o
		}
		return err
	}); err != nil {
		return err
	}
	for _, e := range batch {
		id := orderID(e.Data)
		r := rows[id]
		if p, placed := e.Data.(domain.OrderPlaced); placed {
			if r != nil {
				return projections.Failed(e, fmt.Errorf("order %s placed twice", id))
			}
			r = &orderRow{placed: p.Lines, lineCount: int64(len(p.Lines))}
			for _, l := range p.Lines {
				r.itemCount += l.Quantity
			}
			rows[id] = r
		} else if r == nil {
			return projections.Failed(e, fmt.Errorf("order %s has not been placed", id))
		}
		r.o = domain.EvolveOrder(r.o, e.Data)
		r.o.Lines = nil
		r.applyEditLines(e.Data)
		switch d := e.Data.(type) {
		case domain.OrderPaymentFailed:
			r.paymentFailure = d.Reason
		case domain.OrderDelivered:
			r.deliveredAt = nanos(d.At)
		case domain.OrderCancelled:
			r.cancelledAt = nanos(d.At)
		}
		if r.deliveredAt == 0 && r.o.DeliveredAt != nil { // the last parcel arrived
			r.deliveredAt = nanos(*r.o.DeliveredAt)
		}
		r.version++
		r.position = int64(e.Position)
	}
	var orows, lrows [][]any
	for _, id := range sortedKeys(rows) {
		r := rows[id]
		o := r.o
		var carrier, tracking string
		var shippedAt int64
		if o.Shipment != nil {
			carrier, tracking, shippedAt = o.Shipment.Carrier, o.Shipment.TrackingNumber, nanos(o.Shipment.ShippedAt)
		}
		t := o.Totals
		orows = append(orows, []any{o.ID, o.CustomerID, o.CartID, string(o.Status), string(o.PaymentStatus),
			string(o.FulfillmentStatus), o.Currency, t.Subtotal.Amount, t.Discount.Amount, t.Net.Amount, t.Tax.Amount,
			t.Gross.Amount, t.Shipping.Amount, t.GrandTotal.Amount, o.Authorized.Amount, o.Captured.Amount,
			o.Refunded.Amount, o.CouponCode, o.PaymentID, marshal(o.ShippingAddress), marshal(o.BillingAddress),
			carrier, tracking, shippedAt, r.deliveredAt, r.cancelledAt, o.CancelReason, r.paymentFailure,
			marshal(o.Refunds), marshal(afterSalesOf(o)), boolInt(o.Pending() || o.EditConfirming()), r.lineCount, r.itemCount, nanos(o.PlacedAt), nanos(o.UpdatedAt), r.version, r.position})
		for i, l := range r.placed {
			lrows = append(lrows, []any{o.ID, int64(i), l.SKU, l.ProductID, l.Name, l.Quantity, l.UnitPrice.Amount,
				l.Subtotal.Amount, l.Discount.Amount, l.Net.Amount, l.Tax.Amount, l.Gross.Amount, int64(l.TaxRate), l.TaxInclusive})
		}
	}
	if err := tx.Upsert(ctx, "orders", orderColList, 1, orows); err != nil {
		return err
	}
	return tx.Upsert(ctx, "order_lines", lineColList, 2, lrows)
}

func scanOrderRow(r *sql.Rows) (*orderRow, error) {
	var (
		row                           orderRow
		o                             = &row.o
		status, pay, ful              string
		sub, disc, net, tax, gross    int64
		ship, grand, auth, capt, refd int64
		shipAddr, billAddr, refunds   string
		after                         string
		pending                       int64
		carrier, tracking             string
		shippedAt, placedAt, updated  int64
	)
	if err := r.Scan(&o.ID, &o.CustomerID, &o.CartID, &status, &pay, &ful, &o.Currency,
		&sub, &disc, &net, &tax, &gross, &ship, &grand, &auth, &capt, &refd,
		&o.CouponCode, &o.PaymentID, &shipAddr, &billAddr, &carrier, &tracking,
		&shippedAt, &row.deliveredAt, &row.cancelledAt, &o.CancelReason, &row.paymentFailure, &refunds, &after, &pending,
		&row.lineCount, &row.itemCount, &placedAt, &updated, &row.version, &row.position); err != nil {
		return nil, err
	}
	m := func(a int64) domain.Money { return domain.Money{Amount: a, Currency: o.Currency} }
	o.Status, o.PaymentStatus, o.FulfillmentStatus = domain.OrderStatus(status), domain.PaymentStatus(pay), domain.FulfillmentStatus(ful)
	o.Totals = domain.Totals{Subtotal: m(sub), Discount: m(disc), Net: m(net), Tax: m(tax), Gross: m(gross), Shipping: m(ship), GrandTotal: m(grand)}
	o.Authorized, o.Captured, o.Refunded = m(auth), m(capt), m(refd)
	if shippedAt != 0 {
		o.Shipment = &domain.Shipment{Carrier: carrier, TrackingNumber: tracking, ShippedAt: fromNanos(shippedAt)}
	}
	o.PlacedAt, o.UpdatedAt = fromNanos(placedAt), fromNanos(updated)
	for _, j := range []struct {
		s string
		v any
	}{{shipAddr, &o.ShippingAddress}, {billAddr, &o.BillingAddress}, {refunds, &o.Refunds}} {
		if err := unmarshalOpt(j.s, j.v); err != nil {
			return nil, err
		}
	}
	var as afterSales
	if err := unmarshalOpt(after, &as); err != nil {
		return nil, err
	}
	as.into(o)
	return &row, nil
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
