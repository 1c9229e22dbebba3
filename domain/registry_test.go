package domain

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fill sets every field of v to a non-zero value so round trips exercise all of them.
func fill(v reflect.Value, seed int) {
	switch v.Type() {
	case reflect.TypeOf(Money{}):
		v.Set(reflect.ValueOf(MustMoney(int64(1000+seed), "EUR")))
		return
	case reflect.TypeOf(time.Time{}):
		v.Set(reflect.ValueOf(t0.Add(time.Duration(seed) * time.Minute)))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString("v" + strings.Repeat("x", seed%5))
	case reflect.Int, reflect.Int64:
		v.SetInt(int64(seed + 1))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			fill(v.Field(i), seed+i)
		}
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		fill(s.Index(0), seed+1)
		fill(s.Index(1), seed+2)
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(k, seed)
		fill(e, seed+1)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(p.Elem(), seed)
		v.Set(p)
	default:
		panic("fill: unhandled kind " + v.Kind().String())
	}
}

func TestEveryEventRoundTrips(t *testing.T) {
	r := NewDomainRegistry()
	names := r.Names()
	if len(names) != len(domainEvents) {
		t.Fatalf("%d names for %d events", len(names), len(domainEvents))
	}
	for _, name := range names {
		proto, _ := r.Prototype(name)
		typ := reflect.TypeOf(proto)
		if strings.EqualFold(name, typ.Name()) || strings.Contains(name, typ.Name()) {
			t.Errorf("event name %q uses the Go type name", name)
		}
		if !validEventName(name) {
			t.Errorf("event name %q is not <category>.<snake_case>", name)
		}
		for seed := 0; seed < 3; seed++ {
			v := reflect.New(typ).Elem()
			fill(v, seed)
			e := v.Interface().(Event)
			gotName, version, data, err := r.Encode(e)
			if err != nil || gotName != name {
				t.Fatalf("encode %s: %q %v", name, gotName, err)
			}
			if want, _ := r.Version(name); version != want {
				t.Fatalf("encode %s: version %d, want %d", name, version, want)
			}
			back, err := r.Decode(name, version, data)
			if err != nil {
				t.Fatalf("decode %s: %v\n%s", name, err, data)
			}
			if !reflect.DeepEqual(back, e) {
				t.Fatalf("%s does not round-trip:\n got %#v\nwant %#v\njson %s", name, back, e, data)
			}
		}
		// the zero value too (optional fields, nil collections)
		zero := reflect.Zero(typ).Interface().(Event)
		_, version, data, err := r.Encode(zero)
		if err != nil {
			t.Fatalf("encode zero %s: %v", name, err)
		}
		if _, err := r.Decode(name, version, data); err != nil {
			t.Fatalf("decode zero %s: %v", name, err)
		}
	}
}

func TestEventNamesAreStable(t *testing.T) {
	// Stored data depends on these names; changing one breaks every existing store.
	want := []string{
		"cart.checked_out", "cart.coupon_applied", "cart.coupon_removed", "cart.created",
		"cart.item_added", "cart.item_quantity_changed", "cart.item_removed", "cart.priced",
		"cart.shipping_address_set", "customer.erased",
		"inventory.adjusted", "inventory.committed", "inventory.received", "inventory.released",
		"inventory.reservation_expired", "inventory.reserved", "inventory.restocked",
		"order.authorization_released", "order.cancelled", "order.confirmed", "order.delivered",
		"order.edit_address_staged", "order.edit_applied", "order.edit_cancelled", "order.edit_confirm_requested",
		"order.edit_failed", "order.edit_item_staged", "order.edit_opened",
		"order.fulfilled", "order.fulfillment_captured", "order.fulfillment_delivered", "order.lines_cancelled",
		"order.payment_authorized", "order.payment_captured", "order.payment_failed", "order.payment_voided",
		"order.placed", "order.refund_requested", "order.refunded", "order.return_approved",
		"order.return_received", "order.return_rejected", "order.return_requested", "order.shipped",
		"payment.authorization_increased", "payment.authorization_released", "payment.authorization_requested", "payment.authorized",
		"payment.captured", "payment.declined", "payment.failed", "payment.part_captured",
		"payment.refunded", "payment.voided",
		"product.archived", "product.created", "product.details_updated", "product.price_changed",
		"product.variant_added", "product.variant_updated",
		"promotion.created", "promotion.deactivated", "promotion.redeemed", "promotion.redemption_released",
	}
	if got := EventNames(); !reflect.DeepEqual(got, want) {
		t.Fatalf("event names changed:\n got %q\nwant %q", got, want)
	}
}

