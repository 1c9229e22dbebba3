package readapi

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/envelope"
	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/httpapi"
	"github.com/orderengine/orderengine/problem"
	"github.com/orderengine/orderengine/projections/readmodel"
)

var orderStatuses = []string{
	string(domain.OrderStatusPending), string(domain.OrderStatusPaid), string(domain.OrderStatusShipped),
	string(domain.OrderStatusDelivered), string(domain.OrderStatusCancelled),
	string(domain.OrderStatusPartiallyFulfilled), string(domain.OrderStatusFulfilled),
	string(domain.OrderStatusPartiallyReturned), string(domain.OrderStatusReturned),
}

var ordersParams = []param{
	{"status", enum(orderStatuses...), "only orders in this status", "paid", false},
	{"from", dateTime, "placed at or after (RFC 3339 or a date)", "2020-01-01T00:00:00Z", false},
	{"to", dateTime, "placed before (RFC 3339 or a date)", "2100-01-01", false},
	{"customerId", str, "admins and auditors: one customer's orders. A customer may only pass their own id (403 otherwise)", "", false},
	pLimit, pCursor, pMinPosition,
}

var orderParams = []param{
	{"asOf", dateTime, "the order as it stood at this time, rebuilt from its events (those recorded at or before it)", "2100-01-01T00:00:00Z", false},
	{"version", integer, "the order as it stood after its event of this stream version (0-based, as in /events and the command API's ETag), rebuilt from its events", "0", false},
	pMinPosition,
}

// listOrders: GET /v1/orders — newest first; a customer gets only their own.
func (a *API) listOrders(w http.ResponseWriter, r *http.Request) {
	q, err := parseQuery(r, ordersParams)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	p, ownOnly := principal(r)
	oq := readmodel.OrderQuery{
		CustomerID: q.str("customerId", 200),
		Status:     q.oneOf("status", orderStatuses...),
		From:       q.time("from"),
		To:         q.time("to"),
		Limit:      q.limit(DefaultLimit, MaxLimit),
		Cursor:     q.str("cursor", 1000),
	}
	atLeast := q.minPosition(r)
	if err := q.err(); err != nil {
		a.fail(w, r, err)
		return
	}
	if ownOnly {
		if oq.CustomerID != "" && oq.CustomerID != p.Subject {
			httpapi.WriteProblem(w, r, problem.Forbidden("customerId: a customer can only list their own orders; leave it out"))
			return
		}
		oq.CustomerID = p.Subject
	}
	if err := a.await(r.Context(), projOrders, atLeast); err != nil {
		a.fail(w, r, err)
		return
	}
	page, err := a.reader.Orders(r.Context(), oq)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.write(w, r, reply{body: page, tag: pageTag(page.Items, page.NextCursor), position: page.Position, min: atLeast,
		link: nextLink(r, "cursor", page.NextCursor)})
}

// OrderView is an order as GET /v1/orders/{id} answers it: the read model's order, or
// with asOf or version, the order rebuilt from its events (AsOf / AtVersion say which).
type OrderView struct {
	readmodel.Order
	AsOf      *time.Time `json:"asOf,omitempty"`
	AtVersion *uint64    `json:"atVersion,omitempty"`
}

// getOrder: GET /v1/orders/{id}[?asOf=|?version=] — the owner, admins and auditors.
func (a *API) getOrder(w http.ResponseWriter, r *http.Request) {
	q, err := parseQuery(r, orderParams)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	asOf := q.time("asOf")
	version := q.int64("version", 0, math.MaxInt64)
	atLeast := q.minPosition(r)
	if q.has("asOf") && q.has("version") {
		q.fail("give asOf or version, not both")
	}
	if err := q.err(); err != nil {
		a.fail(w, r, err)
		return
	}
	id := chi.URLParam(r, "id")
	p, ownOnly := principal(r)
	if q.has("asOf") || q.has("version") {
		a.historicOrder(w, r, id, asOf, version, p.Subject, ownOnly)
		return
	}
	if err := a.await(r.Context(), projOrders, atLeast); err != nil {
		a.fail(w, r, err)
		return
	}
	o, pos, err := a.reader.Order(r.Context(), id)
	if err == nil && ownOnly && o.CustomerID != p.Subject {
		err = fmt.Errorf("order %s: %w", id, readmodel.ErrNotFound) // someone else's: as if absent
	}
	if err != nil {
		a.failAt(w, r, err, pos, atLeast)
		return
	}
	a.write(w, r, reply{body: OrderView{Order: o}, position: pos, min: atLeast})
}

