package commands

import (
	"fmt"
	"reflect"
	"time"

	"github.com/orderengine/orderengine/checkout/request"
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

// RegisterEvents adds this package's event types to reg; registering them again is a no-op.
// Anyone decoding the whole log ($all) with their own registry needs them too.
func RegisterEvents(reg *domain.Registry) error {
	for _, e := range []domain.Event{SKUClaimed{}, SKUReleased{}, request.Recorded{}} {
		if p, ok := reg.Prototype(e.EventType()); ok {
			if reflect.TypeOf(p) != reflect.TypeOf(e) {
				return fmt.Errorf("event %q is registered with another type %T", e.EventType(), p)
			}
			continue
		}
		if err := reg.Register(e.EventType(), 1, e); err != nil {
			// lost a race with a concurrent RegisterEvents: fine if it registered the same type
			if p, ok := reg.Prototype(e.EventType()); !ok || reflect.TypeOf(p) != reflect.TypeOf(e) {
				return err
			}
		}
	}
	return nil
}
