package domain

import (
	"errors"
	"testing"
	"time"
)

var (
	cartCreated = CartCreated{CartID: "c1", CustomerID: "alice", Currency: "EUR", At: t0}
	teeM        = AddCartItem{CartID: "c1", SKU: "TEE-RED-M", Quantity: 2, ProductID: "p1", Name: "Organic tee", UnitPrice: eur(1999)}
	teeMAdded   = CartItemAdded{CartID: "c1", SKU: "TEE-RED-M", ProductID: "p1", Name: "Organic tee", Quantity: 2, UnitPrice: eur(1999), At: t0}
	berlin      = Address{Name: "Alice", Line1: "Hauptstr. 1", City: "Berlin", PostalCode: "10115", Country: "DE"}
	tenPercent  = Coupon{Code: "TEN", Kind: CouponPercent, PercentOff: 1000}
)

func cartDecider() Decider[Cart, CartCommand] { return NewCartDecider(DefaultPricing()) }

// cartHistory runs commands from an empty cart and returns every event, for "given" lists
// that include the cart.priced events a real history has.
func cartHistory(t *testing.T, cmds ...CartCommand) []Event {
	t.Helper()
	d, c := cartDecider(), Cart{}
	var all []Event
	for _, cmd := range cmds {
		evs, err := d.Decide(c, cmd, t0)
		if err != nil {
			t.Fatalf("%T: %v", cmd, err)
		}
		c, all = d.Fold(c, evs), append(all, evs...)
	}
	return all
}

var createC1 = CreateCart{CartID: "c1", CustomerID: "alice", Currency: "EUR"}

// inclusive builds line amounts at DE's 19% inclusive VAT.
func inclusive(sub, discount, tax int64) LineAmounts {
	return LineAmounts{Subtotal: eur(sub), Discount: eur(discount), Net: eur(sub - discount - tax), Tax: eur(tax), Gross: eur(sub - discount), TaxRate: 1900, TaxInclusive: true}
}

func totals(sub, discount, tax, shipping int64) Totals {
	return Totals{Subtotal: eur(sub), Discount: eur(discount), Net: eur(sub - discount - tax), Tax: eur(tax), Gross: eur(sub - discount), Shipping: eur(shipping), GrandTotal: eur(sub - discount + shipping)}
}

func TestCartCreate(t *testing.T) {
	d := cartDecider()
	given(t, d).when(CreateCart{CartID: "c1", CustomerID: "alice", Currency: "EUR"}).then(cartCreated)
	given(t, d, cartCreated).when(CreateCart{CartID: "c1", CustomerID: "alice", Currency: "EUR"}).thenError(ErrAlreadyExists)
	given(t, d).when(CreateCart{CartID: "c1", CustomerID: "alice", Currency: "BRL"}).thenError(ErrValidation) // not sold
	given(t, d).when(CreateCart{CartID: "c1", CustomerID: "", Currency: "XXX"}).thenError(ErrValidation)
	given(t, d).when(AddCartItem{CartID: "nope", SKU: "A", Quantity: 1, ProductID: "p", UnitPrice: eur(1)}).thenError(ErrNotFound)
}

func TestCartAddItemIsPriced(t *testing.T) {
	// 2 × 19.99 incl. 19%: tax 39.98×19/119 = 6.3833 → 6.38; shipping 4.95 below the 50.00 threshold
	given(t, cartDecider(), cartCreated).when(teeM).then(
		teeMAdded,
		CartPriced{CartID: "c1", TaxCountry: "DE", Lines: []PricedLine{{SKU: "TEE-RED-M", LineAmounts: inclusive(3998, 0, 638)}}, Totals: totals(3998, 0, 638, 495), At: t0},
	)
}

