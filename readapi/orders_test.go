package readapi_test

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/payment"
	"github.com/orderengine/orderengine/readapi"
)

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

func TestReadYourWrites(t *testing.T) {
	// The wait bound is generous: a loaded CI machine under -race can take a while to
	// project one order; the stale checks below still prove the bound is kept.
	const maxWait = 1500 * time.Millisecond
	s := newStack(t, func(c *readapi.Config) { c.MaxWait = maxWait })
	s.product("p-tee", "TEE-1", "Blue Tee", "tees", "Acme", 1999, 10)
	for i := 0; i < 5; i++ {
		id, pos := s.place("alice", payment.TokenVisa, item{"TEE-1", 1})
		// The order is there as soon as the command answered, by query or header.
		r := s.must(200, s.do("GET", "/v1/orders/"+id+"?minPosition="+itoa(pos), "alice"))
		if r.header.Get("Orderengine-Stale") != "" || r.json(t)["id"] != id {
			t.Fatalf("read after write: %v %s", r.header, r.body)
		}
		if got, _ := strconv.ParseUint(r.header.Get("Orderengine-Position"), 10, 64); got < pos {
			t.Fatalf("position %d < %d", got, pos)
		}
		var page struct{ Items []struct{ ID string } }
		r = s.must(200, s.do("GET", "/v1/orders", "alice", "Orderengine-Position", itoa(pos)))
		r.decode(t, &page)
		if len(page.Items) != i+1 || page.Items[0].ID != id {
			t.Fatalf("order list after write: %s", r.body)
		}
	}
	// A product is in the catalog right after it was created.
	pos := s.product("p-new", "NEW-1", "New Thing", "things", "Acme", 100, 3)
	r := s.must(200, s.do("GET", "/v1/products/p-new?minPosition="+itoa(pos), ""))
	if r.header.Get("Orderengine-Stale") != "" || r.json(t)["available"] != float64(3) {
		t.Fatalf("product after write: %v %s", r.header, r.body)
	}
	s.must(200, s.do("GET", "/v1/inventory/NEW-1?minPosition="+itoa(pos), "admin"))

	// A position the projection will not reach in time: answered, marked stale, within the bound.
	for _, path := range []string{"/v1/orders", "/v1/products/p-new", "/v1/inventory/NEW-1", "/v1/products"} {
		start := time.Now()
		r = s.must(200, s.do("GET", path+"?minPosition="+itoa(pos+1_000_000), "admin"))
		took := time.Since(start)
		if r.header.Get("Orderengine-Stale") != "true" || took < maxWait || took > maxWait+3*time.Second {
			t.Fatalf("%s with a future minPosition: stale %q after %v", path, r.header.Get("Orderengine-Stale"), took)
		}
	}
	s.must(400, s.do("GET", "/v1/orders?minPosition=-1", "alice"))
	s.must(400, s.do("GET", "/v1/orders", "alice", "Orderengine-Position", "soon"))
}

