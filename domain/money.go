package domain

import (
	"encoding/json"
	"fmt"
	"math"
	"math/bits"
	"sort"
	"strconv"
	"strings"
)

// Currency is an ISO 4217 currency with the number of decimal places of its minor unit.
type Currency struct {
	Code     string
	Exponent int
}

// currencyExponents is the ISO 4217 minor-unit table for the currencies we accept.
var currencyExponents = map[string]int{
	"AED": 2, "ARS": 2, "AUD": 2, "BGN": 2, "BHD": 3, "BIF": 0, "BRL": 2, "CAD": 2,
	"CHF": 2, "CLP": 0, "CNY": 2, "COP": 2, "CZK": 2, "DJF": 0, "DKK": 2, "EGP": 2,
	"EUR": 2, "GBP": 2, "GNF": 0, "HKD": 2, "HUF": 2, "IDR": 2, "ILS": 2, "INR": 2,
	"IQD": 3, "ISK": 0, "JOD": 3, "JPY": 0, "KES": 2, "KMF": 0, "KRW": 0, "KWD": 3,
	"KZT": 2, "LYD": 3, "MAD": 2, "MXN": 2, "MYR": 2, "NGN": 2, "NOK": 2, "NZD": 2,
	"OMR": 3, "PEN": 2, "PHP": 2, "PLN": 2, "PYG": 0, "QAR": 2, "RON": 2, "RSD": 2,
	"RWF": 0, "SAR": 2, "SEK": 2, "SGD": 2, "THB": 2, "TND": 3, "TRY": 2, "TWD": 2,
	"UAH": 2, "UGX": 0, "USD": 2, "UYU": 2, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0,
	"XPF": 0, "ZAR": 2,
}

// LookupCurrency returns the currency for an ISO 4217 code (upper case).
func LookupCurrency(code string) (Currency, bool) {
	exp, ok := currencyExponents[code]
	if !ok {
		return Currency{}, false
	}
	return Currency{Code: code, Exponent: exp}, true
}

