package domain

import (
	"fmt"
	"sort"
)

// TaxRate is the tax charged on goods shipped to one country.
type TaxRate struct {
	Rate BasisPoints `json:"rate"` // 1900 = 19%
	// Inclusive means catalog prices already include the tax (EU consumer pricing) and the
	// tax is extracted from them; otherwise it is added on top (US-style).
	Inclusive bool `json:"inclusive"`
}

// TaxTable is the configurable tax rate per destination country.
type TaxTable struct {
	// DefaultCountry is the tax country of a cart that has no shipping address yet.
	DefaultCountry string `json:"defaultCountry"`
	// Countries maps ISO 3166-1 alpha-2 codes to rates. A country not listed cannot be
	// shipped to.
	Countries map[string]TaxRate `json:"countries"`
}

// Lookup returns the rate for a destination country.
func (t TaxTable) Lookup(country string) (TaxRate, error) {
	r, ok := t.Countries[country]
	if !ok {
		return TaxRate{}, invalid("country", "we do not ship to %q", country)
	}
	return r, nil
}

// Validate checks the table: known default country, well-formed codes, rates in 0–100%.
func (t TaxTable) Validate() error {
	var p problems
	if _, ok := t.Countries[t.DefaultCountry]; !ok {
		p.add("tax.defaultCountry", "%q has no rate in the table", t.DefaultCountry)
	}
	for _, c := range sortedKeys(t.Countries) {
		p.addErr("tax.countries", ValidateCountry(c, c))
		if r := t.Countries[c].Rate; r < 0 || r > BasisPointsPerUnit {
			p.add("tax.countries."+c+".rate", "must be between 0 and 10000 basis points")
		}
	}
	return p.err()
}

// ShippingRule is the shipping charge for orders in one currency: a flat fee, free from a
// threshold.
type ShippingRule struct {
	Fee Money `json:"fee"`
	// FreeFrom is the order value (subtotal after discount) from which shipping is free;
	// zero means shipping is never free.
	FreeFrom Money `json:"freeFrom"`
}

// Charge returns the shipping charge for an order whose discounted subtotal is value.
// An empty order ships nothing and costs nothing.
func (r ShippingRule) Charge(value Money, empty bool) Money {
	if empty || (r.FreeFrom.IsPositive() && value.Amount >= r.FreeFrom.Amount) {
		return Zero(r.Fee.Currency)
	}
	return r.Fee
}

// Pricing is the configuration a cart is priced with. It is passed to the cart decider; the
// results (line amounts, totals) are stored in events, so replaying history never depends
// on the configuration of the day.
type Pricing struct {
	Tax TaxTable `json:"tax"`
	// Shipping maps a currency code to its rule. A currency without a rule is not sold:
	// carts cannot be created in it.
	Shipping map[string]ShippingRule `json:"shipping"`
}

// Validate checks the whole configuration.
func (p Pricing) Validate() error {
	var ps problems
	ps.addErr("", p.Tax.Validate())
	if len(p.Shipping) == 0 {
		ps.add("shipping", "at least one currency needs a shipping rule")
	}
	for _, cur := range sortedKeys(p.Shipping) {
		r := p.Shipping[cur]
		f := "shipping." + cur
		ps.addErr(f, ValidateCurrency(cur))
		if r.Fee.Currency != cur || r.Fee.IsNegative() {
			ps.add(f+".fee", "must be a non-negative %s amount", cur)
		}
		if !(r.FreeFrom == Money{}) && (r.FreeFrom.Currency != cur || r.FreeFrom.IsNegative()) {
			ps.add(f+".freeFrom", "must be a non-negative %s amount", cur)
		}
	}
	return ps.err()
}