func TestOrderAsOfAndVersion(t *testing.T) {
	s := newStack(t, nil)
	s.product("p-tee", "TEE-1", "Blue Tee", "tees", "Acme", 1999, 10)
	before := time.Now().UTC()
	time.Sleep(20 * time.Millisecond)
	id, _ := s.place("alice", payment.TokenVisa, item{"TEE-1", 2})
	time.Sleep(20 * time.Millisecond)
	mid := time.Now().UTC()
	time.Sleep(20 * time.Millisecond)
	head := s.checkout(id)
	s.caughtUp(head)

	var hist readapi.OrderHistory
	s.must(200, s.do("GET", "/v1/orders/"+id+"/events", "auditor")).decode(t, &hist)
	var orderEvents []readapi.Event
	for _, e := range hist.Events {
		if e.Stream == "order-"+id {
			orderEvents = append(orderEvents, e)
		}
	}
	last := *orderEvents[len(orderEvents)-1].Version
	if len(orderEvents) < 3 || last != uint64(len(orderEvents)-1) {
		t.Fatalf("order stream: %+v", orderEvents)
	}

	type view struct {
		ID, Status, PaymentStatus string
		Version                   int64
		Position                  uint64
		AsOf                      *time.Time
		AtVersion                 *uint64
		Lines                     []any
		Totals                    json.RawMessage
	}
	get := func(who, q string) view {
		t.Helper()
		var v view
		s.must(200, s.do("GET", "/v1/orders/"+id+q, who)).decode(t, &v)
		return v
	}
	v := get("auditor", "?asOf="+mid.Format(time.RFC3339Nano))
	if v.Status != "pending" || v.PaymentStatus != "pending" || v.Version != 0 || v.AsOf == nil || len(v.Lines) != 1 {
		t.Fatalf("as of %v: %+v", mid, v)
	}
	v = get("alice", "?version=0")
	if v.Status != "pending" || v.Version != 0 || v.AtVersion == nil || *v.AtVersion != 0 || v.Position != orderEvents[0].Position {
		t.Fatalf("version 0: %+v", v)
	}
	v = get("admin", "?version="+itoa(last))
	if v.Status != "paid" || v.PaymentStatus != "authorized" || v.Version != int64(last) {
		t.Fatalf("version %d: %+v", last, v)
	}
	// Rebuilt now, it equals the read model's order.
	now := get("auditor", "?asOf="+time.Now().UTC().Add(time.Second).Format(time.RFC3339Nano))
	live := get("auditor", "")
	if now.Status != live.Status || now.Version != live.Version || now.Position != live.Position || string(now.Totals) != string(live.Totals) {
		t.Fatalf("rebuilt %+v, read model %+v", now, live)
	}
	s.must(404, s.do("GET", "/v1/orders/"+id+"?asOf="+before.Format(time.RFC3339Nano), "auditor"))
	s.must(404, s.do("GET", "/v1/orders/"+id+"?version="+itoa(last+1), "auditor"))
	s.must(400, s.do("GET", "/v1/orders/"+id+"?version=0&asOf="+mid.Format(time.RFC3339), "auditor"))
	s.must(400, s.do("GET", "/v1/orders/"+id+"?asOf=yesterday", "auditor"))
	s.must(400, s.do("GET", "/v1/orders/"+id+"?version=-1", "auditor"))
	s.must(404, s.do("GET", "/v1/orders/"+id+"?version=0", "bob"))
	s.must(403, s.do("GET", "/v1/orders/"+id+"?version=0", "analyst"))
}

