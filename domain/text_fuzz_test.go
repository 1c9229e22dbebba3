package domain_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/orderengine/orderengine/domain"
)

// FuzzCheckText: whatever CheckText accepts is valid UTF-8 without C0/C1 controls (but
// line breaks and tabs in multi-line text) or bidi formatting, and an address that
// carries it validates the same way.
func FuzzCheckText(f *testing.F) {
	for _, s := range []string{"Hauptstr. 1", "Zürich", "line\nbreak", "nul\x00", "\x1b[31mred", "\u202eevil", "\u2066iso\u2069", "tab\there", "\xff", "del\x7f", "c1\u0085", "日本語"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, multiline bool) {
		err := domain.CheckText(s, multiline)
		bad := !utf8.ValidString(s)
		for _, r := range s {
			if multiline && strings.ContainsRune("\n\r\t", r) {
				continue
			}
			if r < 0x20 || r >= 0x7f && r < 0xa0 || r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 {
				bad = true
			}
		}
		if bad != (err != nil) {
			t.Fatalf("CheckText(%q, %v) = %v", s, multiline, err)
		}
		if multiline {
			return
		}
		a := domain.Address{Name: "A", Line1: s, City: "B", PostalCode: "1", Country: "DE"}
		aerr := a.Validate()
		if err != nil && aerr == nil {
			t.Fatalf("an address with line1 %q validates", s)
		}
	})
}