func TestCartAddSameSKUAccumulatesAndFreeShipping(t *testing.T) {
	d := cartDecider()
	priced := FoldCart(Cart{}, []Event{cartCreated, teeMAdded})
	evs, err := d.Decide(priced, teeM, t0)
	if err != nil {
		t.Fatal(err)
	}
	c := FoldCart(priced, evs)
	if l, _ := c.Line("TEE-RED-M"); l.Quantity != 4 || len(c.Lines) != 1 {
		t.Fatalf("lines %+v", c.Lines)
	}
	// 79.96 ≥ 50.00: free shipping
	if c.Totals.Shipping != eur(0) || c.Totals.GrandTotal != eur(7996) {
		t.Fatalf("totals %+v", c.Totals)
	}
}

func TestCartItemValidation(t *testing.T) {
	d := cartDecider()
	bad := teeM
	bad.UnitPrice = MustMoney(1999, "USD")
	given(t, d, cartCreated).when(bad).thenError(ErrValidation)
	bad = teeM
	bad.Quantity = 0
	given(t, d, cartCreated).when(bad).thenError(ErrValidation)
	bad.Quantity = MaxLineQuantity + 1
	given(t, d, cartCreated).when(bad).thenError(ErrValidation)
	bad = teeM
	bad.SKU = "bad sku"
	given(t, d, cartCreated).when(bad).thenError(ErrValidation)
}

func TestCartChangeAndRemove(t *testing.T) {
	d := cartDecider()
	withTee := cartHistory(t, createC1, teeM)
	given(t, d, withTee...).when(ChangeCartItemQuantity{CartID: "c1", SKU: "TEE-RED-M", Quantity: 1}).then(
		CartItemQuantityChanged{CartID: "c1", SKU: "TEE-RED-M", Quantity: 1, At: t0},
		// 19.99 incl. 19%: 3.1917 → 3.19
		CartPriced{CartID: "c1", TaxCountry: "DE", Lines: []PricedLine{{SKU: "TEE-RED-M", LineAmounts: inclusive(1999, 0, 319)}}, Totals: totals(1999, 0, 319, 495), At: t0},
	)
	given(t, d, withTee...).when(ChangeCartItemQuantity{CartID: "c1", SKU: "TEE-RED-M", Quantity: 2}).thenNothing()
	given(t, d, withTee...).when(ChangeCartItemQuantity{CartID: "c1", SKU: "TEE-RED-M", Quantity: -1}).thenError(ErrValidation)
	given(t, d, withTee...).when(ChangeCartItemQuantity{CartID: "c1", SKU: "NOPE", Quantity: 1}).thenError(ErrNotFound)

	removed := []Event{
		CartItemRemoved{CartID: "c1", SKU: "TEE-RED-M", At: t0},
		CartPriced{CartID: "c1", TaxCountry: "DE", Lines: []PricedLine{}, Totals: totals(0, 0, 0, 0), At: t0},
	}
	given(t, d, withTee...).when(ChangeCartItemQuantity{CartID: "c1", SKU: "TEE-RED-M", Quantity: 0}).then(removed...)
	given(t, d, withTee...).when(RemoveCartItem{CartID: "c1", SKU: "TEE-RED-M"}).then(removed...)
	given(t, d, cartCreated).when(RemoveCartItem{CartID: "c1", SKU: "TEE-RED-M"}).thenError(ErrNotFound)
}

