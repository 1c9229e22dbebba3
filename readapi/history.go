package readapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/orderengine/orderengine/auth"
	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/envelope"
	"github.com/orderengine/orderengine/eventstore"
)

// Event is a stored event with its metadata spelled out, as the history and export
// routes answer it. For admins and auditors Data and Metadata are the stored bytes
// (Metadata with the chain hash as its first key), so the chain can be re-verified from
// an export; other callers get a redacted form (Redacted true, see docs/privacy.md).
type Event struct {
	ID     string `json:"id"`
	Stream string `json:"stream"`
	Type   string `json:"type"`
	// Version is left out of a shared stream's event in a customer's history.
	Version        *uint64         `json:"version,omitempty"`
	Position       uint64          `json:"position"`
	RecordedAt     time.Time       `json:"recordedAt"`
	Actor          string          `json:"actor,omitempty"`
	CorrelationID  string          `json:"correlationId,omitempty"`
	CausationID    string          `json:"causationId,omitempty"`
	IdempotencyKey string          `json:"idempotencyKey,omitempty"`
	OccurredAt     time.Time       `json:"occurredAt,omitzero"`
	SchemaVersion  int             `json:"schemaVersion,omitempty"`
	ChainHash      string          `json:"chainHash,omitempty"`
	Data           json.RawMessage `json:"data"`
	Metadata       json.RawMessage `json:"metadata,omitempty"`
	// Redacted says Data lost personal or internal fields for the caller's role (and no
	// longer matches the chain hash) and Metadata is left out.
	Redacted bool `json:"redacted,omitempty"`
}

// toEvent spells out a recorded event; bytes that are not JSON are sent as a string.
func toEvent(rec eventstore.RecordedEvent) Event {
	var md envelope.Metadata
	_ = json.Unmarshal(rec.Metadata, &md)
	raw := func(b []byte) json.RawMessage {
		if len(b) == 0 {
			return json.RawMessage("null")
		}
		if !json.Valid(b) {
			s, _ := json.Marshal(string(b))
			return s
		}
		return b
	}
	return Event{
		ID: rec.ID.String(), Stream: rec.Stream, Type: rec.Type, Version: &rec.Version, Position: rec.Position,
		RecordedAt: rec.RecordedAt.UTC(), Actor: md.Actor, CorrelationID: md.CorrelationID, CausationID: md.CausationID,
		IdempotencyKey: md.IdempotencyKey, OccurredAt: md.OccurredAt, SchemaVersion: md.SchemaVersion, ChainHash: md.ChainHash,
		Data: raw(rec.Data), Metadata: raw(rec.Metadata),
	}
}

// StreamCheck says which part of a stream an order's history read and whether the hash
// chain links of that part verify (every event's hash over its predecessor's hash and
// its own content; the first event read is checked against version 0's zero hash only
// when the read started there).
type StreamCheck struct {
	Stream string `json:"stream"`
	// FromVersion and ToVersion bound the events read; Complete is true when the whole
	// stream was read (then the chain is verified from its start).
	FromVersion uint64 `json:"fromVersion"`
	ToVersion   uint64 `json:"toVersion"`
	Complete    bool   `json:"complete"`
	// Included counts the events of this stream in the history.
	Included      int    `json:"included"`
	ChainVerified bool   `json:"chainVerified"`
	BrokenAt      *int64 `json:"brokenAtVersion,omitempty"`
	Problem       string `json:"problem,omitempty"`
}

// OrderHistory is GET /v1/orders/{id}/events: every event about an order, in log order.
type OrderHistory struct {
	OrderID string        `json:"orderId"`
	Events  []Event       `json:"events"`
	Streams []StreamCheck `json:"streams"`
	// Position is the log's head when the history was read: every event up to it is in.
	Position uint64 `json:"position"`
}

// Streams of an order besides order-<id> (categories of packages readapi must not import).
const (
	categoryCheckout        = "checkout"        // the saga: checkout-<orderId>
	categoryCheckoutRequest = "checkoutrequest" // checkoutrequest-<orderId>
)

var orderEventsParams = []param{}

