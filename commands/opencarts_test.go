package commands_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/orderengine/orderengine/commands"
	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/eventregistry"
	"github.com/orderengine/orderengine/eventstore"
)

// TestOpenCartCap: a customer's open carts are capped; a checked-out cart and a slot
// whose cart never came to be (after ClaimGrace) free their slots; admins' carts for
// nobody are not counted.
func TestOpenCartCap(t *testing.T) {
	e := newEnv(t)
	rt := commands.NewRuntime(e.store, eventregistry.New(), commands.RuntimeOptions{Now: e.clock.Now})
	svc, err := commands.NewService(rt, commands.ServiceOptions{MaxOpenCarts: 2, ClaimGrace: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	e.product(t, "p-1", "SKU-1", 1000)
	first, err := svc.CreateCart(e.ctx, domain.CreateCart{Currency: "EUR"}, alice)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateCart(e.ctx, domain.CreateCart{Currency: "EUR"}, alice); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateCart(e.ctx, domain.CreateCart{Currency: "EUR"}, alice); !errors.Is(err, commands.ErrTooManyOpenCarts) {
		t.Fatalf("third open cart: %v", err)
	}
	if _, err := svc.CreateCart(e.ctx, domain.CreateCart{Currency: "XXQ"}, bob); !errors.Is(err, domain.ErrValidation) {
		t.Fatalf("invalid currency: %v", err)
	}
	// An invalid create took no slot: bob still has two.
	for range 2 {
		if _, err := svc.CreateCart(e.ctx, domain.CreateCart{Currency: "EUR"}, bob); err != nil {
			t.Fatal(err)
		}
	}
	// Checking one out frees a slot.
	if _, err := svc.AddCartItem(e.ctx, first.State.ID, "SKU-1", 1, alice); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.PlaceOrder(e.ctx, commands.PlaceOrderInput{CartID: first.State.ID, ShippingAddress: &home, PaymentToken: "tok_visa"}, alice); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateCart(e.ctx, domain.CreateCart{Currency: "EUR"}, alice); err != nil {
		t.Fatalf("after a checkout: %v", err)
	}
	// A slot whose cart was never created (a crash between the two appends) is freed
	// only after ClaimGrace.
	carol := commands.Meta{Actor: "carol", Customer: "carol"}
	crashed, _ := commands.NewService(commands.NewRuntime(failingCreates{e.store}, eventregistry.New(), commands.RuntimeOptions{Now: e.clock.Now}), commands.ServiceOptions{MaxOpenCarts: 2, ClaimGrace: time.Minute})
	for range 2 {
		if _, err := crashed.CreateCart(e.ctx, domain.CreateCart{Currency: "EUR"}, carol); err == nil {
			t.Fatal("the failing store created a cart")
		}
	}
	if _, err := svc.CreateCart(e.ctx, domain.CreateCart{Currency: "EUR"}, carol); !errors.Is(err, commands.ErrTooManyOpenCarts) {
		t.Fatalf("within ClaimGrace: %v", err)
	}
	e.clock.Advance(2 * time.Minute)
	if _, err := svc.CreateCart(e.ctx, domain.CreateCart{Currency: "EUR"}, carol); err != nil {
		t.Fatalf("after ClaimGrace: %v", err)
	}
}

// failingCreates fails every append to a cart stream, as a crash between the slot and
// the cart would.
type failingCreates struct{ commands.EventStore }

func (f failingCreates) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	if strings.HasPrefix(stream, "cart-") {
		return eventstore.AppendResult{}, errCrash
	}
	return f.EventStore.Append(ctx, stream, expected, events...)
}
