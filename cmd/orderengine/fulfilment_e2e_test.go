package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orderengine/orderengine/auth"
	"github.com/orderengine/orderengine/commands"
	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/eventregistry"
)

// num reads a JSON number at path as int64.
func num(r httpResp, path ...string) int64 {
	f, _ := r.field(path...).(float64)
	return int64(f)
}

// TestE2EFulfilInPartsReturnRefund walks an order through two parcels, a return received
// with restock, a refund by line and a cancellation of lines, over HTTP on each tier.
func TestE2EFulfilInPartsReturnRefund(t *testing.T) {
	for _, tr := range tiers(t) {
		t.Run(tr.name, func(t *testing.T) {
			e := newE2E(t, tr.open(t), 0)
			admin := e.token("root", auth.RoleAdmin)
			alice := e.token("alice", auth.RoleCustomer)
			e.product(admin, "FUL-TEE", 2000, 5)
			e.product(admin, "FUL-MUG", 900, 5)
			r := e.must(201, e.placeOrder(alice, e.cart(alice, map[string]int64{"FUL-TEE": 2, "FUL-MUG": 1}), "tok_visa"))
			id, _ := r.field("order", "id").(string)
			grand := num(r, "order", "totals", "grandTotal", "amount")
			shipping := num(r, "order", "totals", "shipping", "amount")
			if r.field("order", "status") != "paid" {
				t.Fatalf("placed: %s", short(r.body))
			}

			// Parcel 1: one shirt from "main"; replaying its Idempotency-Key changes nothing.
			p1 := map[string]any{"lines": []any{map[string]any{"sku": "FUL-TEE", "quantity": 1}}, "warehouse": "main", "carrier": "DHL", "trackingNumber": "P-1"}
			r = e.must(201, e.do("POST", "/v1/orders/"+id+"/fulfillments", admin, p1, "Idempotency-Key", "parcel-1"))
			if r.field("status") != "partially_fulfilled" || num(r, "captured", "amount") != 2000+shipping {
				t.Fatalf("parcel 1: %s", short(r.body))
			}
			e.must(201, e.do("POST", "/v1/orders/"+id+"/fulfillments", admin, p1, "Idempotency-Key", "parcel-1"))
			tooMany := map[string]any{"lines": []any{map[string]any{"sku": "FUL-TEE", "quantity": 2}}, "carrier": "DHL", "trackingNumber": "P-x"}
			if r := e.do("POST", "/v1/orders/"+id+"/fulfillments", admin, tooMany); r.status != 409 || r.header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("beyond what is left: %d %s", r.status, short(r.body))
			}
			e.must(403, e.do("POST", "/v1/orders/"+id+"/fulfillments", alice, p1))
			e.must(422, e.do("POST", "/v1/orders/"+id+"/fulfillments", admin, map[string]any{"lines": []any{}, "carrier": "DHL", "trackingNumber": "x"}))
			e.must(400, e.do("POST", "/v1/orders/"+id+"/fulfillments", admin, map[string]any{"lines": []any{}, "carrier": "DHL", "trackingNumber": "x", "bogus": 1}))

			// Parcel 2: the rest, by the old shipments route ("fulfil everything left").
			r = e.must(200, e.do("POST", "/v1/orders/"+id+"/shipments", admin, map[string]any{"carrier": "UPS", "trackingNumber": "P-2"}))
			if r.field("status") != "fulfilled" || num(r, "captured", "amount") != grand {
				t.Fatalf("parcel 2: %s", short(r.body))
			}
			if auths := e.app.gateway.Authorizations(id); len(auths) != 1 || auths[0].Captured != grand {
				t.Fatalf("gateway: %+v", auths)
			}
			fs, _ := r.field("fulfillments").([]any)
			if len(fs) != 2 {
				t.Fatalf("fulfillments: %s", short(r.body))
			}
			for i, f := range fs {
				fid, _ := f.(map[string]any)["id"].(string)
				r = e.must(200, e.do("POST", "/v1/orders/"+id+"/fulfillments/"+fid+"/delivery", admin, nil))
				if want := []string{"fulfilled", "delivered"}[i]; r.field("status") != want {
					t.Fatalf("after delivering parcel %d: %s", i+1, short(r.body))
				}
			}

			// Alice returns one shirt; the admin approves and receives it with restock.
			ret := e.must(201, e.do("POST", "/v1/orders/"+id+"/returns", alice, map[string]any{"lines": []any{map[string]any{"sku": "FUL-TEE", "quantity": 1, "reason": "too small"}}}, "Idempotency-Key", "ret-1"))
			rid, _ := ret.field("id").(string)
			if ret.field("status") != "requested" || ret.header.Get("Location") != "/v1/returns/"+rid {
				t.Fatalf("return: %s", short(ret.body))
			}
			e.must(404, e.do("POST", "/v1/orders/"+id+"/returns", e.token("eve", auth.RoleCustomer), map[string]any{"lines": []any{map[string]any{"sku": "FUL-TEE", "quantity": 1}}}))
			e.must(409, e.do("POST", "/v1/orders/"+id+"/returns", alice, map[string]any{"lines": []any{map[string]any{"sku": "FUL-TEE", "quantity": 2}}}))
			e.must(403, e.do("POST", "/v1/returns/"+rid+"/approve", alice, nil))
			e.must(200, e.do("POST", "/v1/returns/"+rid+"/approve", admin, nil))
			recv := map[string]any{"lines": []any{map[string]any{"sku": "FUL-TEE", "quantity": 1, "restock": true, "warehouse": "main"}}}
			r = e.must(200, e.do("POST", "/v1/returns/"+rid+"/receive", admin, recv, "Idempotency-Key", "recv-1"))
			if r.field("status") != "received" {
				t.Fatalf("receive: %s", short(r.body))
			}
			e.must(200, e.do("POST", "/v1/returns/"+rid+"/receive", admin, recv, "Idempotency-Key", "recv-1"))
			pos := r.header.Get("Orderengine-Position")
			stock := e.must(200, e.do("GET", "/v1/inventory/FUL-TEE?minPosition="+pos, admin, nil))
			if num(stock, "onHand") != 4 || num(stock, "available") != 4 {
				t.Fatalf("stock after the restock: %s", short(stock.body))
			}

			// A goodwill refund of the mug with the shipping; twice is a conflict.
			r = e.must(200, e.do("POST", "/v1/orders/"+id+"/refunds", admin, map[string]any{"lines": []any{map[string]any{"sku": "FUL-MUG", "quantity": 1}}, "refundShipping": true, "reason": "chipped"}, "Idempotency-Key", "gw-1"))
			if num(r, "refunded", "amount") != 2000+900+shipping || r.field("status") != "partially_returned" {
				t.Fatalf("refund by line: %s", short(r.body))
			}
			e.must(409, e.do("POST", "/v1/orders/"+id+"/refunds", admin, map[string]any{"lines": []any{map[string]any{"sku": "FUL-MUG", "quantity": 1}}}))
			e.must(422, e.do("POST", "/v1/orders/"+id+"/refunds", admin, map[string]any{"reason": "neither"}))
			if a := e.app.gateway.Authorizations(id)[0]; a.Refunded != 2000+900+shipping {
				t.Fatalf("gateway refunded %d", a.Refunded)
			}

			// Reads: the order per line, its returns, the return, the audit trail with actors.
			pos = r.header.Get("Orderengine-Position")
			o := e.must(200, e.do("GET", "/v1/orders/"+id+"?minPosition="+pos, alice, nil))
			prog, _ := o.field("progress").([]any)
			if o.field("status") != "partially_returned" || len(prog) != 2 || !strings.Contains(string(o.body), `"returned":1`) {
				t.Fatalf("order read: %s", o.body)
			}
			list := e.must(200, e.do("GET", "/v1/orders/"+id+"/returns?minPosition="+pos, alice, nil))
			if items, _ := list.field("items").([]any); len(items) != 1 {
				t.Fatalf("returns: %s", short(list.body))
			}
			one := e.must(200, e.do("GET", "/v1/returns/"+rid+"?minPosition="+pos, e.token("audit", auth.RoleAuditor), nil))
			if one.field("status") != "received" {
				t.Fatalf("return read: %s", short(one.body))
			}
			e.must(200, e.do("GET", "/v1/orders?status=partially_returned", admin, nil))
			ev := e.must(200, e.do("GET", "/v1/orders/"+id+"/events", admin, nil))
			for _, want := range []string{`"type":"order.fulfilled","version":`, `"order.return_received"`, `"order.refund_requested"`, `"payment.part_captured"`, `"inventory.restocked"`} {
				if !strings.Contains(string(ev.body), strings.TrimSuffix(want, `,"version":`)) {
					t.Errorf("history lacks %s", want)
				}
			}
			if !strings.Contains(string(ev.body), `"actor":"root"`) || !strings.Contains(string(ev.body), `"actor":"alice"`) {
				t.Errorf("history lacks the actors: %s", short(ev.body))
			}

			// Cancelling one line of another paid order releases its stock and part of the
			// authorization.
			r = e.must(201, e.placeOrder(alice, e.cart(alice, map[string]int64{"FUL-TEE": 1, "FUL-MUG": 2}), "tok_visa"))
			id2, _ := r.field("order", "id").(string)
			before := num(r, "order", "totals", "grandTotal", "amount")
			r = e.must(200, e.do("POST", "/v1/orders/"+id2+"/cancel", alice, map[string]any{"lines": []any{map[string]any{"sku": "FUL-MUG", "quantity": 1}}, "reason": "one is enough"}))
			if r.field("status") != "paid" || num(r, "totals", "grandTotal", "amount") != before-900 {
				t.Fatalf("cancel a line: %s", short(r.body))
			}
			if got := e.app.gateway.Released(e.app.gateway.Authorizations(id2)[0].GatewayRef); got != 900 {
				t.Fatalf("gateway released %d", got)
			}
			mug := e.stockHistory("FUL-MUG")
			if mug.Available() != 5-1-1 {
				t.Fatalf("mug available %d", mug.Available())
			}
		})
	}
}

