package domain

import (
	"reflect"
	"testing"
)

type unknownEvent struct{}

func (unknownEvent) EventType() string { return "test.unknown" }

func TestDecidersShape(t *testing.T) {
	if got := NewOrderDecider().StreamName("o1"); got != "order-o1" {
		t.Errorf("order stream %q", got)
	}
	if got := NewInventoryDecider().StreamName(ReserveStock{SKU: "TEE-RED-M"}.AggregateID()); got != "inventory-TEE-RED-M" {
		t.Errorf("inventory stream %q", got)
	}
	for _, c := range []struct {
		category string
		want     string
	}{
		{NewProductDecider().Category, CategoryProduct},
		{NewCartDecider(DefaultPricing()).Category, CategoryCart},
		{NewInventoryDecider().Category, CategoryInventory},
		{NewOrderDecider().Category, CategoryOrder},
		{NewPaymentDecider().Category, CategoryPayment},
		{NewPromotionDecider().Category, CategoryPromotion},
	} {
		if c.category != c.want {
			t.Errorf("category %q, want %q", c.category, c.want)
		}
	}
}

// Evolve ignores events it does not know (another aggregate's, or a newer build's).
func TestEvolveIgnoresUnknownEvents(t *testing.T) {
	o := FoldOrder(Order{}, []Event{o1Placed})
	if got := EvolveOrder(o, unknownEvent{}); !reflect.DeepEqual(got, o) {
		t.Error("order changed")
	}
	c := FoldCart(Cart{}, []Event{cartCreated, teeMAdded})
	if got := EvolveCart(c, o1Placed); !reflect.DeepEqual(got, c) {
		t.Error("cart changed")
	}
	i := FoldInventory(Inventory{}, []Event{receivedA, reservedO1})
	if got := EvolveInventory(i, unknownEvent{}); !reflect.DeepEqual(got, i) {
		t.Error("inventory changed")
	}
	p := FoldPayment(Payment{}, []Event{payRequested})
	if got := EvolvePayment(p, unknownEvent{}); !reflect.DeepEqual(got, p) {
		t.Error("payment changed")
	}
	pr := FoldPromotion(Promotion{}, []Event{springCreated})
	if got := EvolvePromotion(pr, unknownEvent{}); !reflect.DeepEqual(got, pr) {
		t.Error("promotion changed")
	}
}

// Evolve never mutates the state it was given, even through shared maps and slices.
func TestEvolveDoesNotMutateInput(t *testing.T) {
	i := FoldInventory(Inventory{}, []Event{receivedA, reservedO1})
	snapshot := i.clone()
	_ = EvolveInventory(i, InventoryCommitted{SKU: "TEE-RED-M", OrderID: "o1", Quantity: 2, Allocations: []Allocation{{"ams", 2}}})
	_ = EvolveInventory(i, InventoryReceived{SKU: "TEE-RED-M", Warehouse: "ams", Quantity: 1})
	if !reflect.DeepEqual(i, snapshot) {
		t.Error("inventory input mutated")
	}
	c := FoldCart(Cart{}, []Event{cartCreated, teeMAdded})
	cs := c.clone()
	_ = EvolveCart(c, CartItemQuantityChanged{CartID: "c1", SKU: "TEE-RED-M", Quantity: 9})
	_ = EvolveCart(c, CartItemRemoved{CartID: "c1", SKU: "TEE-RED-M"})
	if !reflect.DeepEqual(c, cs) {
		t.Error("cart input mutated")
	}
	pr := FoldPromotion(Promotion{}, []Event{springCreated, PromotionRedeemed{Code: "SPRING10", OrderID: "o1"}})
	ps := pr.clone()
	_ = EvolvePromotion(pr, PromotionRedemptionReleased{Code: "SPRING10", OrderID: "o1"})
	if !reflect.DeepEqual(pr, ps) {
		t.Error("promotion input mutated")
	}
}
