package domain_test

import (
	"fmt"
	"time"

	"github.com/orderengine/orderengine/domain"
)

// A command handler's loop: fold the stream, decide, encode the new events for the store.
func Example() {
	now := time.Date(2025, 3, 14, 12, 0, 0, 0, time.UTC)
	carts := domain.NewCartDecider(domain.DefaultPricing())

	var history []domain.Event // what the event store returned for the stream
	for _, cmd := range []domain.CartCommand{
		domain.CreateCart{CartID: "c1", CustomerID: "alice", Currency: "EUR"},
		// the handler looked the price up in the catalog: never from the client
		domain.AddCartItem{CartID: "c1", SKU: "TEE-RED-M", Quantity: 2, ProductID: "p1", Name: "Tee", UnitPrice: domain.MustMoney(1999, "EUR")},
	} {
		state := carts.Fold(domain.Cart{}, history)
		events, err := carts.Decide(state, cmd, now)
		if err != nil {
			fmt.Println(err)
			return
		}
		for _, e := range events {
			name, version, _, _ := domain.EncodeEvent(e) // the JSON goes in the event's data
			fmt.Printf("append to %s: %s v%d\n", carts.StreamName(cmd.AggregateID()), name, version)
		}
		history = append(history, events...)
	}
	cart := carts.Fold(domain.Cart{}, history)
	fmt.Println("grand total", cart.Totals.GrandTotal, "incl. tax", cart.Totals.Tax)

	// Output:
	// append to cart-c1: cart.created v1
	// append to cart-c1: cart.item_added v2
	// append to cart-c1: cart.priced v1
	// grand total 44.93 EUR incl. tax 6.38 EUR
}
