package storebench

import (
	"fmt"
	"io"
	"time"

	"github.com/orderengine/orderengine/progressline"
)

// progress counts a workload's events and, when it has a writer, redraws one line
// ("append_b1  43%  4,210 ev/s").
type progress struct{ line *progressline.Line }

func startProgress(w io.Writer, name string, total int64, dur time.Duration) *progress {
	return &progress{progressline.Start(w, total, dur, func(pct int, rate float64, _ int64) string {
		return fmt.Sprintf("%-14s %3d%% %10s ev/s", name, pct, commas(rate))
	})}
}

func (p *progress) add(n int64) { p.line.Add(n) }

// finish stops the redraws and writes the final line.
func (p *progress) finish(res *Result) { p.line.Finish(res.OK, res.Error) }

// commas formats a rate with thousands separators and no decimals: 12,345.
func commas(f float64) string { return progressline.Commas(f) }