func TestOrderEventHistory(t *testing.T) {
	s := newStack(t, nil)
	sh := s.seedShop()
	var h readapi.OrderHistory
	r := s.must(200, s.do("GET", "/v1/orders/"+sh.aliceOrder+"/events", "auditor"))
	r.decode(t, &h)
	id := sh.aliceOrder

	streams := map[string]int{}
	types := map[string]bool{}
	for i, e := range h.Events {
		if i > 0 && e.Position <= h.Events[i-1].Position {
			t.Fatalf("events out of position order at %d: %d after %d", i, e.Position, h.Events[i-1].Position)
		}
		streams[e.Stream]++
		types[e.Type] = true
		if e.ChainHash == "" || e.RecordedAt.IsZero() || e.ID == "" || len(e.Data) == 0 || len(e.Metadata) == 0 {
			t.Fatalf("event without its metadata: %+v", e)
		}
		var d struct {
			OrderID string `json:"orderId"`
		}
		_ = json.Unmarshal(e.Data, &d)
		if strings.HasPrefix(e.Stream, "inventory-") && e.CorrelationID != id && d.OrderID != id {
			t.Fatalf("an inventory event of another order: %+v", e)
		}
		if d.OrderID == sh.bobOrder || strings.Contains(e.Stream, sh.bobOrder) || e.CorrelationID == sh.bobOrder {
			t.Fatalf("bob's event in alice's history: %+v", e)
		}
		if e.Type == "inventory.received" {
			t.Fatalf("a stock receipt in an order's history: %+v", e)
		}
		switch {
		case e.Type == "order.placed" && (e.Actor != "alice" || e.CorrelationID != "req-alice"):
			t.Fatalf("order.placed metadata: %+v", e)
		case strings.HasPrefix(e.Stream, "checkout-") && (e.Actor != "system:checkout" || e.CorrelationID != id):
			t.Fatalf("saga event metadata: %+v", e)
		}
	}
	for _, want := range []string{"order-" + id, "checkout-" + id, "checkoutrequest-" + id, "payment-" + id, "inventory-TEE-1", "inventory-MUG-1"} {
		if streams[want] == 0 {
			t.Errorf("no events of %s in the history (streams %v)", want, streams)
		}
	}
	for _, want := range []string{"order.placed", "order.confirmed", "checkoutrequest.recorded", "payment.authorized", "inventory.reserved", "inventory.committed"} {
		if !types[want] {
			t.Errorf("no %s in the history (types %v)", want, types)
		}
	}
	// Bob's order reserved the same SKU: his events are in the store, not in alice's history.
	tee, err := s.store.ReadStream(s.ctx, "inventory-TEE-1", eventstore.Forward, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(tee, func(e eventstore.RecordedEvent) bool { return strings.Contains(string(e.Data), sh.bobOrder) }) {
		t.Fatal("fixture: bob's order left no inventory events")
	}
	for _, c := range h.Streams {
		if !c.ChainVerified {
			t.Errorf("chain of %s: %+v", c.Stream, c)
		}
		if strings.HasPrefix(c.Stream, "order-") && (!c.Complete || c.FromVersion != 0) {
			t.Errorf("order stream check: %+v", c)
		}
	}
	if h.Position < h.Events[len(h.Events)-1].Position || r.header.Get("Orderengine-Position") != itoa(h.Position) {
		t.Fatalf("position %d (header %s) before the last event %d", h.Position, r.header.Get("Orderengine-Position"), h.Events[len(h.Events)-1].Position)
	}
	// The owner sees the same events (redacted, see TestHistoryRoleMatrix); the ETag revalidates.
	own := s.must(200, s.do("GET", "/v1/orders/"+sh.aliceOrder+"/events", "alice"))
	var oh readapi.OrderHistory
	own.decode(t, &oh)
	if len(oh.Events) != len(h.Events) {
		t.Fatalf("the owner sees %d events, the auditor %d", len(oh.Events), len(h.Events))
	}
	for i := range oh.Events {
		if oh.Events[i].ID != h.Events[i].ID {
			t.Fatalf("event %d: the owner sees %s, the auditor %s", i, oh.Events[i].ID, h.Events[i].ID)
		}
	}
	s.must(304, s.do("GET", "/v1/orders/"+sh.aliceOrder+"/events", "alice", "If-None-Match", own.header.Get("ETag")))
	s.must(404, s.do("GET", "/v1/orders/"+sh.aliceOrder+"/events", "bob"))
	s.must(403, s.do("GET", "/v1/orders/"+sh.aliceOrder+"/events", "analyst"))

	// The declined order's history shows the compensation: reservation released.
	var d readapi.OrderHistory
	s.must(200, s.do("GET", "/v1/orders/"+sh.aliceDeclined+"/events", "admin")).decode(t, &d)
	got := map[string]bool{}
	for _, e := range d.Events {
		got[e.Type] = true
	}
	for _, want := range []string{"payment.declined", "inventory.reserved", "inventory.released", "order.cancelled"} {
		if !got[want] {
			t.Errorf("declined order: no %s (got %v)", want, got)
		}
	}
}

func TestOrderList(t *testing.T) {
	s := newStack(t, nil)
	sh := s.seedShop()
	s.caughtUp(sh.head)
	type orderPage struct {
		Items      []struct{ ID, Status string }
		NextCursor string
	}
	var page orderPage
	r := s.must(200, s.do("GET", "/v1/orders?limit=1", "alice"))
	r.decode(t, &page)
	if len(page.Items) != 1 || page.Items[0].ID != sh.aliceDeclined || page.NextCursor == "" || !strings.Contains(r.header.Get("Link"), `rel="next"`) {
		t.Fatalf("first page: %s %v", r.body, r.header)
	}
	next := page.NextCursor
	page = orderPage{}
	s.must(200, s.do("GET", "/v1/orders?limit=1&cursor="+next, "alice")).decode(t, &page)
	if len(page.Items) != 1 || page.Items[0].ID != sh.aliceOrder || page.NextCursor != "" {
		t.Fatalf("second page: %+v", page)
	}
	s.must(200, s.do("GET", "/v1/orders?status=cancelled", "admin")).decode(t, &page)
	if len(page.Items) != 1 || page.Items[0].ID != sh.aliceDeclined {
		t.Fatalf("cancelled orders: %+v", page)
	}
	s.must(200, s.do("GET", "/v1/orders?from=2100-01-01", "admin")).decode(t, &page)
	if len(page.Items) != 0 {
		t.Fatalf("orders from 2100: %+v", page)
	}
	s.must(200, s.do("GET", "/v1/orders?to="+time.Now().Add(time.Hour).UTC().Format(time.RFC3339), "auditor")).decode(t, &page)
	if len(page.Items) != 3 {
		t.Fatalf("every order: %+v", page)
	}
	r = s.must(200, s.do("GET", "/v1/orders", "alice"))
	s.must(304, s.do("GET", "/v1/orders", "alice", "If-None-Match", r.header.Get("ETag")))
	s.must(400, s.do("GET", "/v1/orders?status=lost", "alice"))
	s.must(400, s.do("GET", "/v1/orders?from=last-week", "alice"))
	s.must(400, s.do("GET", "/v1/orders?cursor=garbage", "alice"))
	s.must(400, s.do("GET", "/v1/orders?limit=101", "alice"))
}