// DefaultPricing is a demo configuration (EU-style inclusive VAT, US-style exclusive sales
// tax) used by development setups and tests; production configures its own.
func DefaultPricing() Pricing {
	inc := func(bp BasisPoints) TaxRate { return TaxRate{Rate: bp, Inclusive: true} }
	return Pricing{
		Tax: TaxTable{
			DefaultCountry: "DE",
			Countries: map[string]TaxRate{
				"DE": inc(1900), "AT": inc(2000), "BE": inc(2100), "ES": inc(2100), "FR": inc(2000),
				"IE": inc(2300), "IT": inc(2200), "NL": inc(2100), "PL": inc(2300), "SE": inc(2500),
				"DK": inc(2500), "FI": inc(2550), "PT": inc(2300), "LU": inc(1700), "CH": inc(810),
				"GB": inc(2000), "NO": inc(2500), "JP": inc(1000),
				"US": {Rate: 0}, "CA": {Rate: 500}, "KW": {Rate: 0},
			},
		},
		Shipping: map[string]ShippingRule{
			"EUR": {Fee: MustMoney(495, "EUR"), FreeFrom: MustMoney(5000, "EUR")},
			"USD": {Fee: MustMoney(599, "USD"), FreeFrom: MustMoney(7500, "USD")},
			"GBP": {Fee: MustMoney(399, "GBP"), FreeFrom: MustMoney(4000, "GBP")},
			"CHF": {Fee: MustMoney(790, "CHF"), FreeFrom: MustMoney(6000, "CHF")},
			"SEK": {Fee: MustMoney(4900, "SEK"), FreeFrom: MustMoney(50000, "SEK")},
			"JPY": {Fee: MustMoney(800, "JPY"), FreeFrom: MustMoney(8000, "JPY")},
			"KWD": {Fee: MustMoney(1500, "KWD")},
		},
	}
}

// LineAmounts are the money amounts of one line, computed once per line:
//
//	Subtotal = UnitPrice × Quantity
//	exclusive: Net = Subtotal − Discount, Tax = HalfEven(Net × rate),           Gross = Net + Tax
//	inclusive: Gross = Subtotal − Discount, Tax = HalfEven(Gross × rate/(1+rate)), Net = Gross − Tax
type LineAmounts struct {
	Subtotal     Money       `json:"subtotal"`
	Discount     Money       `json:"discount"`
	Net          Money       `json:"net"`
	Tax          Money       `json:"tax"`
	Gross        Money       `json:"gross"`
	TaxRate      BasisPoints `json:"taxRate"`
	TaxInclusive bool        `json:"taxInclusive"`
}

// Line is one SKU in a cart or an order, with its catalog price snapshot and its amounts.
type Line struct {
	SKU       string `json:"sku"`
	ProductID string `json:"productId"`
	Name      string `json:"name"`
	Quantity  int64  `json:"quantity"`
	UnitPrice Money  `json:"unitPrice"` // the catalog price when the line was added
	LineAmounts
}

// Totals of a cart or an order; every field but Shipping and GrandTotal is the exact sum of
// the lines' field of the same name.
type Totals struct {
	Subtotal   Money `json:"subtotal"`
	Discount   Money `json:"discount"`
	Net        Money `json:"net"`
	Tax        Money `json:"tax"`
	Gross      Money `json:"gross"`
	Shipping   Money `json:"shipping"`
	GrandTotal Money `json:"grandTotal"` // Gross + Shipping: what the customer pays
}

// priceLine computes a line's amounts for a given discount.
func priceLine(unit Money, qty int64, discount Money, rate TaxRate) (LineAmounts, error) {
	sub, err := unit.Mul(qty)
	if err != nil {
		return LineAmounts{}, err
	}
	after, err := sub.Sub(discount)
	if err != nil {
		return LineAmounts{}, err
	}
	a := LineAmounts{Subtotal: sub, Discount: discount, TaxRate: rate.Rate, TaxInclusive: rate.Inclusive}
	if rate.Inclusive {
		a.Gross = after
		if a.Tax, err = after.MulRatio(int64(rate.Rate), BasisPointsPerUnit+int64(rate.Rate)); err != nil {
			return LineAmounts{}, err
		}
		a.Net, err = after.Sub(a.Tax)
	} else {
		a.Net = after
		if a.Tax, err = after.ApplyRate(rate.Rate); err != nil {
			return LineAmounts{}, err
		}
		a.Gross, err = after.Add(a.Tax)
	}
	return a, err
}

