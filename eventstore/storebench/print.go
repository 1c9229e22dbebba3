package storebench

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// PrintTable writes the results as an aligned table for people: the workload left,
// the numbers right-aligned, then free-text notes (hot_stream's commits and conflicts, the
// ratio to raw INSERTs, errors).
func PrintTable(w io.Writer, rs []Result) {
	rows := [][]string{{"workload", "ok", "events/s", "appends/s", "p50 ms", "p99 ms", "dup", "missing", "events", "seconds", "notes"}}
	for _, r := range rs {
		ok := "ok"
		if !r.OK {
			ok = "FAIL"
		}
		speed, ms := "-", func(float64) string { return "-" }
		if r.OK && r.Workload != CatchupNoop { // catchup_noop times no single operation
			ms = func(f float64) string { return strconv.FormatFloat(f, 'f', 2, 64) }
		}
		rows = append(rows, []string{r.Workload, ok, speed, speed, ms(r.P50Ms), ms(r.P99Ms),
			strconv.Itoa(r.Duplicates), strconv.Itoa(r.Missing), commas(float64(r.Events)),
			strconv.FormatFloat(r.DurationS, 'f', 1, 64), notes(r)})
		if r.OK {
			rows[len(rows)-1][2], rows[len(rows)-1][3] = commas(r.EventsPerS), commas(r.AppendsPerS)
		}
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
			case i == 0:
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
	if r.CommitsPerS != nil && r.OK {
		n = append(n, fmt.Sprintf("%s commits/s", commas(*r.CommitsPerS)))
	}
	if r.ConflictRate != nil {
		n = append(n, fmt.Sprintf("conflict rate %.1f%% (%s of %s attempts)", 100**r.ConflictRate, commas(float64(r.Conflicts)), commas(float64(r.Attempts))))
	}
	if r.RatioToRaw != nil {
		n = append(n, fmt.Sprintf("%.2f × raw INSERT", *r.RatioToRaw))
	}
	if r.Atomic != nil {
		kind := "4 single appends per batch"
		if *r.Atomic {
			kind = "1 atomic append per batch"
		}
		n = append(n, fmt.Sprintf("appends/s = batches/s of %d streams; %s", r.Batch, kind))
	}
	if r.Workload == ReadStreams {
		n = append(n, fmt.Sprintf("%s stream reads", commas(float64(r.Appends))))
	}
	if r.OutOfOrder > 0 {
		n = append(n, fmt.Sprintf("%d out of order", r.OutOfOrder))
	}
	if r.Unexpected > 0 {
		n = append(n, fmt.Sprintf("%d unexpected", r.Unexpected))
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
