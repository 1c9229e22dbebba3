package checkoutbench

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// PrintTable writes the results as an aligned table for people: the workload and tier
// left, the numbers right-aligned, then free-text notes (errors, cancellations, failed
// checks).
func PrintTable(w io.Writer, rs []Result) {
	rows := [][]string{{"workload", "tier", "ok", "checkouts/s", "p50 ms", "p99 ms", "journey p50", "journey p99",
		"placed", "confirmed", "cancelled", "errors", "conc", "seconds", "notes"}}
	ms := func(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }
	for _, r := range rs {
		ok := "ok"
		if !r.OK {
			ok = "FAIL"
		}
		rows = append(rows, []string{r.Workload, r.Tier, ok, commas(r.CheckoutsPerS), ms(r.P50Ms), ms(r.P99Ms),
			ms(r.JourneyP50Ms), ms(r.JourneyP99Ms), commas(float64(r.Placed)), commas(float64(r.Confirmed)),
			commas(float64(r.Cancelled)), commas(float64(r.Errors)), strconv.Itoa(r.Concurrency),
			strconv.FormatFloat(r.DurationS, 'f', 1, 64), notes(r)})
	}
	width := make([]int, len(rows[0]))
	for _, row := range rows {
		for i, c := range row {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	var b strings.Builder
	for _, row := range rows {
		b.Reset()
		for i, c := range row {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			switch {
			case i <= 1:
				if i > 0 {
					b.WriteString("  ")
				}
				b.WriteString(c + pad)
			case i == len(row)-1:
				b.WriteString("  " + c)
			default:
				b.WriteString("  " + pad + c)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}

// notes is the free-text last column: what the numeric columns do not say.
func notes(r Result) string {
	var n []string
	n = append(n, fmt.Sprintf("%s req/s", commas(r.RequestsPerS)))
	if r.Workload == FlashSale {
		n = append(n, fmt.Sprintf("%s buyers for %s units", commas(float64(r.Buyers)), commas(float64(r.Stock))))
	} else if r.Placed > 0 {
		n = append(n, fmt.Sprintf("%.1f lines/order", float64(r.Lines)/float64(r.Placed)))
	}
	if r.Polled > 0 {
		n = append(n, fmt.Sprintf("%d answered 202 and were polled", r.Polled))
	}
	if len(r.CancelCodes) > 0 {
		n = append(n, "cancelled: "+formatCounts(r.CancelCodes))
	}
	if !r.StockChecked {
		n = append(n, "stock not checked")
	} else {
		n = append(n, fmt.Sprintf("stock checked (%d reads during the run)", r.StockReads))
	}
	if r.Error != "" {
		n = append(n, "error: "+r.Error)
	}
	return strings.Join(n, "; ")
}

// PrintResultLines writes one machine-readable line per result: RESULT {json}.
func PrintResultLines(w io.Writer, rs []Result) {
	for _, r := range rs {
		b, err := json.Marshal(r) // cannot fail: plain fields only
		if err != nil {
			b = []byte(strconv.Quote(err.Error()))
		}
		fmt.Fprintf(w, "RESULT %s\n", b)
	}
}

// percentiles returns the p-th percentiles (nearest rank) of ds in milliseconds; ds is
// sorted in place.
func percentiles(ds []time.Duration, ps ...float64) []float64 {
	out := make([]float64, len(ps))
	if len(ds) == 0 {
		return out
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	for i, p := range ps {
		k := int(float64(len(ds))*p/100+0.999999) - 1
		k = max(0, min(k, len(ds)-1))
		out[i] = float64(ds[k].Microseconds()) / 1000
	}
	return out
}