// orderEvents: GET /v1/orders/{id}/events — the order's stream, its checkout saga, its
// checkout request and payment streams, and the events of its SKUs' inventory streams and
// its coupon's promotion stream that concern it (correlationId or data.orderId equal to
// the order id), merged in global position order.
func (a *API) orderEvents(w http.ResponseWriter, r *http.Request) {
	if _, err := parseQuery(r, orderEventsParams); err != nil {
		a.fail(w, r, err)
		return
	}
	if a.stored == nil {
		a.fail(w, r, fmt.Errorf("order history: %w", ErrUnavailable))
		return
	}
	ctx := r.Context()
	id := chi.URLParam(r, "id")
	p, ownOnly := principal(r)
	head, err := a.stored.Head(ctx)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	orderRecs, err := readStream(ctx, a.stored, domain.CategoryOrder+"-"+id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	o, err := a.foldOrder(orderRecs, func(eventstore.RecordedEvent) bool { return true })
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if o == nil || (ownOnly && o.CustomerID != p.Subject) {
		a.fail(w, r, fmt.Errorf("order %s: %w", id, ErrNotFound))
		return
	}
	h := OrderHistory{OrderID: id, Events: []Event{}, Streams: []StreamCheck{}, Position: head}
	v := viewOf(p)
	add := func(recs []eventstore.RecordedEvent, check StreamCheck, keep func(eventstore.RecordedEvent) bool, shared bool) {
		for _, rec := range recs {
			if keep(rec) {
				h.Events = append(h.Events, redactEvent(toEvent(rec), v, p.Subject, shared))
				check.Included++
			}
		}
		// A customer does not learn how far shared streams have come.
		if !shared || v != viewCustomer {
			h.Streams = append(h.Streams, check)
		}
	}
	all := func(eventstore.RecordedEvent) bool { return true }
	add(orderRecs, verifyChain(domain.CategoryOrder+"-"+id, orderRecs, true), all, false)

	// Whole streams that belong to the order.
	whole := []string{categoryCheckout + "-" + id, categoryCheckoutRequest + "-" + id, domain.CategoryPayment + "-" + id}
	if o.PaymentID != "" && o.PaymentID != id {
		whole = append(whole, domain.CategoryPayment+"-"+o.PaymentID)
	}
	since := orderRecs[0].Position // nothing concerns the order before it was placed…
	for _, stream := range whole {
		recs, err := readStream(ctx, a.stored, stream)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		if len(recs) == 0 {
			continue
		}
		since = min(since, recs[0].Position) // …except its checkout request
		add(recs, verifyChain(stream, recs, true), all, false)
	}

	// Shared streams: only the events about this order.
	concerns := func(rec eventstore.RecordedEvent) bool { return concernsOrder(rec, id) }
	var shared []string
	for _, l := range o.Lines {
		shared = append(shared, domain.CategoryInventory+"-"+l.SKU)
	}
	if o.CouponCode != "" {
		shared = append(shared, domain.CategoryPromotion+"-"+o.CouponCode)
	}
	slices.Sort(shared)
	for _, stream := range slices.Compact(shared) {
		recs, complete, err := readStreamSince(ctx, a.stored, stream, since)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		if len(recs) == 0 {
			continue
		}
		add(recs, verifyChain(stream, recs, complete), concerns, true)
	}
	slices.SortFunc(h.Events, func(x, y Event) int { return cmpUint(x.Position, y.Position) })
	a.write(w, r, reply{body: h, tag: struct {
		E []Event
		S []StreamCheck
	}{h.Events, h.Streams}, position: head})
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// concernsOrder: an event of a shared stream is about the order when its metadata's
// correlation id or its data's orderId is the order id.
func concernsOrder(rec eventstore.RecordedEvent, orderID string) bool {
	var md struct {
		CorrelationID string `json:"correlationId"`
	}
	if json.Unmarshal(rec.Metadata, &md) == nil && md.CorrelationID == orderID {
		return true
	}
	if !bytes.Contains(rec.Data, []byte(orderID)) {
		return false
	}
	var d struct {
		OrderID string `json:"orderId"`
	}
	return json.Unmarshal(rec.Data, &d) == nil && d.OrderID == orderID
}

// readStreamSince reads a stream backwards from its end down to the first event before
// position since, and returns the events at or after since in stream order; complete is
// true when that reached version 0.
func readStreamSince(ctx context.Context, s EventStore, stream string, since uint64) ([]eventstore.RecordedEvent, bool, error) {
	var rev []eventstore.RecordedEvent
	from := eventstore.End
	for {
		recs, err := s.ReadStream(ctx, stream, eventstore.Backward, from, streamPage)
		if errors.Is(err, eventstore.ErrStreamNotFound) {
			return nil, true, nil
		}
		if err != nil {
			return nil, false, fmt.Errorf("read %s: %w", stream, err)
		}
		for _, rec := range recs {
			if rec.Position < since {
				slices.Reverse(rev)
				return rev, false, nil
			}
			rev = append(rev, rec)
		}
		if len(recs) < streamPage || recs[len(recs)-1].Version == 0 {
			slices.Reverse(rev)
			return rev, true, nil
		}
		from = recs[len(recs)-1].Version - 1
	}
}

// verifyChain checks the hash links of a contiguous run of a stream's events.
func verifyChain(stream string, recs []eventstore.RecordedEvent, complete bool) StreamCheck {
	c := StreamCheck{Stream: stream, Complete: complete && len(recs) > 0 && recs[0].Version == 0, ChainVerified: true}
	if len(recs) == 0 {
		return c
	}
	c.FromVersion, c.ToVersion = recs[0].Version, recs[len(recs)-1].Version
	var prev [32]byte
	for i, rec := range recs {
		broken := func(why string) StreamCheck {
			v := int64(rec.Version)
			c.ChainVerified, c.BrokenAt, c.Problem = false, &v, why
			return c
		}
		stored, orig, err := eventstore.SplitChainHash(rec.Metadata)
		if err != nil {
			return broken(err.Error())
		}
		if i > 0 && rec.Version != recs[i-1].Version+1 {
			return broken(fmt.Sprintf("version follows %d", recs[i-1].Version))
		}
		if i > 0 || rec.Version == 0 {
			if eventstore.ChainHash(prev, rec.ID, rec.Type, rec.Data, orig) != stored {
				return broken("chain hash does not match the event's content and its predecessor")
			}
		}
		prev = stored
	}
	return c
}

// EventPage is GET /v1/admin/events as JSON.
type EventPage struct {
	Items []Event `json:"items"`
	// NextAfter continues the export (after=NextAfter); absent at the end of the log.
	NextAfter *uint64 `json:"nextAfter,omitempty"`
	// Head is the log's last position when the page was read.
	Head uint64 `json:"head"`
}

var eventsParams = []param{
	{"after", integer, "exclusive global position to start after (default 0: the beginning)", "0", false},
	{"limit", integer, "events per page: JSON default 20, at most 100; NDJSON default 1000, at most Config.ExportMaxLimit (10,000)", "5", false},
	{"category", str, "only streams of this category (stream name prefix before the first '-'), e.g. order", "order", false},
	{"type", str, "only events of these types (repeat the parameter)", "order.placed", true},
}

const ndjson = "application/x-ndjson"

// exportEvents: GET /v1/admin/events — the global log, as JSON pages or, with
// Accept: application/x-ndjson, as one JSON event per line, streamed.
func (a *API) exportEvents(w http.ResponseWriter, r *http.Request) {
	q, err := parseQuery(r, eventsParams)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	stream := wantsNDJSON(r)
	after := q.uint64("after")
	def, maxLimit := DefaultLimit, MaxLimit
	if stream {
		def, maxLimit = 1000, a.exportMax
	}
	limit := q.limit(def, maxLimit)
	filter := eventstore.Filter{EventTypes: q.strs("type", 200)}
	if c := q.str("category", 200); c != "" {
		if strings.Contains(c, "-") {
			q.fail("category must not contain '-'")
		}
		filter.StreamPrefix = c + "-"
	}
	if err := q.err(); err != nil {
		a.fail(w, r, err)
		return
	}
	if a.stored == nil {
		a.fail(w, r, fmt.Errorf("the event log: %w", ErrUnavailable))
		return
	}
	ctx := r.Context()
	head, err := a.stored.Head(ctx)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if stream {
		a.streamEvents(w, r, after, limit, filter, head)
		return
	}
	recs, err := a.stored.ReadAll(ctx, after, limit, filter)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	page := EventPage{Items: make([]Event, len(recs)), Head: head}
	v := exportView(r)
	for i, rec := range recs {
		page.Items[i] = redactEvent(toEvent(rec), v, "", false)
	}
	link := ""
	if len(recs) == limit {
		next := recs[len(recs)-1].Position
		page.NextAfter = &next
		link = nextLink(r, "after", strconv.FormatUint(next, 10))
	}
	a.write(w, r, reply{body: page, tag: page.Items, position: head, link: link})
}

// streamEvents writes NDJSON, a page of the store at a time, flushing as it goes. The
// client continues after the last line's position; fewer lines than limit means the end.
func (a *API) streamEvents(w http.ResponseWriter, r *http.Request, after uint64, limit int, filter eventstore.Filter, head uint64) {
	ctx := r.Context()
	first, err := a.stored.ReadAll(ctx, after, min(limit, streamPage), filter)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", ndjson)
	h.Set("Cache-Control", "private, no-store")
	h.Set(HeaderPosition, strconv.FormatUint(head, 10))
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	v := exportView(r)
	sent, recs := 0, first
	for {
		for _, rec := range recs {
			if err := enc.Encode(redactEvent(toEvent(rec), v, "", false)); err != nil {
				return // the client went away
			}
			after = rec.Position
			sent++
		}
		if flusher != nil {
			flusher.Flush()
		}
		if len(recs) < streamPage || sent >= limit {
			return
		}
		if recs, err = a.stored.ReadAll(ctx, after, min(limit-sent, streamPage), filter); err != nil {
			// Headers are gone: end the stream short; the client resumes after its last line.
			if ctx.Err() == nil {
				a.log.Error("event export failed mid-stream", "after", after, "err", err)
			}
			return
		}
	}
}

// exportView is the export's view of the caller: admins and auditors get the stored
// bytes, everyone else (analysts) the analyst's redaction.
func exportView(r *http.Request) view {
	p, _ := auth.FromContext(r.Context())
	if v := viewOf(p); v == viewFull || v == viewAudit {
		return v
	}
	return viewAnalyst
}

// wantsNDJSON reports whether Accept names NDJSON (application/x-ndjson or
// application/ndjson) with a non-zero quality.
func wantsNDJSON(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil || (mt != ndjson && mt != "application/ndjson") {
			continue
		}
		if q, ok := params["q"]; ok {
			if f, err := strconv.ParseFloat(q, 64); err == nil && f == 0 {
				continue
			}
		}
		return true
	}
	return false
}
