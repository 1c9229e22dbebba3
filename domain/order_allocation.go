package domain

// Money of a line is allocated to its units by one rule, cumulative floor:
//
//	the first k of a line's Q units carry ⌊A·k/Q⌋ of the line's amount A,
//
// so units k..k+n−1 carry ⌊A·(k+n)/Q⌋ − ⌊A·k/Q⌋. Shares are integers in minor units,
// never negative, and whatever the split, the shares of all Q units sum to A exactly
// (the sum telescopes). It is applied separately to a line's Discount and Tax (the order's
// discounts and tax are already allocated exactly to lines when the cart is priced, see
// Coupon.allocate and priceLine); the value of some units is then
//
//	exclusive tax: UnitPrice·n − discount share + tax share
//	inclusive tax: UnitPrice·n − discount share (the tax share is inside)
//
// Units are numbered per purpose: captures and refunds take units from the front in the
// order they happen (fulfilled and refunded counts), cancellations from the back, so that
// a fully fulfilled line captures exactly its Gross and a fully refunded one refunds it,
// and a line partly fulfilled and partly cancelled captures plus releases its Gross.

// floorShare is ⌊a·k/q⌋ for 0 ≤ k ≤ q, a ≥ 0.
func floorShare(a, k, q int64) int64 {
	if q <= 0 || k <= 0 {
		return 0
	}
	if k >= q {
		return a
	}
	v, _, ok := mulDivFloor(a, k, q)
	if !ok { // cannot happen for k < q: the result is below a
		return a
	}
	return v
}

// UnitShare is what units [from, from+n) of a line carry of each of its amounts.
type UnitShare struct {
	Subtotal Money `json:"subtotal"`
	Discount Money `json:"discount"`
	Tax      Money `json:"tax"`
	Amount   Money `json:"amount"` // what the customer paid for these units
}

// UnitsShare allocates a line's amounts to its units [from, from+n) by cumulative floor.
// It assumes 0 ≤ from, n and from+n ≤ Quantity.
func (l Line) UnitsShare(from, n int64) UnitShare {
	cur := l.UnitPrice.Currency
	q := l.Quantity
	disc := floorShare(l.Discount.Amount, from+n, q) - floorShare(l.Discount.Amount, from, q)
	tax := floorShare(l.Tax.Amount, from+n, q) - floorShare(l.Tax.Amount, from, q)
	sub := l.UnitPrice.Amount * n // bounded: Line.Check verified UnitPrice × Quantity fits
	amount := sub - disc
	if !l.TaxInclusive {
		amount += tax
	}
	return UnitShare{Subtotal: Money{sub, cur}, Discount: Money{disc, cur}, Tax: Money{tax, cur}, Amount: Money{amount, cur}}
}
