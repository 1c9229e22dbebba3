package webhooks_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/orderengine/orderengine/commands"
	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/eventregistry"
)

// TestEventsFromTheCommandSide drives the real command service (catalog, stock, cart,
// order placement) and checks that the endpoint receives the product's and the order's
// integration events, signed, with their data, and nothing internal.
func TestEventsFromTheCommandSide(t *testing.T) {
	e := newEnv(t)
	rc := newReceiver(t)
	e.register(rc, "product.created", "order.placed", "product.price_changed")
	e.start(e.cfg)
	ctx := context.Background()
	svc, err := commands.NewService(commands.NewRuntime(e.store, eventregistry.New(), commands.RuntimeOptions{}), commands.ServiceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	adminMeta := commands.Meta{Actor: "root", IdempotencyKey: "secret-idem-key", CorrelationID: "secret-correlation"}
	p, err := svc.CreateProduct(ctx, domain.CreateProduct{ProductID: "p-mug", SKU: "MUG-1",
		ProductDetails: domain.ProductDetails{Name: "Mug", Category: "kitchen", Metadata: map[string]string{"supplierCost": "250"}},
		Price:          domain.MustMoney(1299, "EUR")}, adminMeta)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.ReceiveStock(ctx, domain.ReceiveStock{SKU: "MUG-1", Warehouse: "main", Quantity: 10}, adminMeta); err != nil {
		t.Fatal(err)
	}
	alice := commands.Meta{Actor: "alice", Customer: "alice"}
	if _, err := svc.CreateCart(ctx, domain.CreateCart{CartID: "cart-1", CustomerID: "alice", Currency: "EUR"}, alice); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.AddCartItem(ctx, "cart-1", "MUG-1", 2, alice); err != nil {
		t.Fatal(err)
	}
	addr := domain.Address{Name: "Alice", Line1: "1 Main St", City: "Berlin", PostalCode: "10115", Country: "DE"}
	o, err := svc.PlaceOrder(ctx, commands.PlaceOrderInput{CartID: "cart-1", ShippingAddress: &addr, PaymentToken: "tok_visa"}, alice)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "product.created and order.placed", 5*time.Second, func() bool { return len(rc.received()) == 2 })
	got := rc.received()
	if got[0].ev.Type != "product.created" || got[1].ev.Type != "order.placed" || got[1].ev.OrderID != o.State.ID {
		t.Fatalf("received %+v then %+v", got[0].ev, got[1].ev)
	}
	body := string(got[1].body)
	for _, want := range []string{`"customerId":"alice"`, `"sku":"MUG-1"`, `"quantity":2`, `"grandTotal":{"amount":`, `"city":"Berlin"`} {
		if !strings.Contains(body, want) {
			t.Fatalf("order.placed lacks %s: %s", want, body)
		}
	}
	for _, leak := range []string{"tok_visa", "cart-1", "secret-idem-key", "secret-correlation", "chainHash", "supplierCost", `"actor"`} {
		if strings.Contains(body, leak) || strings.Contains(string(got[0].body), leak) {
			t.Fatalf("an event leaks %q:\n%s\n%s", leak, got[0].body, body)
		}
	}
	if !strings.Contains(string(got[0].body), `"productId":"`+p.State.ID+`"`) {
		t.Fatalf("product.created: %s", got[0].body)
	}
}