func TestUpcastCartItemAddedV1(t *testing.T) {
	v1 := []byte(`{"cartId":"c1","sku":"TEE-RED-M","productId":"p1","name":"Tee","quantity":2,` +
		`"unitPriceMinor":1999,"currency":"EUR","at":"2025-03-14T09:26:53Z"}`)
	e, err := DecodeEvent("cart.item_added", 1, v1)
	if err != nil {
		t.Fatal(err)
	}
	want := CartItemAdded{CartID: "c1", SKU: "TEE-RED-M", ProductID: "p1", Name: "Tee", Quantity: 2, UnitPrice: eur(1999), At: t0}
	if !reflect.DeepEqual(e, want) {
		t.Fatalf("upcast = %#v, want %#v", e, want)
	}
	// an upcast v1 event folds like a v2 one
	cart := FoldCart(Cart{}, []Event{CartCreated{CartID: "c1", CustomerID: "alice", Currency: "EUR", At: t0}, e})
	if l, ok := cart.Line("TEE-RED-M"); !ok || l.UnitPrice != eur(1999) || l.Quantity != 2 {
		t.Fatalf("folded line %+v", l)
	}
	// broken v1 data is an error, not a zero price
	if _, err := DecodeEvent("cart.item_added", 1, []byte(`{"sku":"A","currency":"EUR"}`)); err == nil {
		t.Fatal("v1 without unitPriceMinor decoded")
	}
	if _, err := DecodeEvent("cart.item_added", 1, []byte(`{"unitPriceMinor":1,"currency":"XYZ"}`)); err == nil {
		t.Fatal("v1 with an unknown currency decoded")
	}
}

func TestRegistryErrors(t *testing.T) {
	r := NewDomainRegistry()
	if _, err := r.Decode("order.exploded", 1, []byte(`{}`)); !errors.Is(err, ErrUnknownEvent) {
		t.Errorf("unknown name: %v", err)
	}
	if _, err := r.Decode("order.placed", 2, []byte(`{}`)); !errors.Is(err, ErrUnknownEvent) {
		t.Errorf("future version: %v", err)
	}
	if _, err := r.Decode("order.placed", 0, []byte(`{}`)); !errors.Is(err, ErrUnknownEvent) {
		t.Errorf("version 0: %v", err)
	}
	if _, err := r.Decode("order.placed", 1, []byte(`[1]`)); err == nil {
		t.Errorf("non-object data decoded")
	}
	type stray struct{ OrderPlaced }
	if _, _, _, err := r.Encode(stray{}); !errors.Is(err, ErrUnknownEvent) {
		t.Errorf("unregistered type: %v", err)
	}
	if err := r.Register("order.placed", 1, OrderPlaced{}); err == nil {
		t.Errorf("duplicate registration accepted")
	}
	if err := r.Register("OrderPlaced", 1, OrderPlaced{}); err == nil {
		t.Errorf("Go-style name accepted")
	}
	if err := r.Register("order.other", 1, OrderPlaced{}); err == nil {
		t.Errorf("name differing from EventType accepted")
	}
	if err := r.RegisterUpcaster("order.placed", 1, nil); err == nil {
		t.Errorf("upcaster to a version that does not exist accepted")
	}
	// a version-3 event with a missing step cannot decode from 1
	r2 := NewRegistry()
	if err := r2.Register("cart.item_added", 2, CartItemAdded{}); err != nil {
		t.Fatal(err)
	}
	if _, err := r2.Decode("cart.item_added", 1, []byte(`{}`)); !errors.Is(err, ErrUnknownEvent) {
		t.Errorf("missing upcaster: %v", err)
	}
}

func TestEncodedJSONShape(t *testing.T) {
	_, _, data, err := EncodeEvent(ProductPriceChanged{ProductID: "p1", SKU: "A", OldPrice: eur(1299), NewPrice: eur(999), At: t0})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"productId":"p1","sku":"A","oldPrice":{"amount":1299,"currency":"EUR"},"newPrice":{"amount":999,"currency":"EUR"},"at":"2025-03-14T09:26:53Z"}`
	if string(data) != want {
		t.Fatalf("json\n got %s\nwant %s", data, want)
	}
}

type otherCartCreated struct{}

func (otherCartCreated) EventType() string { return "cart.created" }

func TestRegisterAllAndKnows(t *testing.T) {
	r := NewRegistry()
	if r.Knows(CartCreated{}) {
		t.Fatal("empty registry knows cart.created")
	}
	if err := r.RegisterAll(CartCreated{}, OrderPlaced{}); err != nil {
		t.Fatal(err)
	}
	if !r.Knows(CartCreated{}) || !r.Knows(OrderPlaced{}) {
		t.Fatal("registered events not known")
	}
	if r.Knows(otherCartCreated{}) {
		t.Fatal("another type under a registered name counts as known")
	}
	// Every failure is reported, and the good ones still register.
	err := r.RegisterAll(otherCartCreated{}, CartCreated{}, OrderCancelled{})
	if err == nil || strings.Count(err.Error(), "\n") != 1 {
		t.Fatalf("want two errors joined, got %v", err)
	}
	if !r.Knows(OrderCancelled{}) {
		t.Fatal("a valid event after failing ones was not registered")
	}
}
