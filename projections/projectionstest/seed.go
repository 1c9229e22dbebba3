package projectionstest

import (
	"context"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/shopgen"
)

// The seeded log lives in package shopgen (the benchmarks use it too, and the binary
// must not link package testing); these names keep the tests' spelling.

// Seeder is shopgen.Seeder.
type Seeder = shopgen.Seeder

// SeedStart is the time of the first seeded command.
var SeedStart = shopgen.SeedStart

// NewSeeder returns a seeder appending to store with a deterministic random source.
func NewSeeder(store eventstore.Store, seed uint64) *Seeder { return shopgen.NewSeeder(store, seed) }

// Line is an order line at unit price without tax or discount.
func Line(sku, productID string, qty int64, unit domain.Money) domain.Line {
	return shopgen.Line(sku, productID, qty, unit)
}

// Shop seeds a small shop: products, changes, orders, more changes and orders.
func Shop(ctx context.Context, store eventstore.Store, seed uint64, products, orders int) (*Seeder, error) {
	return shopgen.Shop(ctx, store, seed, products, orders)
}
