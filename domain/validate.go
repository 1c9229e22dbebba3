package domain

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Limits that keep commands (and so events and read models) bounded.
const (
	MaxIDLength        = 100
	MaxSKULength       = 64
	MaxNameLength      = 200
	MaxTextLength      = 10_000
	MaxLineQuantity    = 10_000 // per cart/order line
	MaxCartLines       = 100
	MaxVariants        = 500
	MaxImages          = 50
	MaxMetadataEntries = 50
)

func isIDChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' || r == ':'
}

// ValidateID checks an aggregate id: 1–100 characters of letters, digits, '-', '_', '.',
// ':' (UUIDs fit), so that "<category>-<id>" is a valid stream name.
func ValidateID(field, id string) error {
	if id == "" {
		return invalid(field, "is required")
	}
	if len(id) > MaxIDLength {
		return invalid(field, "must be at most %d characters", MaxIDLength)
	}
	for _, r := range id {
		if !isIDChar(r) {
			return invalid(field, "%q may contain only letters, digits, '-', '_', '.' and ':'", id)
		}
	}
	return nil
}

// ValidateSKU checks a stock-keeping unit: 1–64 letters, digits, '-', '_' or '.', starting
// with a letter or digit. SKUs name inventory streams ("inventory-<sku>").
func ValidateSKU(field, sku string) error {
	if sku == "" {
		return invalid(field, "is required")
	}
	if len(sku) > MaxSKULength {
		return invalid(field, "must be at most %d characters", MaxSKULength)
	}
	for i, r := range sku {
		alnum := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
		if !alnum && (i == 0 || (r != '-' && r != '_' && r != '.')) {
			return invalid(field, "%q must start with a letter or digit and contain only letters, digits, '-', '_' and '.'", sku)
		}
	}
	return nil
}

// validateText checks a single-line free-text value: valid UTF-8 without control or
// bidirectional-formatting characters (CheckText), at most limit characters, and
// non-blank when required.
func validateText(p *problems, field, s string, limit int, required bool) {
	checkText(p, field, s, limit, required, false)
}

// validateMultiline is validateText for a field that may hold several lines (a product
// description): line feeds, carriage returns and tabs are allowed.
func validateMultiline(p *problems, field, s string, limit int, required bool) {
	checkText(p, field, s, limit, required, true)
}

func checkText(p *problems, field, s string, limit int, required, multiline bool) {
	if err := CheckText(s, multiline); err != nil {
		p.add(field, "%s", err.Error())
		return
	}
	switch {
	case required && strings.TrimSpace(s) == "":
		p.add(field, "is required")
	case utf8.RuneCountInString(s) > limit:
		p.add(field, "must be at most %d characters", limit)
	}
}

// CheckText reports why s is not acceptable free text: invalid UTF-8, a C0 or C1 control
// character (NUL, ESC — so no ANSI escape sequence —, DEL …), or a bidirectional
// override, embedding or isolate (U+202A–U+202E, U+2066–U+2069), which can make text
// display differently from what it is. A multiline text may hold \n, \r and \t.
func CheckText(s string, multiline bool) error {
	if !utf8.ValidString(s) {
		return errors.New("must be valid UTF-8")
	}
	for i, r := range s {
		switch {
		case multiline && (r == '\n' || r == '\r' || r == '\t'):
		case r < 0x20 || r >= 0x7f && r < 0xa0:
			return fmt.Errorf("must not contain control characters (U+%04X at byte %d)", r, i)
		case r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069:
			return fmt.Errorf("must not contain bidirectional formatting characters (U+%04X at byte %d)", r, i)
		}
	}
	return nil
}

// validateCustomer checks a customer id (an identity-provider subject, so looser than ValidateID).
func validateCustomer(p *problems, field, id string) {
	if id == "" {
		p.add(field, "is required")
		return
	}
	if len(id) > 255 {
		p.add(field, "must be at most 255 characters")
		return
	}
	for _, r := range id {
		if r <= ' ' || r == 0x7f || r >= utf8.RuneSelf {
			p.add(field, "must be printable ASCII without spaces")
			return
		}
	}
}

// ValidateCountry checks an ISO 3166-1 alpha-2 code in upper case, e.g. "DE".
func ValidateCountry(field, c string) error {
	if len(c) != 2 || c[0] < 'A' || c[0] > 'Z' || c[1] < 'A' || c[1] > 'Z' {
		return invalid(field, "%q is not an ISO 3166-1 alpha-2 country code such as DE", c)
	}
	return nil
}

// Address is a postal address. Every part but the country is personal data: sealed
// under the customer's key in the log (tag privacy:"personal", see package privacy);
// the country stays readable for tax audits.
type Address struct {
	Name       string `json:"name" privacy:"personal"`
	Line1      string `json:"line1" privacy:"personal"`
	Line2      string `json:"line2,omitempty" privacy:"personal"`
	City       string `json:"city" privacy:"personal"`
	Region     string `json:"region,omitempty" privacy:"personal"`
	PostalCode string `json:"postalCode" privacy:"personal"`
	Country    string `json:"country"` // ISO 3166-1 alpha-2
	Phone      string `json:"phone,omitempty" privacy:"personal"`
}

// Validate checks that the required parts are present and bounded.
func (a Address) Validate() error {
	var p problems
	validateText(&p, "name", a.Name, MaxNameLength, true)
	validateText(&p, "line1", a.Line1, MaxNameLength, true)
	validateText(&p, "line2", a.Line2, MaxNameLength, false)
	validateText(&p, "city", a.City, MaxNameLength, true)
	validateText(&p, "region", a.Region, MaxNameLength, false)
	validateText(&p, "postalCode", a.PostalCode, 20, true)
	validateText(&p, "phone", a.Phone, 40, false)
	p.addErr("country", ValidateCountry("", a.Country))
	return p.err()
}
