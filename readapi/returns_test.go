package readapi_test

import (
	"testing"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/readapi"
)

func TestReturnsAndFulfilmentsRead(t *testing.T) {
	s := newStack(t, nil)
	sh := s.seedShop()
	s.caughtUp(sh.head)
	var ret domain.Return
	s.must(200, s.do("GET", "/v1/returns/"+sh.aliceReturn, "alice")).decode(t, &ret)
	if ret.ID != sh.aliceReturn || ret.OrderID != sh.aliceOrder || ret.Status != domain.ReturnRequested || len(ret.Lines) != 1 || ret.Lines[0].Reason != "too small" {
		t.Fatalf("return %+v", ret)
	}
	s.must(404, s.do("GET", "/v1/returns/"+sh.aliceReturn, "bob"))
	s.must(404, s.do("GET", "/v1/returns/"+sh.aliceOrder+".ret-nope", "admin"))
	s.must(404, s.do("GET", "/v1/returns/not-a-return", "admin"))
	var list readapi.ReturnList
	s.must(200, s.do("GET", "/v1/orders/"+sh.aliceOrder+"/returns", "auditor")).decode(t, &list)
	if len(list.Items) != 1 || list.Items[0].ID != sh.aliceReturn {
		t.Fatalf("returns %+v", list)
	}
	s.must(200, s.do("GET", "/v1/orders/"+sh.bobOrder+"/returns", "bob")).decode(t, &list)
	if len(list.Items) != 0 {
		t.Fatalf("bob's returns %+v", list)
	}

	// The order shows its parcel and per-line counts, now and rebuilt from its events.
	for _, q := range []string{"", "?asOf=2100-01-01T00:00:00Z"} {
		var o readapi.OrderView
		s.must(200, s.do("GET", "/v1/orders/"+sh.aliceOrder+q, "alice")).decode(t, &o)
		if o.Status != "delivered" || len(o.Fulfillments) != 1 || o.Fulfillments[0].DeliveredAt == nil || o.DeliveredAt.IsZero() ||
			len(o.Progress) != 2 || o.Progress[0].Fulfilled != 2 || o.Progress[0].ReturnRequested != 1 || len(o.Returns) != 1 {
			t.Fatalf("order%s: %s %+v %+v", q, o.Status, o.Fulfillments, o.Progress)
		}
	}
	var page struct{ Items []struct{ ID string } }
	s.must(200, s.do("GET", "/v1/orders?status=delivered", "admin")).decode(t, &page)
	if len(page.Items) != 1 || page.Items[0].ID != sh.aliceOrder {
		t.Fatalf("delivered orders: %+v", page.Items)
	}
	s.must(200, s.do("GET", "/v1/orders?status=partially_fulfilled", "admin"))
}
