package checkoutbench

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const progressEvery = 250 * time.Millisecond

// progress counts a phase's finished checkouts and, when it has a writer, redraws one
// line ("checkout   43%   312 checkouts/s   1,234 done") at most every progressEvery.
type progress struct {
	w     io.Writer
	name  string
	total int64         // checkouts expected, or 0 when the phase is timed
	dur   time.Duration // length of a timed phase
	done  atomic.Int64
	start time.Time
	stop  chan struct{}
	wg    sync.WaitGroup
	width int
}

func startProgress(w io.Writer, name string, total int64, dur time.Duration) *progress {
	p := &progress{w: w, name: name, total: total, dur: dur, start: time.Now(), stop: make(chan struct{})}
	if w == nil {
		return p
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				p.draw("")
			}
		}
	}()
	return p
}

func (p *progress) add(n int64) { p.done.Add(n) }

func (p *progress) draw(suffix string) {
	el := time.Since(p.start)
	done := p.done.Load()
	pct := 0.0
	switch {
	case p.total > 0:
		pct = 100 * float64(done) / float64(p.total)
	case p.dur > 0:
		pct = 100 * float64(el) / float64(p.dur)
	}
	line := fmt.Sprintf("%-12s %3d%% %8s checkouts/s %8s done", p.name, int(min(pct, 100)), commas(rate(done, el)), commas(float64(done)))
	if suffix != "" {
		line += "  " + suffix
	}
	pad := ""
	if n := p.width - len(line); n > 0 {
		pad = strings.Repeat(" ", n)
	}
	p.width = len(line)
	fmt.Fprint(p.w, "\r"+line+pad)
}

// finish stops the redraws and writes the final line.
func (p *progress) finish(res *Result) {
	if p.w == nil {
		return
	}
	close(p.stop)
	p.wg.Wait()
	suffix := "ok"
	if !res.OK {
		suffix = "FAILED: " + res.Error
	}
	p.draw(suffix)
	fmt.Fprint(p.w, "\n")
}

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
func commas(f float64) string {
	s := strconv.FormatInt(int64(math.Round(f)), 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
