package progressline

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Bar is a progress bar driven by its caller's percentages (rebuilds and seeding report
// their own progress): on a terminal it redraws one line, elsewhere (logs, pipes) it
// prints a line at most every BarEvery.
type Bar struct {
	w     io.Writer
	tty   bool
	last  time.Time
	drawn bool
}

// BarEvery is how often a Bar writes a line when w is not a terminal.
const BarEvery = 2 * time.Second

// NewBar returns a bar drawing on w.
func NewBar(w io.Writer) *Bar {
	tty := false
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	return &Bar{w: w, tty: tty}
}

// Update shows pct (0–100) done and a text.
func (b *Bar) Update(pct float64, text string) {
	now := time.Now()
	if !b.tty {
		if now.Sub(b.last) < BarEvery {
			return
		}
		b.last = now
		fmt.Fprintf(b.w, "%5.1f%% %s\n", pct, text)
		return
	}
	const width = 30
	filled := max(0, min(width, int(pct/100*width)))
	fmt.Fprintf(b.w, "\r[%s%s] %5.1f%% %s\x1b[K", strings.Repeat("#", filled), strings.Repeat(".", width-filled), pct, text)
	b.drawn = true
}

// Done ends the bar's line on a terminal.
func (b *Bar) Done() {
	if b.tty && b.drawn {
		fmt.Fprintln(b.w)
	}
}
