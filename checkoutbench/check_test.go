package checkoutbench

import (
	"strings"
	"testing"
	"time"
)

// consistent is a correct flash sale: 30 buyers, 10 units, all accounted for.
func consistent() *outcome {
	o := newOutcome()
	o.flash, o.buyers, o.flashStock = true, 30, 10
	o.placed, o.confirmed, o.cancelled = 30, 10, 20
	o.cancelCodes[codeOutOfStock] = 20
	o.received["SKU"] = 10
	o.sold["SKU"] = 10
	o.final = map[string]Stock{"SKU": {OnHand: 0, Reserved: 0, Committed: 10}}
	return o
}

func TestCheckerAcceptsConsistentOutcome(t *testing.T) {
	if p := consistent().problems(); len(p) != 0 {
		t.Fatalf("problems %q", p)
	}
}

func TestCheckerReportsInconsistentOutcomes(t *testing.T) {
	cases := map[string]struct {
		spoil func(o *outcome)
		want  string
	}{
		"oversold": {func(o *outcome) {
			o.confirmed, o.cancelled = 11, 19
			o.sold["SKU"] = 11
			o.final["SKU"] = Stock{OnHand: -1, Committed: 11}
		}, "want exactly min(buyers 30, stock 10) = 10"},
		"negative final stock": {func(o *outcome) { o.final["SKU"] = Stock{OnHand: -1, Committed: 10} }, "negative stock"},
		"lost checkout":        {func(o *outcome) { o.cancelled-- }, "≠ placed 30"},
		"not terminal":         {func(o *outcome) { o.notTerminal = 1 }, "never reached a terminal state"},
		"5xx":                  {func(o *outcome) { o.errors["POST /v1/orders 500"] = 2; o.serverErrors = 2 }, "2 server errors"},
		"throttled":            {func(o *outcome) { o.errors["POST /v1/carts 429"] = 1 }, "POST /v1/carts 429: 1"},
		"wrong cancel reason": {func(o *outcome) {
			o.cancelCodes[codeOutOfStock] = 19
			o.cancelCodes["payment_declined"] = 1
		}, "another reason than out of stock"},
		"leaked reservation":  {func(o *outcome) { o.final["SKU"] = Stock{OnHand: 1, Reserved: 1, Committed: 10, Reservations: 1} }, "still reserved"},
		"committed ≠ sold":    {func(o *outcome) { o.final["SKU"] = Stock{Committed: 9, OnHand: 1} }, "9 units committed"},
		"on hand ≠ recv−sold": {func(o *outcome) { o.final["SKU"] = Stock{OnHand: 2, Committed: 10} }, "2 on hand"},
		"missing final read":  {func(o *outcome) { delete(o.final, "SKU") }, "final stock not read"},
		"negative read":       {func(o *outcome) { o.checkRead("SKU", Stock{OnHand: 3, Reserved: 4}) }, "negative"},
		"mismatch":            {func(o *outcome) { o.mismatch("order x: checkout confirmed but the order is %q", "cancelled") }, "inconsistent answers"},
		"ample stock cancelled": {func(o *outcome) {
			o.flash = false
			o.final = nil
		}, "cancelled although stock is ample"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			o := consistent()
			c.spoil(o)
			p := strings.Join(o.problems(), "; ")
			if !strings.Contains(p, c.want) {
				t.Fatalf("problems %q, want one mentioning %q", p, c.want)
			}
		})
	}
}

func TestPercentiles(t *testing.T) {
	var ds []int
	for i := 1; i <= 100; i++ {
		ds = append(ds, i)
	}
	p := percentiles(msDurations(ds...), 50, 99, 100)
	if p[0] != 50 || p[1] != 99 || p[2] != 100 {
		t.Fatalf("percentiles %v", p)
	}
	if p := percentiles(nil, 50); p[0] != 0 {
		t.Fatalf("empty: %v", p)
	}
}

func msDurations(ms ...int) []time.Duration {
	ds := make([]time.Duration, len(ms))
	for i, m := range ms {
		ds[i] = time.Duration(m) * time.Millisecond
	}
	return ds
}
