// Package progressline redraws one progress line on a terminal ("append_b1  43%  4,210
// ev/s") for long runs: benchmarks, seeding, rebuilds.
package progressline

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

// Every is how often a line is redrawn.
const Every = 250 * time.Millisecond

// Render formats the line from the percentage done, the rate per second and the count.
type Render func(pct int, rate float64, done int64) string

// Line counts work done and, with a writer, redraws itself every Every.
type Line struct {
	w      io.Writer
	total  int64         // expected count, or 0 when the work is timed
	dur    time.Duration // length of timed work
	render Render
	done   atomic.Int64
	start  time.Time
	stop   chan struct{}
	wg     sync.WaitGroup
	width  int
}

// Start begins a line; w nil counts without drawing.
func Start(w io.Writer, total int64, dur time.Duration, render Render) *Line {
	l := &Line{w: w, total: total, dur: dur, render: render, start: time.Now(), stop: make(chan struct{})}
	if w == nil {
		return l
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		t := time.NewTicker(Every)
		defer t.Stop()
		for {
			select {
			case <-l.stop:
				return
			case <-t.C:
				l.draw("")
			}
		}
	}()
	return l
}

// Elapsed is the time since Start.
func (l *Line) Elapsed() time.Duration { return time.Since(l.start) }

// Done is the count so far.
func (l *Line) Done() int64 { return l.done.Load() }

// Add counts n more done.
func (l *Line) Add(n int64) { l.done.Add(n) }

func (l *Line) draw(suffix string) {
	el := time.Since(l.start)
	done := l.done.Load()
	pct := 0.0
	switch {
	case l.total > 0:
		pct = 100 * float64(done) / float64(l.total)
	case l.dur > 0:
		pct = 100 * float64(el) / float64(l.dur)
	}
	rate := 0.0
	if el > 0 {
		rate = float64(done) / el.Seconds()
	}
	line := l.render(int(min(pct, 100)), rate, done)
	if suffix != "" {
		line += "  " + suffix
	}
	pad := ""
	if n := l.width - len(line); n > 0 {
		pad = strings.Repeat(" ", n)
	}
	l.width = len(line)
	fmt.Fprint(l.w, "\r"+line+pad)
}

// Finish stops the redraws and writes the final line, ending "ok" or "FAILED: why".
func (l *Line) Finish(ok bool, failure string) {
	if l.w == nil {
		return
	}
	close(l.stop)
	l.wg.Wait()
	suffix := "ok"
	if !ok {
		suffix = "FAILED: " + failure
	}
	l.draw(suffix)
	fmt.Fprint(l.w, "\n")
}

// Commas formats a number with thousands separators and no decimals: 12,345.
func Commas(f float64) string {
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
