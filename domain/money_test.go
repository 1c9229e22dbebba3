package domain

import (
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"testing"

	"pgregory.net/rapid"
)

func TestHalfEvenRounding(t *testing.T) {
	for _, tc := range []struct {
		amount int64
		rate   BasisPoints
		want   int64
	}{
		{250, 1000, 25},   // exact
		{25, 1000, 2},     // 2.5 → 2 (even)
		{35, 1000, 4},     // 3.5 → 4 (even)
		{45, 1000, 4},     // 4.5 → 4
		{55, 1000, 6},     // 5.5 → 6
		{26, 1000, 3},     // 2.6 → 3
		{24, 1000, 2},     // 2.4 → 2
		{-25, 1000, -2},   // symmetric for negatives
		{-35, 1000, -4},   //
		{-26, 1000, -3},   //
		{1999, 1900, 380}, // 379.81 → 380
		{50, 100, 0},      // 0.5 → 0
		{150, 100, 2},     // 1.5 → 2
		{1, 5000, 0},      // 0.5 → 0
		{3, 5000, 2},      // 1.5 → 2
		{0, 1900, 0},
		{math.MaxInt64, 10000, math.MaxInt64}, // 128-bit intermediate: no overflow
	} {
		got, err := eur(tc.amount).ApplyRate(tc.rate)
		if err != nil || got.Amount != tc.want {
			t.Errorf("%d × %s = %v (%v), want %d", tc.amount, tc.rate, got.Amount, err, tc.want)
		}
	}
	// inclusive extraction: 1.19 gross at 19% holds 0.19 tax; 0.10 holds 0.0159… → 0.02
	for _, tc := range []struct{ gross, want int64 }{{119, 19}, {10, 2}, {1190, 190}, {5, 1}} {
		got, _ := eur(tc.gross).MulRatio(1900, 11900)
		if got.Amount != tc.want {
			t.Errorf("tax in %d gross = %d, want %d", tc.gross, got.Amount, tc.want)
		}
	}
	if _, err := eur(math.MaxInt64).ApplyRate(20000); !errors.Is(err, ErrAmountOverflow) {
		t.Errorf("overflow: %v", err)
	}
}

// Property: mulDivHalfEven equals exact rational arithmetic rounded half to even.
func TestMulDivHalfEvenMatchesBigRat(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a := rapid.Int64Range(-1e16, 1e16).Draw(t, "a")
		b := rapid.Int64Range(-1e6, 1e6).Draw(t, "b")
		d := rapid.Int64Range(1, 1e6).Draw(t, "d")
		got, ok := mulDivHalfEven(a, b, d)
		exact := new(big.Rat).SetFrac(new(big.Int).Mul(big.NewInt(a), big.NewInt(b)), big.NewInt(d))
		want, fits := roundHalfEvenRat(exact)
		if ok != fits {
			t.Fatalf("%d×%d/%d: ok=%v but the result fits int64: %v", a, b, d, ok, fits)
		}
		if ok && got != want {
			t.Fatalf("%d×%d/%d = %d, want %d", a, b, d, got, want)
		}
	})
}

func roundHalfEvenRat(r *big.Rat) (int64, bool) {
	num, den := r.Num(), r.Denom()
	q, m := new(big.Int).QuoRem(num, den, new(big.Int)) // truncates toward zero
	twice := new(big.Int).Abs(new(big.Int).Mul(m, big.NewInt(2)))
	switch c := twice.Cmp(den); {
	case c > 0 || (c == 0 && q.Bit(0) == 1):
		if num.Sign() < 0 {
			q.Sub(q, big.NewInt(1))
		} else {
			q.Add(q, big.NewInt(1))
		}
	}
	return q.Int64(), q.IsInt64()
}