// Check verifies a line's amounts against its price, quantity and tax mode, so lines built
// elsewhere (an order placed from a cart) cannot carry inconsistent numbers.
func (l Line) Check() error {
	var p problems
	p.addErr("sku", ValidateSKU("", l.SKU))
	if l.Quantity < 1 || l.Quantity > MaxLineQuantity {
		p.add("quantity", "must be between 1 and %d", MaxLineQuantity)
	}
	if err := l.UnitPrice.Validate(); err != nil || l.UnitPrice.IsNegative() {
		p.add("unitPrice", "must be a non-negative amount in a supported currency")
	}
	if len(p) > 0 {
		return p.err()
	}
	if l.Discount.IsNegative() || l.Discount.Currency != l.UnitPrice.Currency {
		p.add("discount", "must be a non-negative %s amount", l.UnitPrice.Currency)
		return p.err()
	}
	want, err := priceLine(l.UnitPrice, l.Quantity, l.Discount, TaxRate{Rate: l.TaxRate, Inclusive: l.TaxInclusive})
	switch {
	case err != nil:
		p.add("", "%v", err)
	case want.Discount.Amount > want.Subtotal.Amount:
		p.add("discount", "%s exceeds the line subtotal %s", l.Discount, want.Subtotal)
	case want != l.LineAmounts:
		p.add("", "amounts of line %s are inconsistent: want subtotal %s, net %s, tax %s, gross %s",
			l.SKU, want.Subtotal, want.Net, want.Tax, want.Gross)
	}
	return p.err()
}

// SumLines returns the totals of lines plus a shipping charge, all in currency.
func SumLines(currency string, lines []Line, shipping Money) (Totals, error) {
	t := Totals{
		Subtotal: Zero(currency), Discount: Zero(currency), Net: Zero(currency),
		Tax: Zero(currency), Gross: Zero(currency),
	}
	for _, l := range lines {
		for _, f := range []struct {
			dst *Money
			v   Money
		}{{&t.Subtotal, l.Subtotal}, {&t.Discount, l.Discount}, {&t.Net, l.Net}, {&t.Tax, l.Tax}, {&t.Gross, l.Gross}} {
			s, err := f.dst.Add(f.v)
			if err != nil {
				return Totals{}, fmt.Errorf("line %s: %w", l.SKU, err)
			}
			*f.dst = s
		}
	}
	if shipping == (Money{}) {
		shipping = Zero(currency)
	}
	t.Shipping = shipping
	var err error
	if t.GrandTotal, err = t.Gross.Add(shipping); err != nil {
		return Totals{}, err
	}
	return t, nil
}

// priceCart prices lines (quantities and unit prices set) with an optional coupon, the tax
// rate of the destination and the shipping rule of the currency.
func priceCart(currency string, lines []Line, coupon *Coupon, rate TaxRate, ship ShippingRule) ([]Line, Totals, error) {
	out := make([]Line, len(lines))
	subs := make([]Money, len(lines))
	total := Zero(currency)
	for i, l := range lines {
		s, err := l.UnitPrice.Mul(l.Quantity)
		if err != nil {
			return nil, Totals{}, err
		}
		subs[i] = s
		if total, err = total.Add(s); err != nil {
			return nil, Totals{}, err
		}
	}
	discounts, err := coupon.allocate(currency, subs, total)
	if err != nil {
		return nil, Totals{}, err
	}
	afterDiscount := total
	for i, l := range lines {
		if l.LineAmounts, err = priceLine(l.UnitPrice, l.Quantity, discounts[i], rate); err != nil {
			return nil, Totals{}, err
		}
		out[i] = l
		afterDiscount.Amount -= discounts[i].Amount
	}
	totals, err := SumLines(currency, out, ship.Charge(afterDiscount, len(lines) == 0))
	return out, totals, err
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