func TestCartCoupons(t *testing.T) {
	d := cartDecider()
	withTee := cartHistory(t, createC1, teeM)
	// 10% of 39.98 = 3.998 → 4.00; gross 35.98, tax 35.98×19/119 = 5.7447 → 5.74
	given(t, d, withTee...).when(ApplyCoupon{CartID: "c1", Coupon: tenPercent}).then(
		CartCouponApplied{CartID: "c1", Coupon: tenPercent, At: t0},
		CartPriced{CartID: "c1", TaxCountry: "DE", Lines: []PricedLine{{SKU: "TEE-RED-M", LineAmounts: inclusive(3998, 400, 574)}}, Totals: totals(3998, 400, 574, 495), At: t0},
	).thenState(func(t *testing.T, c Cart) {
		if c.AppliedCoupon() == nil || c.AppliedCoupon().Code != "TEN" {
			t.Fatalf("coupon %+v", c.Coupon)
		}
	})
	applied := cartHistory(t, createC1, teeM, ApplyCoupon{CartID: "c1", Coupon: tenPercent})
	given(t, d, applied...).when(ApplyCoupon{CartID: "c1", Coupon: tenPercent}).thenNothing()

	// another code replaces it: a fixed 5.00 off
	five := Coupon{Code: "FIVE", Kind: CouponFixed, AmountOff: eur(500)}
	o := given(t, d, applied...).when(ApplyCoupon{CartID: "c1", Coupon: five})
	if o.err != nil || len(o.events) != 3 || o.events[0] != (CartCouponRemoved{CartID: "c1", Code: "TEN", At: t0}) {
		t.Fatalf("replace: %s %v", dump(o.events), o.err)
	}
	if o.state.Totals.Discount != eur(500) {
		t.Fatalf("fixed discount %v", o.state.Totals.Discount)
	}

	given(t, d, applied...).when(RemoveCoupon{CartID: "c1", Code: "ten"}).thenState(func(t *testing.T, c Cart) {
		if c.Coupon != nil || c.Totals.Discount != eur(0) {
			t.Fatalf("after removal %+v", c.Totals)
		}
	})
	given(t, d, withTee...).when(RemoveCoupon{CartID: "c1", Code: "TEN"}).thenError(ErrNotFound)

	// not applicable: minimum, window, currency
	minFifty := Coupon{Code: "MIN50", Kind: CouponPercent, PercentOff: 500, MinSubtotal: eur(5000)}
	given(t, d, withTee...).when(ApplyCoupon{CartID: "c1", Coupon: minFifty}).thenError(ErrCouponNotApplicable)
	expired := Coupon{Code: "OLD", Kind: CouponPercent, PercentOff: 500, EndsAt: t0}
	given(t, d, withTee...).when(ApplyCoupon{CartID: "c1", Coupon: expired}).thenError(ErrCouponNotApplicable)
	future := Coupon{Code: "SOON", Kind: CouponPercent, PercentOff: 500, StartsAt: t0.Add(time.Hour)}
	given(t, d, withTee...).when(ApplyCoupon{CartID: "c1", Coupon: future}).thenError(ErrCouponNotApplicable)
	dollars := Coupon{Code: "USD5", Kind: CouponFixed, AmountOff: MustMoney(500, "USD")}
	given(t, d, withTee...).when(ApplyCoupon{CartID: "c1", Coupon: dollars}).thenError(ErrCouponNotApplicable)
	given(t, d, withTee...).when(ApplyCoupon{CartID: "c1", Coupon: Coupon{Code: "X", Kind: "bogus"}}).thenError(ErrValidation)

	// a coupon whose minimum stops being met discounts nothing, and is not redeemed at checkout
	st := FoldCart(Cart{}, cartHistory(t, createC1,
		AddCartItem{CartID: "c1", SKU: "A", ProductID: "p", Quantity: 3, UnitPrice: eur(2000)},
		ApplyCoupon{CartID: "c1", Coupon: minFifty}))
	if st.Totals.Discount != eur(300) {
		t.Fatalf("5%% of 60.00: %v", st.Totals.Discount)
	}
	evs, err := d.Decide(st, ChangeCartItemQuantity{CartID: "c1", SKU: "A", Quantity: 2}, t0)
	if err != nil {
		t.Fatal(err)
	}
	st = FoldCart(st, evs)
	if st.Totals.Discount != eur(0) || st.AppliedCoupon() != nil || st.Coupon == nil {
		t.Fatalf("below minimum: %+v coupon %v", st.Totals, st.AppliedCoupon())
	}
}

