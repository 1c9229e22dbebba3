package checkoutbench

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// outcome is what a run observed; problems judges it.
type outcome struct {
	flash      bool
	buyers     int   // flash_sale: buyers who checked out
	flashStock int64 // flash_sale: units on sale

	placed, confirmed, cancelled int
	// notTerminal: placed checkouts that never reached a terminal state (poll timeout or
	// an answer without an outcome).
	notTerminal  int
	errors       map[string]int // failed requests by "METHOD route status"
	serverErrors int            // 5xx answers among them
	cancelCodes  map[string]int
	// mismatches are answers that contradict each other (e.g. a confirmed checkout whose
	// order is not paid, or order lines that differ from the cart).
	mismatches     []string
	mismatchCount  int
	readProblems   []string         // stock reads that failed
	received       map[string]int64 // units received per SKU
	sold           map[string]int64 // units of confirmed orders per SKU
	final          map[string]Stock // final stock per SKU; nil when not read
	negativeReads  []string         // reads during the run with a negative figure
	negativeCount  int
	interruptedRun bool
}

func newOutcome() *outcome {
	return &outcome{errors: map[string]int{}, cancelCodes: map[string]int{}, received: map[string]int64{}, sold: map[string]int64{}}
}

func (o *outcome) errorCount() int {
	n := 0
	for _, c := range o.errors {
		n += c
	}
	return n
}

const maxListed = 5

// mismatch records a contradiction (the first few in full).
func (o *outcome) mismatch(format string, args ...any) {
	o.mismatchCount++
	if len(o.mismatches) < maxListed {
		o.mismatches = append(o.mismatches, fmt.Sprintf(format, args...))
	}
}

// problems lists every failed check, most important first; empty means correct.
func (o *outcome) problems() []string {
	var p []string
	if o.interruptedRun {
		p = append(p, "interrupted")
	}
	if o.serverErrors > 0 {
		p = append(p, fmt.Sprintf("%d server errors (5xx)", o.serverErrors))
	}
	if n := o.errorCount(); n > 0 {
		p = append(p, fmt.Sprintf("%d failed requests (%s)", n, formatCounts(o.errors)))
	}
	if o.notTerminal > 0 {
		p = append(p, fmt.Sprintf("%d checkouts never reached a terminal state", o.notTerminal))
	}
	if o.confirmed+o.cancelled != o.placed {
		p = append(p, fmt.Sprintf("confirmed %d + cancelled %d ≠ placed %d", o.confirmed, o.cancelled, o.placed))
	}
	if o.flash {
		want := int64(o.buyers)
		if o.flashStock < want {
			want = o.flashStock
		}
		if int64(o.confirmed) != want {
			p = append(p, fmt.Sprintf("%d confirmed, want exactly min(buyers %d, stock %d) = %d", o.confirmed, o.buyers, o.flashStock, want))
		}
		if o.placed != o.buyers && o.errorCount() == 0 && !o.interruptedRun {
			p = append(p, fmt.Sprintf("%d orders placed for %d buyers", o.placed, o.buyers))
		}
		if other := o.cancelled - o.cancelCodes[codeOutOfStock]; other > 0 {
			p = append(p, fmt.Sprintf("%d cancelled for another reason than out of stock (%s)", other, formatCounts(o.cancelCodes)))
		}
	} else if o.cancelled > 0 {
		p = append(p, fmt.Sprintf("%d checkouts cancelled although stock is ample and the card approves (%s)", o.cancelled, formatCounts(o.cancelCodes)))
	}
	if o.mismatchCount > 0 {
		p = append(p, fmt.Sprintf("%d inconsistent answers: %s", o.mismatchCount, strings.Join(o.mismatches, "; ")))
	}
	if o.negativeCount > 0 {
		p = append(p, fmt.Sprintf("%d stock reads during the run were negative: %s", o.negativeCount, strings.Join(o.negativeReads, "; ")))
	}
	p = append(p, o.readProblems...)
	if o.final != nil {
		p = append(p, o.stockProblems()...)
	}
	return p
}

// stockProblems checks each SKU's final stock against what was received and sold.
func (o *outcome) stockProblems() []string {
	var p []string
	n := 0
	add := func(format string, args ...any) {
		n++
		if n <= maxListed {
			p = append(p, fmt.Sprintf(format, args...))
		}
	}
	for _, sku := range slices.Sorted(maps.Keys(o.received)) {
		s, ok := o.final[sku]
		if !ok {
			add("%s: final stock not read", sku)
			continue
		}
		recv, sold := o.received[sku], o.sold[sku]
		switch {
		case s.OnHand < 0 || s.Reserved < 0 || s.Available() < 0:
			add("%s: negative stock: on hand %d, reserved %d, available %d", sku, s.OnHand, s.Reserved, s.Available())
		case s.Reserved != 0 || s.Reservations != 0:
			add("%s: %d units still reserved by %d reservations after every checkout ended", sku, s.Reserved, s.Reservations)
		case s.Committed != sold:
			add("%s: %d units committed, but confirmed orders hold %d", sku, s.Committed, sold)
		case s.OnHand != recv-sold:
			add("%s: %d on hand, want received %d − sold %d = %d", sku, s.OnHand, recv, sold, recv-sold)
		case o.flash && s.Available() != recv-int64(o.confirmed):
			add("%s: %d available after the sale, want %d", sku, s.Available(), recv-int64(o.confirmed))
		}
	}
	if n > maxListed {
		p = append(p, fmt.Sprintf("… and %d more SKUs with wrong stock", n-maxListed))
	}
	return p
}

// checkRead records a stock read taken during the run.
func (o *outcome) checkRead(sku string, s Stock) {
	if s.OnHand >= 0 && s.Reserved >= 0 && s.Available() >= 0 {
		return
	}
	o.negativeCount++
	if len(o.negativeReads) < maxListed {
		o.negativeReads = append(o.negativeReads, fmt.Sprintf("%s on hand %d, reserved %d, available %d", sku, s.OnHand, s.Reserved, s.Available()))
	}
}

// formatCounts renders a count map in key order: "a: 1, b: 2".
func formatCounts(m map[string]int) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s: %d", k, m[k])
	}
	return b.String()
}
