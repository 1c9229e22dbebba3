package readapi_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/envelope"
	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/payment"
	"github.com/orderengine/orderengine/readapi"
)

// personal is what the fixture's orders hold of alice and her card: no redacted answer
// may contain any of it.
var personal = []string{home.Name, home.Line1, home.City, home.PostalCode, payment.TokenVisa, payment.TokenDecline}

// shipByStaff records an admin's order.shipped on the order, so histories name a staff subject.
func (s *stack) shipByStaff(orderID string) {
	s.t.Helper()
	reg := domain.NewDomainRegistry()
	ed, err := envelope.Encode(reg, uuid.New(), domain.OrderShipped{OrderID: orderID, Carrier: "DHL", TrackingNumber: "T1", At: time.Now()},
		envelope.Metadata{Actor: "root", CorrelationID: "staff-req", OccurredAt: time.Now()})
	if err != nil {
		s.t.Fatal(err)
	}
	if _, err := s.store.Append(s.ctx, "order-"+orderID, eventstore.StreamExists, ed); err != nil {
		s.t.Fatal(err)
	}
}

func containsAny(b []byte, needles []string) string {
	for _, n := range needles {
		if strings.Contains(string(b), n) {
			return n
		}
	}
	return ""
}

// TestExportRoleMatrix: who sees what of GET /v1/admin/events (JSON pages and NDJSON).
func TestExportRoleMatrix(t *testing.T) {
	s := newStack(t, nil)
	s.seedShop()
	for _, tc := range []struct {
		who      string
		status   int
		personal bool // sees the stored bytes, personal data included
	}{
		{"admin", 200, true}, {"auditor", 200, true}, {"analyst", 200, false},
		{"alice", 403, false}, {"none", 401, false},
	} {
		for _, accept := range []string{"application/json", ndjson} {
			r := s.do("GET", "/v1/admin/events?limit=100", tc.who, "Accept", accept)
			if r.status != tc.status {
				t.Fatalf("%s (%s): %d %s", tc.who, accept, r.status, r.body)
			}
			if tc.status != 200 {
				continue
			}
			leak := containsAny(r.body, personal)
			if tc.personal && leak == "" {
				t.Errorf("%s (%s) does not see the stored addresses and tokens", tc.who, accept)
			}
			if !tc.personal && leak != "" {
				t.Errorf("%s (%s) sees %q", tc.who, accept, leak)
			}
			var events []readapi.Event
			if accept == ndjson {
				events = ndjsonLines(t, r)
			} else {
				var p readapi.EventPage
				r.decode(t, &p)
				events = p.Items
			}
			for _, e := range events {
				if tc.personal == e.Redacted || (!tc.personal && (e.Metadata != nil || e.Actor != "" || e.ChainHash != "")) {
					t.Fatalf("%s: %+v", tc.who, e)
				}
				if !tc.personal && e.Type == "order.placed" {
					var d struct{ ShippingAddress domain.Address }
					if err := json.Unmarshal(e.Data, &d); err != nil || d.ShippingAddress.Country != "DE" || d.ShippingAddress.Name != readapi.Redacted {
						t.Fatalf("analyst's order.placed: %s", e.Data)
					}
				}
			}
		}
	}
	// The analyst's categories of the issue: orders, checkout requests, idempotency records.
	for _, c := range []string{"order", "checkoutrequest", "payment", "cart", "idempotency"} {
		r := s.must(200, s.do("GET", "/v1/admin/events?limit=100&category="+c, "analyst"))
		if leak := containsAny(r.body, personal); leak != "" {
			t.Errorf("category %s: the analyst sees %q", c, leak)
		}
	}
}

// TestHistoryRoleMatrix: who sees what of GET /v1/orders/{id}/events.
func TestHistoryRoleMatrix(t *testing.T) {
	s := newStack(t, nil)
	sh := s.seedShop()
	s.shipByStaff(sh.aliceOrder)
	path := "/v1/orders/" + sh.aliceOrder + "/events"
	s.must(403, s.do("GET", path, "analyst"))
	s.must(404, s.do("GET", path, "bob"))

	for _, who := range []string{"admin", "auditor"} {
		var h readapi.OrderHistory
		r := s.must(200, s.do("GET", path, who))
		r.decode(t, &h)
		if containsAny(r.body, personal) == "" || !strings.Contains(string(r.body), `"actor":"root"`) {
			t.Fatalf("%s does not see the stored history: %s", who, r.body)
		}
		for _, e := range h.Events {
			if e.Redacted || e.Version == nil || e.Metadata == nil || e.ChainHash == "" {
				t.Fatalf("%s: %+v", who, e)
			}
		}
	}

	var h readapi.OrderHistory
	r := s.must(200, s.do("GET", path, "alice"))
	r.decode(t, &h)
	if strings.Contains(string(r.body), "root") {
		t.Fatalf("the customer sees the staff subject: %s", r.body)
	}
	if leak := containsAny(r.body, []string{payment.TokenVisa}); leak != "" {
		t.Fatalf("the customer sees the payment token")
	}
	if !strings.Contains(string(r.body), home.Line1) {
		t.Fatal("the customer does not see her own shipping address")
	}
	staff, shared := false, 0
	for _, e := range h.Events {
		if !e.Redacted || e.Metadata != nil || e.ChainHash != "" || e.IdempotencyKey != "" {
			t.Fatalf("customer's event: %+v", e)
		}
		if e.Type == "order.shipped" {
			staff = e.Actor == "staff"
		}
		if strings.HasPrefix(e.Stream, "inventory-") {
			shared++
			if e.Version != nil || strings.Contains(string(e.Data), "allocations") {
				t.Fatalf("a shared stream's internals: %+v %s", e, e.Data)
			}
		} else if e.Version == nil {
			t.Fatalf("own stream without version: %+v", e)
		}
	}
	if !staff || shared == 0 {
		t.Fatalf("staff event shown as staff %v, %d inventory events", staff, shared)
	}
	for _, c := range h.Streams {
		if strings.HasPrefix(c.Stream, "inventory-") {
			t.Fatalf("the customer sees a shared stream's versions: %+v", c)
		}
	}
}
