package main

import (
	"fmt"
	"testing"

	"github.com/orderengine/orderengine/auth"
)

// TestE2EOrderEdit adds a line to a paid order over HTTP on each tier: preview, confirm,
// the extra authorization at the gateway, the read model, the history before and after,
// the stock; then a declined and an out-of-stock confirmation change nothing.
func TestE2EOrderEdit(t *testing.T) {
	for _, tr := range tiers(t) {
		t.Run(tr.name, func(t *testing.T) {
			e := newE2E(t, tr.open(t), 0)
			admin := e.token("root", auth.RoleAdmin)
			e.product(admin, "EDT-TEE", 2000, 10)
			e.product(admin, "EDT-CAP", 1500, 5)
			alice := e.token("alice", auth.RoleCustomer)
			r := e.must(201, e.placeOrder(alice, e.cart(alice, map[string]int64{"EDT-TEE": 2}), "tok_visa"))
			id := r.field("order", "id").(string)
			before := e.must(200, e.do("GET", "/v1/orders/"+id+"?minPosition="+r.header.Get("Orderengine-Position"), admin, nil))
			version := int64(before.field("version").(float64)) // 0-based: the ETag
			grand := before.field("totals", "grandTotal", "amount").(float64)
			authBefore := e.app.gateway.Authorizations(id)[0].Amount.Amount

			base := "/v1/orders/" + id + "/edits"
			e.must(428, e.do("POST", base, admin, nil))
			e.must(412, e.do("POST", base, admin, nil, "If-Match", fmt.Sprintf(`"%d"`, version+7)))
			e.must(403, e.do("POST", base, alice, nil, "If-Match", fmt.Sprintf(`"%d"`, version)))
			op := e.must(201, e.do("POST", base, admin, nil, "If-Match", fmt.Sprintf(`"%d"`, version)))
			eid := op.field("edit", "id").(string)
			if op.header.Get("Location") != base+"/"+eid || op.field("edit", "status") != "open" {
				t.Fatalf("open: %s %s", op.header.Get("Location"), short(op.body))
			}
			e.must(400, e.do("POST", base+"/"+eid+"/items", admin, map[string]any{"sku": "EDT-CAP", "quantity": 1, "price": 1}))
			e.must(422, e.do("POST", base+"/"+eid+"/items", admin, map[string]any{"sku": "EDT-NOPE", "quantity": 1}))
			pv := e.must(200, e.do("POST", base+"/"+eid+"/items", admin, map[string]any{"sku": "EDT-CAP", "quantity": 1}))
			if pv.field("preview", "toAuthorize", "amount") != 1500.0 || pv.field("preview", "totals", "grandTotal", "amount") != grand+1500 {
				t.Fatalf("preview: %s", short(pv.body))
			}
			got := e.must(200, e.do("GET", base+"/"+eid, admin, nil))
			if got.field("preview", "difference", "amount") != 1500.0 {
				t.Fatalf("GET preview: %s", short(got.body))
			}
			c := e.must(200, e.do("POST", base+"/"+eid+"/confirm", admin, nil, "Idempotency-Key", "confirm-1"))
			if c.field("edit", "status") != "applied" {
				t.Fatalf("confirm: %s", short(c.body))
			}
			e.must(200, e.do("POST", base+"/"+eid+"/confirm", admin, nil, "Idempotency-Key", "confirm-1"))
			if a := e.app.gateway.Authorizations(id)[0].Amount.Amount; a != authBefore+1500 || e.app.gateway.Calls("increment") != 1 {
				t.Fatalf("gateway authorization %d, was %d (%d increments)", a, authBefore, e.app.gateway.Calls("increment"))
			}
			// The read model and the history show it.
			after := e.must(200, e.do("GET", "/v1/orders/"+id+"?minPosition="+c.header.Get("Orderengine-Position"), alice, nil))
			if after.field("totals", "grandTotal", "amount") != grand+1500 || after.field("lineCount") != 2.0 ||
				after.field("edit", "status") != "applied" || after.field("authorized", "amount") != float64(authBefore+1500) {
				t.Fatalf("order after the edit: %s", short(after.body))
			}
			if eds, _ := after.field("appliedEdits").([]any); len(eds) != 1 || eds[0].(map[string]any)["by"] != "root" {
				t.Fatalf("applied edits: %v", after.field("appliedEdits"))
			}
			atOpen := e.must(200, e.do("GET", fmt.Sprintf("/v1/orders/%s?version=%d", id, version), admin, nil))
			last := int64(after.field("version").(float64))
			atEnd := e.must(200, e.do("GET", fmt.Sprintf("/v1/orders/%s?version=%d", id, last), admin, nil))
			if atOpen.field("totals", "grandTotal", "amount") != grand || atEnd.field("totals", "grandTotal", "amount") != grand+1500 {
				t.Fatalf("history: before %s, after %s", short(atOpen.body), short(atEnd.body))
			}
			hist := e.must(200, e.do("GET", "/v1/orders/"+id+"/events", admin, nil))
			types := map[string]int{}
			for _, ev := range hist.field("events").([]any) {
				types[ev.(map[string]any)["type"].(string)]++
			}
			if types["order.edit_applied"] != 1 || types["payment.authorization_increased"] != 1 || types["inventory.committed"] < 2 {
				t.Fatalf("order history: %v", types)
			}
			if inv := e.stockHistory("EDT-CAP").Totals(); inv.OnHand != 4 || inv.Reserved != 0 {
				t.Fatalf("EDT-CAP stock: %+v", inv)
			}

			// A second edit: out of stock (409), then declined (402), nothing changes.
			v2 := int64(after.field("version").(float64))
			op = e.must(201, e.do("POST", base, admin, nil, "If-Match", fmt.Sprintf(`"%d"`, v2)))
			eid = op.field("edit", "id").(string)
			e.must(200, e.do("PATCH", base+"/"+eid+"/items/EDT-CAP", admin, map[string]any{"quantity": 50}))
			e.must(409, e.do("POST", base+"/"+eid+"/confirm", admin, nil))
			e.must(200, e.do("PATCH", base+"/"+eid+"/items/EDT-CAP", admin, map[string]any{"quantity": 2}))
			e.app.gateway.LimitCard(id, authBefore+1500)
			d := e.must(402, e.do("POST", base+"/"+eid+"/confirm", admin, nil))
			if d.header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("declined: %s %s", d.header.Get("Content-Type"), short(d.body))
			}
			if inv := e.stockHistory("EDT-CAP").Totals(); inv.OnHand != 4 || inv.Reserved != 0 {
				t.Fatalf("EDT-CAP stock after failed confirmations: %+v", inv)
			}
			still := e.must(200, e.do("GET", base+"/"+eid, admin, nil))
			if still.field("edit", "status") != "open" || e.app.gateway.Authorizations(id)[0].Amount.Amount != authBefore+1500 {
				t.Fatalf("after a declined confirmation: %s", short(still.body))
			}
			e.must(200, e.do("POST", base+"/"+eid+"/cancel", admin, nil))
			e.must(409, e.do("POST", base+"/"+eid+"/confirm", admin, nil))
		})
	}
}