// TestE2EParallelFulfilmentsAndRefunds fires more parcels and line refunds than there are
// units at one order at once: exactly the available units succeed, the rest are 409, and
// the gateway captured and refunded each unit once.
func TestE2EParallelFulfilmentsAndRefunds(t *testing.T) {
	for _, tr := range tiers(t) {
		t.Run(tr.name, func(t *testing.T) {
			e := newE2E(t, tr.open(t), 0)
			admin := e.token("root", auth.RoleAdmin)
			alice := e.token("alice", auth.RoleCustomer)
			e.product(admin, "PAR-1", 1500, 10)
			r := e.must(201, e.placeOrder(alice, e.cart(alice, map[string]int64{"PAR-1": 3}), "tok_visa"))
			id, _ := r.field("order", "id").(string)
			grand := num(r, "order", "totals", "grandTotal", "amount")
			fire := func(n int, path string, body func(i int) any) map[int]int {
				var mu sync.Mutex
				codes := map[int]int{}
				var wg sync.WaitGroup
				for i := range n {
					wg.Add(1)
					go func() {
						defer wg.Done()
						r := e.do("POST", path, admin, body(i))
						mu.Lock()
						codes[r.status]++
						mu.Unlock()
					}()
				}
				wg.Wait()
				return codes
			}
			codes := fire(8, "/v1/orders/"+id+"/fulfillments", func(i int) any {
				return map[string]any{"lines": []any{map[string]any{"sku": "PAR-1", "quantity": 1}}, "carrier": "DHL", "trackingNumber": fmt.Sprint("P-", i)}
			})
			if codes[201] != 3 || codes[409] != 5 {
				t.Fatalf("parallel parcels: %v", codes)
			}
			codes = fire(6, "/v1/orders/"+id+"/refunds", func(int) any {
				return map[string]any{"lines": []any{map[string]any{"sku": "PAR-1", "quantity": 1}}, "refundShipping": true}
			})
			if codes[200] != 3 || codes[409] != 3 {
				t.Fatalf("parallel refunds: %v", codes)
			}
			a := e.app.gateway.Authorizations(id)[0]
			if a.Captured != grand || a.Refunded != grand || e.app.gateway.Calls("capture_part") != 3 || e.app.gateway.Calls("refund") != 3 {
				t.Fatalf("gateway: captured %d refunded %d of %d (%d captures, %d refunds)", a.Captured, a.Refunded, grand,
					e.app.gateway.Calls("capture_part"), e.app.gateway.Calls("refund"))
			}
		})
	}
}

