package domain

import (
	"errors"
	"testing"

	"pgregory.net/rapid"
)

func TestPriceLineInclusiveAndExclusive(t *testing.T) {
	// 3 × 19.99 incl. 19% VAT: gross 59.97, tax = 59.97×19/119 = 9.575… → 9.58, net 50.39
	a, err := priceLine(eur(1999), 3, eur(0), TaxRate{Rate: 1900, Inclusive: true})
	if err != nil || a.Gross != eur(5997) || a.Tax != eur(958) || a.Net != eur(5039) {
		t.Fatalf("inclusive: %+v %v", a, err)
	}
	// 2 × 10.25 plus 8.875% sales tax (887.5 bp is not representable: use 888): 20.50 × 8.88% = 1.8204 → 1.82
	a, err = priceLine(MustMoney(1025, "USD"), 2, MustMoney(0, "USD"), TaxRate{Rate: 888})
	if err != nil || a.Net != MustMoney(2050, "USD") || a.Tax != MustMoney(182, "USD") || a.Gross != MustMoney(2232, "USD") {
		t.Fatalf("exclusive: %+v %v", a, err)
	}
	// half-even at the line: 0.25 net at 10% = 0.025 → 0.02
	a, _ = priceLine(eur(25), 1, eur(0), TaxRate{Rate: 1000})
	if a.Tax != eur(2) {
		t.Fatalf("half even: %+v", a)
	}
	// JPY, exponent 0: ¥1,100 incl. 10% holds ¥100 tax
	a, _ = priceLine(MustMoney(1100, "JPY"), 1, MustMoney(0, "JPY"), TaxRate{Rate: 1000, Inclusive: true})
	if a.Tax != MustMoney(100, "JPY") || a.Net != MustMoney(1000, "JPY") {
		t.Fatalf("JPY: %+v", a)
	}
}

func TestFixedDiscountAllocation(t *testing.T) {
	c := &Coupon{Code: "TENOFF", Kind: CouponFixed, AmountOff: eur(1000)}
	subs := []Money{eur(3333), eur(3333), eur(3334)}
	d, err := c.allocate("EUR", subs, eur(10000))
	if err != nil {
		t.Fatal(err)
	}
	if d[0].Amount+d[1].Amount+d[2].Amount != 1000 {
		t.Fatalf("allocation %v does not sum to 10.00", d)
	}
	// more off than the cart is worth: capped at the subtotal, each line at most its subtotal
	d, _ = (&Coupon{Code: "BIG", Kind: CouponFixed, AmountOff: eur(5000)}).allocate("EUR", []Money{eur(100), eur(200)}, eur(300))
	if d[0] != eur(100) || d[1] != eur(200) {
		t.Fatalf("capped allocation %v", d)
	}
}

// Property: a fixed discount is spread exactly, never above a line's subtotal.
func TestFixedDiscountAllocationProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		subs := rapid.SliceOfN(rapid.Int64Range(0, 1e9), 1, 20).Draw(t, "subs")
		off := rapid.Int64Range(1, 1e10).Draw(t, "off")
		var total int64
		ms := make([]Money, len(subs))
		for i, s := range subs {
			ms[i], total = eur(s), total+s
		}
		d, err := (&Coupon{Code: "X12", Kind: CouponFixed, AmountOff: eur(off)}).allocate("EUR", ms, eur(total))
		if err != nil {
			t.Fatal(err)
		}
		var sum int64
		for i := range d {
			if d[i].Amount < 0 || d[i].Amount > subs[i] {
				t.Fatalf("line %d discount %d outside [0, %d]", i, d[i].Amount, subs[i])
			}
			sum += d[i].Amount
		}
		if want := min(off, total); sum != want {
			t.Fatalf("discounts sum to %d, want %d", sum, want)
		}
	})
}

func TestShippingRule(t *testing.T) {
	r := ShippingRule{Fee: eur(495), FreeFrom: eur(5000)}
	if got := r.Charge(eur(4999), false); got != eur(495) {
		t.Errorf("below threshold: %v", got)
	}
	if got := r.Charge(eur(5000), false); !got.IsZero() {
		t.Errorf("at threshold: %v", got)
	}
	if got := r.Charge(eur(0), true); !got.IsZero() {
		t.Errorf("empty cart: %v", got)
	}
	flat := ShippingRule{Fee: eur(300)}
	if got := flat.Charge(eur(1_000_000), false); got != eur(300) {
		t.Errorf("flat: %v", got)
	}
}

func TestPricingValidate(t *testing.T) {
	if err := DefaultPricing().Validate(); err != nil {
		t.Fatal(err)
	}
	bad := Pricing{
		Tax:      TaxTable{DefaultCountry: "XX", Countries: map[string]TaxRate{"de": {Rate: 1900}, "FR": {Rate: 20000}}},
		Shipping: map[string]ShippingRule{"EUR": {Fee: MustMoney(1, "USD")}},
	}
	err := bad.Validate()
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Problems) != 4 {
		t.Fatalf("want 4 problems, got %v", err)
	}
}

func TestLineCheck(t *testing.T) {
	a, _ := priceLine(eur(1000), 2, eur(100), TaxRate{Rate: 2000})
	l := Line{SKU: "A-1", ProductID: "p1", Quantity: 2, UnitPrice: eur(1000), LineAmounts: a}
	if err := l.Check(); err != nil {
		t.Fatal(err)
	}
	l.Tax = eur(1)
	if err := l.Check(); !errors.Is(err, ErrValidation) {
		t.Fatalf("tampered tax: %v", err)
	}
	l.LineAmounts = a
	l.Discount, l.Net, l.Gross = eur(3000), eur(-1000), eur(-1200)
	if err := l.Check(); !errors.Is(err, ErrValidation) {
		t.Fatalf("discount above subtotal: %v", err)
	}
}
