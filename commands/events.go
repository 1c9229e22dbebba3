package commands

import (
	"time"

	"github.com/orderengine/orderengine/domain"
)

// Stream category of the command side's own bookkeeping streams (not aggregates). The
// checkout request PlaceOrder records is package checkout/request's.
const (
	// CategorySKU: "sku-<SKU>" records which product owns a SKU (catalog.sku_claimed /
	// catalog.sku_released); the last event is the current state.
	CategorySKU = "sku"
)

// SKUClaimed: ProductID now owns SKU. SKUs are unique across products.
type SKUClaimed struct {
	SKU       string    `json:"sku"`
	ProductID string    `json:"productId"`
	At        time.Time `json:"at"`
}

// SKUReleased: ProductID gave SKU up (its creation or variant addition failed).
type SKUReleased struct {
	SKU       string    `json:"sku"`
	ProductID string    `json:"productId"`
	Reason    string    `json:"reason,omitempty"`
	At        time.Time `json:"at"`
}

func (SKUClaimed) EventType() string  { return "catalog.sku_claimed" }
func (SKUReleased) EventType() string { return "catalog.sku_released" }

// Events lists this package's event types (schema version 1), for the application's
// registry (package eventregistry).
func Events() []domain.Event {
	return []domain.Event{SKUClaimed{}, SKUReleased{}, CustomerCartOpened{}, CustomerCartsRecounted{}}
}