// historicOrder rebuilds an order from its stream up to a time or a version.
func (a *API) historicOrder(w http.ResponseWriter, r *http.Request, id string, asOf time.Time, version *int64, subject string, ownOnly bool) {
	if a.events == nil {
		a.fail(w, r, fmt.Errorf("order history: %w", ErrUnavailable))
		return
	}
	ctx := r.Context()
	head, err := a.events.Head(ctx)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	recs, err := readStream(ctx, a.events, domain.CategoryOrder+"-"+id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	all, err := a.foldOrder(recs, func(eventstore.RecordedEvent) bool { return true })
	if err != nil {
		a.fail(w, r, err)
		return
	}
	notFound := fmt.Errorf("order %s: %w", id, ErrNotFound)
	if all == nil || (ownOnly && all.CustomerID != subject) {
		a.fail(w, r, notFound)
		return
	}
	view := OrderView{}
	var keep func(eventstore.RecordedEvent) bool
	if version != nil {
		v := uint64(*version)
		keep = func(e eventstore.RecordedEvent) bool { return e.Version <= v }
		view.AtVersion = &v
		if v >= uint64(len(recs)) {
			a.fail(w, r, fmt.Errorf("order %s has no version %d (its last is %d): %w", id, v, len(recs)-1, ErrNotFound))
			return
		}
	} else {
		t := asOf.UTC()
		keep = func(e eventstore.RecordedEvent) bool { return !e.RecordedAt.After(t) }
		view.AsOf = &t
	}
	o, err := a.foldOrder(recs, keep)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if o == nil {
		a.fail(w, r, fmt.Errorf("order %s had not been placed at %s: %w", id, asOf.UTC().Format(time.RFC3339Nano), ErrNotFound))
		return
	}
	view.Order = *o
	a.write(w, r, reply{body: view, position: head})
}

// foldOrder folds the events keep selects (a prefix of the stream) into the read model's
// order shape; nil when no event was kept.
func (a *API) foldOrder(recs []eventstore.RecordedEvent, keep func(eventstore.RecordedEvent) bool) (*readmodel.Order, error) {
	var (
		s    domain.Order
		last *eventstore.RecordedEvent
		out  readmodel.Order
	)
	for i := range recs {
		rec := recs[i]
		if !keep(rec) {
			break
		}
		e, _, err := envelope.Decode(a.reg, rec)
		if err != nil {
			return nil, err
		}
		s = domain.EvolveOrder(s, e)
		switch e := e.(type) {
		case domain.OrderDelivered:
			out.DeliveredAt = e.At
		case domain.OrderCancelled:
			out.CancelledAt = e.At
		case domain.OrderPaymentFailed:
			out.PaymentFailure = e.Reason
		}
		last = &recs[i]
	}
	if last == nil || !s.Exists() {
		return nil, nil
	}
	out.ID, out.CustomerID, out.CartID = s.ID, s.CustomerID, s.CartID
	out.Status, out.PaymentStatus, out.FulfillmentStatus = string(s.Status), string(s.PaymentStatus), string(s.FulfillmentStatus)
	out.Currency, out.Totals = s.Currency, s.Totals
	out.Authorized, out.Captured, out.Refunded = s.Authorized, s.Captured, s.Refunded
	out.CouponCode, out.PaymentID = s.CouponCode, s.PaymentID
	out.ShippingAddress, out.BillingAddress, out.Shipment = s.ShippingAddress, s.BillingAddress, s.Shipment
	out.CancelReason, out.Refunds, out.Lines = s.CancelReason, s.Refunds, s.Lines
	out.Progress, out.Fulfillments, out.Returns = s.Progress, s.Fulfillments, s.Returns
	if s.DeliveredAt != nil && out.DeliveredAt.IsZero() {
		out.DeliveredAt = *s.DeliveredAt
	}
	out.LineCount = int64(len(s.Lines))
	for _, l := range s.Lines {
		out.ItemCount += l.Quantity
	}
	out.PlacedAt, out.UpdatedAt = s.PlacedAt, s.UpdatedAt
	out.Version, out.Position = int64(last.Version), last.Position
	return &out, nil
}

// readStream reads a whole stream forward; nil when it does not exist.
func readStream(ctx context.Context, s EventStore, stream string) ([]eventstore.RecordedEvent, error) {
	var out []eventstore.RecordedEvent
	for from := uint64(0); ; {
		recs, err := s.ReadStream(ctx, stream, eventstore.Forward, from, streamPage)
		if errors.Is(err, eventstore.ErrStreamNotFound) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", stream, err)
		}
		out = append(out, recs...)
		if len(recs) < streamPage {
			return out, nil
		}
		from = recs[len(recs)-1].Version + 1
	}
}

const streamPage = 1000