// TestE2ESettlerResumesACrashedFulfilment: a process recorded a parcel and died before the
// gateway call; the running server's settler finds the order pending in the read model and
// captures its share, once.
func TestE2ESettlerResumesACrashedFulfilment(t *testing.T) {
	for _, tr := range tiers(t) {
		t.Run(tr.name, func(t *testing.T) {
			e := newE2E(t, tr.open(t), 0)
			admin := e.token("root", auth.RoleAdmin)
			alice := e.token("alice", auth.RoleCustomer)
			e.product(admin, "SET-1", 1500, 10)
			r := e.must(201, e.placeOrder(alice, e.cart(alice, map[string]int64{"SET-1": 2}), "tok_visa"))
			id, _ := r.field("order", "id").(string)
			shipping := num(r, "order", "totals", "shipping", "amount")
			// The crashed process's only trace: the recorded parcel.
			rt := commands.NewRuntime(e.app.store, eventregistry.New(), commands.RuntimeOptions{})
			if _, err := commands.Execute(context.Background(), rt, domain.NewOrderDecider(), domain.FulfilOrder{OrderID: id, FulfillmentID: "f-crashed",
				Lines: []domain.LineQuantity{{SKU: "SET-1", Quantity: 1}}, Carrier: "DHL", TrackingNumber: "T"}, commands.Meta{Actor: "root", CorrelationID: id}); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(30 * time.Second)
			for {
				o := e.do("GET", "/v1/orders/"+id, admin, nil) // the read model may still be catching up (404)
				if o.status == 200 && num(o, "captured", "amount") == 1500+shipping {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("never settled: %s", short(o.body))
				}
				time.Sleep(50 * time.Millisecond)
			}
			time.Sleep(500 * time.Millisecond) // more sweeps must not capture again
			if n := e.app.gateway.Calls("capture_part"); n != 1 {
				t.Fatalf("%d gateway captures", n)
			}
			if a := e.app.gateway.Authorizations(id)[0]; a.Captured != 1500+shipping {
				t.Fatalf("gateway captured %d", a.Captured)
			}
		})
	}
}