// Currencies lists every supported currency code, sorted.
func Currencies() []string {
	codes := make([]string, 0, len(currencyExponents))
	for c := range currencyExponents {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	return codes
}

// ValidateCurrency reports whether code is a supported ISO 4217 code.
func ValidateCurrency(code string) error {
	if code == "" {
		return invalid("currency", "is required")
	}
	if _, ok := currencyExponents[code]; !ok {
		return invalid("currency", "%q is not a supported ISO 4217 currency code", code)
	}
	return nil
}

// Money is an amount in integer minor units of an ISO 4217 currency (cents for EUR, yen
// for JPY, fils for KWD). There are no floats anywhere: rates are BasisPoints or ratios and
// every division rounds half to even.
//
// The zero value (no currency) is "no amount"; arithmetic on it fails.
type Money struct {
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
}

// NewMoney validates the currency and returns the amount.
func NewMoney(amount int64, currency string) (Money, error) {
	if err := ValidateCurrency(currency); err != nil {
		return Money{}, err
	}
	return Money{Amount: amount, Currency: currency}, nil
}

// MustMoney is NewMoney for constants and tests; it panics on an unknown currency.
func MustMoney(amount int64, currency string) Money {
	m, err := NewMoney(amount, currency)
	if err != nil {
		panic(err)
	}
	return m
}

// Zero is a zero amount in currency.
func Zero(currency string) Money { return Money{Currency: currency} }

// ParseMoney parses a decimal string such as "12.99", "-3.5" or "1299" (JPY) in currency.
// More decimal places than the currency's exponent are rejected unless they are zeros:
// parsing never rounds.
func ParseMoney(s, currency string) (Money, error) {
	cur, ok := LookupCurrency(currency)
	if !ok {
		return Money{}, ValidateCurrency(currency)
	}
	bad := func(reason string) (Money, error) {
		return Money{}, invalid("amount", "%q is not a valid %s amount: %s", s, currency, reason)
	}
	neg := strings.HasPrefix(s, "-")
	body := strings.TrimPrefix(s, "-")
	intPart, frac, hasDot := strings.Cut(body, ".")
	if intPart == "" || (hasDot && frac == "") || !allDigits(intPart) || !allDigits(frac) {
		return bad("expected digits such as 12.99")
	}
	trimmed := strings.TrimRight(frac, "0")
	if len(trimmed) > cur.Exponent {
		return bad(fmt.Sprintf("%s allows at most %d decimal places", currency, cur.Exponent))
	}
	digits := intPart + frac + strings.Repeat("0", max(0, cur.Exponent-len(frac)))
	digits = digits[:len(intPart)+cur.Exponent]
	var u uint64
	for _, r := range digits {
		hi, lo := bits.Mul64(u, 10)
		lo, carry := bits.Add64(lo, uint64(r-'0'), 0)
		if hi != 0 || carry != 0 || lo > math.MaxInt64 {
			return bad("too large")
		}
		u = lo
	}
	amount := int64(u)
	if neg {
		amount = -amount
	}
	return Money{Amount: amount, Currency: currency}, nil
}

// Validate checks that the currency is supported.
func (m Money) Validate() error { return ValidateCurrency(m.Currency) }

// IsZero reports a zero amount (in any currency, or none).
func (m Money) IsZero() bool { return m.Amount == 0 }

// IsNegative reports an amount below zero.
func (m Money) IsNegative() bool { return m.Amount < 0 }

// IsPositive reports an amount above zero.
func (m Money) IsPositive() bool { return m.Amount > 0 }

func (m Money) sameCurrency(o Money) error {
	if m.Currency != o.Currency || m.Currency == "" {
		return fmt.Errorf("%w: cannot combine %q and %q amounts", ErrCurrencyMismatch, m.Currency, o.Currency)
	}
	return nil
}

// Add returns m + o; both must have the same currency.
func (m Money) Add(o Money) (Money, error) {
	if err := m.sameCurrency(o); err != nil {
		return Money{}, err
	}
	s := m.Amount + o.Amount
	if (s > m.Amount) != (o.Amount > 0) {
		return Money{}, fmt.Errorf("%w: %s + %s", ErrAmountOverflow, m, o)
	}
	return Money{Amount: s, Currency: m.Currency}, nil
}

// Sub returns m − o; both must have the same currency.
func (m Money) Sub(o Money) (Money, error) {
	if err := m.sameCurrency(o); err != nil {
		return Money{}, err
	}
	d := m.Amount - o.Amount
	if (d < m.Amount) != (o.Amount > 0) {
		return Money{}, fmt.Errorf("%w: %s - %s", ErrAmountOverflow, m, o)
	}
	return Money{Amount: d, Currency: m.Currency}, nil
}

// Mul returns m × quantity.
func (m Money) Mul(quantity int64) (Money, error) {
	if m.Amount == 0 || quantity == 0 {
		return Money{Currency: m.Currency}, nil
	}
	p := m.Amount * quantity
	if p/quantity != m.Amount || (m.Amount == -1 && quantity == math.MinInt64) || (quantity == -1 && m.Amount == math.MinInt64) {
		return Money{}, fmt.Errorf("%w: %s × %d", ErrAmountOverflow, m, quantity)
	}
	return Money{Amount: p, Currency: m.Currency}, nil
}

// Cmp compares m and o: -1, 0 or +1. Both must have the same currency.
func (m Money) Cmp(o Money) (int, error) {
	if err := m.sameCurrency(o); err != nil {
		return 0, err
	}
	switch {
	case m.Amount < o.Amount:
		return -1, nil
	case m.Amount > o.Amount:
		return 1, nil
	}
	return 0, nil
}

// ApplyRate returns m × rate, rounded half to even to the minor unit (e.g. a 19% tax or a
// 15% discount on a line).
func (m Money) ApplyRate(rate BasisPoints) (Money, error) {
	return m.MulRatio(int64(rate), BasisPointsPerUnit)
}

// MulRatio returns m × num / den, rounded half to even to the minor unit. den must be > 0.
func (m Money) MulRatio(num, den int64) (Money, error) {
	if den <= 0 {
		return Money{}, invalid("ratio", "denominator must be positive")
	}
	v, ok := mulDivHalfEven(m.Amount, num, den)
	if !ok {
		return Money{}, fmt.Errorf("%w: %s × %d/%d", ErrAmountOverflow, m, num, den)
	}
	return Money{Amount: v, Currency: m.Currency}, nil
}

// Decimal formats the amount with the currency's exponent, e.g. "12.99", "-0.05", "1299".
func (m Money) Decimal() string {
	exp := currencyExponents[m.Currency]
	neg := m.Amount < 0
	u := uint64(m.Amount)
	if neg {
		u = -u
	}
	s := strconv.FormatUint(u, 10)
	if exp > 0 {
		if len(s) <= exp {
			s = strings.Repeat("0", exp-len(s)+1) + s
		}
		s = s[:len(s)-exp] + "." + s[len(s)-exp:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

// String formats as "12.99 EUR".
func (m Money) String() string {
	if m.Currency == "" {
		return strconv.FormatInt(m.Amount, 10)
	}
	return m.Decimal() + " " + m.Currency
}

// UnmarshalJSON decodes {"amount":1299,"currency":"EUR"} and rejects unknown currencies.
// The zero value {"amount":0,"currency":""} is accepted so optional amounts round-trip.
func (m *Money) UnmarshalJSON(b []byte) error {
	type plain Money
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	if p.Currency == "" && p.Amount == 0 {
		*m = Money{}
		return nil
	}
	if err := ValidateCurrency(p.Currency); err != nil {
		return err
	}
	*m = Money(p)
	return nil
}

// SumMoney adds amounts that all have the given currency.
func SumMoney(currency string, amounts ...Money) (Money, error) {
	total := Zero(currency)
	for _, a := range amounts {
		var err error
		if total, err = total.Add(a); err != nil {
			return Money{}, err
		}
	}
	return total, nil
}

// BasisPoints is a rate in hundredths of a percent: 1900 is 19%, 10000 is 100%.
type BasisPoints int64

// BasisPointsPerUnit is 100% in basis points.
const BasisPointsPerUnit = 10000

// ParsePercent parses a percentage such as "19", "7.7" or "5.25%" into basis points.
func ParsePercent(s string) (BasisPoints, error) {
	m, err := ParseMoney(strings.TrimSuffix(s, "%"), "EUR") // two decimal places, same grammar
	if err != nil {
		return 0, invalid("rate", "%q is not a percentage with at most two decimals", s)
	}
	return BasisPoints(m.Amount), nil
}

// String formats as "19.00%".
func (b BasisPoints) String() string {
	return Money{Amount: int64(b), Currency: "EUR"}.Decimal() + "%"
}

// mulDivHalfEven computes a×b/d rounded half to even, with a 128-bit intermediate so the
// product cannot overflow. d must be positive. ok is false if the result does not fit.
func mulDivHalfEven(a, b, d int64) (int64, bool) {
	neg := (a < 0) != (b < 0)
	q, r := mulDivU(abs64(a), abs64(b), uint64(d))
	if q == math.MaxUint64 && r == math.MaxUint64 {
		return 0, false
	}
	if half := uint64(d) - r; r > half || (r == half && q&1 == 1) {
		q++
	}
	return signed(q, neg)
}

// mulDivFloor computes ⌊a×b/d⌋ and the remainder, for non-negative operands.
func mulDivFloor(a, b, d int64) (q, r int64, ok bool) {
	uq, ur := mulDivU(uint64(a), uint64(b), uint64(d))
	if uq > math.MaxInt64 {
		return 0, 0, false
	}
	return int64(uq), int64(ur), true
}

// mulDivU returns (a×b) / d and the remainder; (MaxUint64, MaxUint64) on overflow.
func mulDivU(a, b, d uint64) (uint64, uint64) {
	hi, lo := bits.Mul64(a, b)
	if hi >= d {
		return math.MaxUint64, math.MaxUint64
	}
	return bits.Div64(hi, lo, d)
}

func abs64(v int64) uint64 {
	if v < 0 {
		return -uint64(v)
	}
	return uint64(v)
}

func signed(u uint64, neg bool) (int64, bool) {
	if u > math.MaxInt64 {
		return 0, false
	}
	if neg {
		return -int64(u), true
	}
	return int64(u), true
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
