package progressline

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestCommas(t *testing.T) {
	for in, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 1234567.6: "1,234,568", -12345: "-12,345"} {
		if got := Commas(in); got != want {
			t.Errorf("Commas(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestLine(t *testing.T) {
	var b bytes.Buffer
	l := Start(&b, 10, 0, func(pct int, _ float64, done int64) string {
		return "work " + Commas(float64(pct)) + "% " + Commas(float64(done))
	})
	l.Add(5)
	time.Sleep(Every + 50*time.Millisecond)
	l.Add(5)
	l.Finish(false, "boom")
	out := b.String()
	if !strings.Contains(out, "\rwork 50% 5") || !strings.HasSuffix(out, "work 100% 10  FAILED: boom\n") {
		t.Fatalf("output %q", out)
	}
	Start(nil, 1, 0, nil).Finish(true, "") // no writer: nothing drawn, no panic
}

func TestBarOffTerminal(t *testing.T) {
	var b bytes.Buffer
	bar := NewBar(&b)
	bar.Update(12.5, "first")
	bar.Update(50, "too soon") // within BarEvery: dropped
	bar.Done()
	if got := b.String(); got != " 12.5% first\n" {
		t.Fatalf("output %q", got)
	}
}