func TestParseAndFormatMoney(t *testing.T) {
	for _, tc := range []struct {
		in, cur string
		want    int64
		out     string
	}{
		{"12.99", "EUR", 1299, "12.99"},
		{"12.9", "EUR", 1290, "12.90"},
		{"12", "EUR", 1200, "12.00"},
		{"0.05", "USD", 5, "0.05"},
		{"-3.50", "GBP", -350, "-3.50"},
		{"12.990", "EUR", 1299, "12.99"}, // extra zeros are harmless
		{"1299", "JPY", 1299, "1299"},
		{"1299.00", "JPY", 1299, "1299"},
		{"1.234", "KWD", 1234, "1.234"},
		{"0.001", "KWD", 1, "0.001"},
		{"92233720368547758.07", "EUR", math.MaxInt64, "92233720368547758.07"},
	} {
		m, err := ParseMoney(tc.in, tc.cur)
		if err != nil || m.Amount != tc.want || m.Currency != tc.cur {
			t.Errorf("ParseMoney(%q, %s) = %v, %v; want %d", tc.in, tc.cur, m, err, tc.want)
			continue
		}
		if m.Decimal() != tc.out {
			t.Errorf("%v.Decimal() = %q, want %q", m, m.Decimal(), tc.out)
		}
	}
	for _, tc := range []struct{ in, cur string }{
		{"12.999", "EUR"}, {"12.5", "JPY"}, {"1.2345", "KWD"}, {"", "EUR"}, {"12.", "EUR"},
		{".5", "EUR"}, {"1,00", "EUR"}, {"+1", "EUR"}, {" 1", "EUR"}, {"1e3", "EUR"}, {"-", "EUR"},
		{"92233720368547758.08", "EUR"}, {"1", "XXX"}, {"1", "eur"},
	} {
		if m, err := ParseMoney(tc.in, tc.cur); !errors.Is(err, ErrValidation) {
			t.Errorf("ParseMoney(%q, %s) = %v, %v; want a validation error", tc.in, tc.cur, m, err)
		}
	}
	if s := MustMoney(-5, "EUR").String(); s != "-0.05 EUR" {
		t.Errorf("String = %q", s)
	}
	if s := MustMoney(math.MinInt64, "JPY").Decimal(); s != "-9223372036854775808" {
		t.Errorf("MinInt64 = %q", s)
	}
}

func TestMoneyArithmetic(t *testing.T) {
	a, b := eur(1000), eur(250)
	if s, _ := a.Add(b); s != eur(1250) {
		t.Errorf("Add = %v", s)
	}
	if d, _ := b.Sub(a); d != eur(-750) {
		t.Errorf("Sub = %v", d)
	}
	if p, _ := b.Mul(3); p != eur(750) {
		t.Errorf("Mul = %v", p)
	}
	if _, err := a.Add(MustMoney(1, "USD")); !errors.Is(err, ErrCurrencyMismatch) {
		t.Errorf("mismatch: %v", err)
	}
	if _, err := eur(math.MaxInt64).Add(eur(1)); !errors.Is(err, ErrAmountOverflow) {
		t.Errorf("add overflow: %v", err)
	}
	if _, err := eur(math.MinInt64).Sub(eur(1)); !errors.Is(err, ErrAmountOverflow) {
		t.Errorf("sub overflow: %v", err)
	}
	if _, err := eur(math.MaxInt64 / 2).Mul(3); !errors.Is(err, ErrAmountOverflow) {
		t.Errorf("mul overflow: %v", err)
	}
	if _, err := eur(math.MinInt64).Mul(-1); !errors.Is(err, ErrAmountOverflow) {
		t.Errorf("mul overflow: %v", err)
	}
	if _, err := NewMoney(1, "ABC"); !errors.Is(err, ErrValidation) {
		t.Errorf("unknown currency: %v", err)
	}
	if c, _ := LookupCurrency("JPY"); c.Exponent != 0 {
		t.Errorf("JPY exponent %d", c.Exponent)
	}
	if c, _ := LookupCurrency("KWD"); c.Exponent != 3 {
		t.Errorf("KWD exponent %d", c.Exponent)
	}
	// JPY has no minor unit: a 10% rate on ¥15 rounds to whole yen, half to even.
	if got, _ := MustMoney(15, "JPY").ApplyRate(1000); got.Amount != 2 {
		t.Errorf("JPY 15 × 10%% = %v", got)
	}
	if got, _ := MustMoney(25, "JPY").ApplyRate(1000); got.Amount != 2 {
		t.Errorf("JPY 25 × 10%% = %v", got)
	}
}

func TestMoneyJSON(t *testing.T) {
	b, err := json.Marshal(eur(1299))
	if err != nil || string(b) != `{"amount":1299,"currency":"EUR"}` {
		t.Fatalf("marshal = %s, %v", b, err)
	}
	var m Money
	if err := json.Unmarshal([]byte(`{"amount":500,"currency":"JPY"}`), &m); err != nil || m != MustMoney(500, "JPY") {
		t.Fatalf("unmarshal = %v, %v", m, err)
	}
	if err := json.Unmarshal([]byte(`{"amount":500,"currency":"ZZZ"}`), &m); !errors.Is(err, ErrValidation) {
		t.Fatalf("unknown currency: %v", err)
	}
	if err := json.Unmarshal([]byte(`{"amount":1.5,"currency":"EUR"}`), &m); err == nil {
		t.Fatalf("a fractional amount must not decode")
	}
}

func TestParsePercent(t *testing.T) {
	for in, want := range map[string]BasisPoints{"19": 1900, "7.7": 770, "5.25%": 525, "0": 0, "100": 10000} {
		if got, err := ParsePercent(in); err != nil || got != want {
			t.Errorf("ParsePercent(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParsePercent("1.234"); !errors.Is(err, ErrValidation) {
		t.Errorf("three decimals: %v", err)
	}
	if s := BasisPoints(1950).String(); s != "19.50%" {
		t.Errorf("String = %q", s)
	}
}