func TestCartShippingAddressTaxes(t *testing.T) {
	d := cartDecider()
	withTee := cartHistory(t, createC1, teeM)
	ny := Address{Name: "Bob", Line1: "1 Main St", City: "New York", Region: "NY", PostalCode: "10001", Country: "US"}
	given(t, d, withTee...).when(SetShippingAddress{CartID: "c1", Address: ny}).then(
		CartShippingAddressSet{CartID: "c1", CustomerID: "alice", Address: ny, At: t0},
		CartPriced{CartID: "c1", TaxCountry: "US", Lines: []PricedLine{{SKU: "TEE-RED-M", LineAmounts: LineAmounts{
			Subtotal: eur(3998), Discount: eur(0), Net: eur(3998), Tax: eur(0), Gross: eur(3998),
		}}}, Totals: Totals{Subtotal: eur(3998), Discount: eur(0), Net: eur(3998), Tax: eur(0), Gross: eur(3998), Shipping: eur(495), GrandTotal: eur(4493)}, At: t0},
	)
	// same country: the address is recorded, nothing to reprice
	given(t, d, withTee...).when(SetShippingAddress{CartID: "c1", Address: berlin}).then(
		CartShippingAddressSet{CartID: "c1", CustomerID: "alice", Address: berlin, At: t0},
	)
	moon := berlin
	moon.Country = "AQ"
	given(t, d, cartCreated).when(SetShippingAddress{CartID: "c1", Address: moon}).thenError(ErrValidation)
	given(t, d, cartCreated).when(SetShippingAddress{CartID: "c1", Address: Address{Country: "DE"}}).thenError(ErrValidation)
}

func TestCartCheckout(t *testing.T) {
	d := cartDecider()
	ready := []Event{cartCreated, teeMAdded, CartShippingAddressSet{CartID: "c1", CustomerID: "alice", Address: berlin, At: t0}}
	done := CartCheckedOut{CartID: "c1", OrderID: "o1", At: t0}
	given(t, d, ready...).when(CheckOutCart{CartID: "c1", OrderID: "o1"}).then(done)
	given(t, d, append(ready, done)...).when(CheckOutCart{CartID: "c1", OrderID: "o1"}).thenNothing()
	given(t, d, append(ready, done)...).when(CheckOutCart{CartID: "c1", OrderID: "o2"}).thenError(ErrIllegalTransition)
	given(t, d, append(ready, done)...).when(teeM).thenError(ErrIllegalTransition)
	given(t, d, append(ready, done)...).when(ApplyCoupon{CartID: "c1", Coupon: tenPercent}).thenError(ErrIllegalTransition)
	given(t, d, cartCreated, teeMAdded).when(CheckOutCart{CartID: "c1", OrderID: "o1"}).thenError(ErrValidation) // no address
	given(t, d, cartCreated, ready[2]).when(CheckOutCart{CartID: "c1", OrderID: "o1"}).thenError(ErrValidation)  // empty
	given(t, d, append(ready, done)...).when(RemoveCartItem{CartID: "c1", SKU: "TEE-RED-M"}).thenError(ErrIllegalTransition)

	var te *TransitionError
	o := given(t, d, append(ready, done)...).when(teeM)
	if !errors.As(o.err, &te) || te.State != "checked_out" {
		t.Fatalf("transition error %v", o.err)
	}
}

func TestPlaceOrderFromCart(t *testing.T) {
	d := cartDecider()
	c := Cart{}
	for _, cmd := range []CartCommand{
		CreateCart{CartID: "c1", CustomerID: "alice", Currency: "EUR"},
		teeM,
		AddCartItem{CartID: "c1", SKU: "MUG", Quantity: 3, ProductID: "p2", Name: "Mug", UnitPrice: eur(899)},
		ApplyCoupon{CartID: "c1", Coupon: Coupon{Code: "FIVE", Kind: CouponFixed, AmountOff: eur(500)}},
		SetShippingAddress{CartID: "c1", Address: berlin},
		CheckOutCart{CartID: "c1", OrderID: "o1"},
	} {
		evs, err := d.Decide(c, cmd, t0)
		if err != nil {
			t.Fatalf("%T: %v", cmd, err)
		}
		c = d.Fold(c, evs)
	}
	po := PlaceOrderFromCart("o1", c, berlin)
	evs, err := DecideOrder(Order{}, po, t0)
	if err != nil {
		t.Fatal(err)
	}
	o := FoldOrder(Order{}, evs)
	if o.Totals != c.Totals || o.CouponCode != "FIVE" || len(o.Lines) != 2 {
		t.Fatalf("order totals %+v vs cart %+v", o.Totals, c.Totals)
	}
}
