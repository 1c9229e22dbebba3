package checkoutbench

import (
	"fmt"
	"io"
	"time"

	"github.com/orderengine/orderengine/progressline"
)

// progress counts a phase's finished checkouts and, when it has a writer, redraws one
// line ("checkout   43%   312 checkouts/s   1,234 done").
type progress struct{ line *progressline.Line }

func startProgress(w io.Writer, name string, total int64, dur time.Duration) *progress {
	return &progress{progressline.Start(w, total, dur, func(pct int, rate float64, done int64) string {
		return fmt.Sprintf("%-12s %3d%% %8s checkouts/s %8s done", name, pct, commas(rate), commas(float64(done)))
	})}
}

func (p *progress) add(n int64) { p.line.Add(n) }

// finish stops the redraws and writes the final line.
func (p *progress) finish(res *Result) { p.line.Finish(res.OK, res.Error) }

// logf writes a one-off progress line.
func logf(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format+"\n", args...)
	}
}

func rate(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// commas formats a number with thousands separators and no decimals: 12,345.
func commas(f float64) string { return progressline.Commas(f) }
