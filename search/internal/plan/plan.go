// Package plan validates a search.Query into the normalized form every backend
// executes, and encodes and decodes the keyset cursors.
package plan

import (
	"fmt"
	"html"
	"maps"
	"slices"
	"strings"

	"github.com/orderengine/orderengine/projections/keyset"
	"github.com/orderengine/orderengine/search"
	"github.com/orderengine/orderengine/search/internal/docs"
)

// MaxTokens bounds the words of a query.
const MaxTokens = 16

// Sort keys.
const (
	KeyRelevance = "relevance"
	KeyPrice     = "price"
	KeyName      = "name"
	KeyCreated   = "created"
)

// Sort is a validated sort order.
type Sort struct {
	// Name is the effective sort (relevance without text is name).
	Name string
	Key  string
	// Desc orders the key descending (relevance always is); ties by id ascending.
	Desc bool
}

// Facet kinds.
const (
	FacetTerms = "terms" // brand, category
	FacetPrice = "price"
	FacetAttr  = "attr"
)

// Facet is a requested facet.
type Facet struct {
	Name string // as requested: "brand", "price", "attr.colour"
	Kind string
	// Field is "brand" or "category" for terms facets, the attribute name for attr.
	Field string
}

// Attr is an attribute filter.
type Attr struct {
	Name   string
	Values []string
}

// Plan is a validated query.
type Plan struct {
	Text   string
	Tokens []string
	// Brands, Categories and Attrs are the multi-select filters (facet dimensions).
	Brands, Categories []string
	Attrs              []Attr
	Currency           string
	MinPrice, MaxPrice *int64
	InStock            bool
	Facets             []Facet
	FacetSize          int
	Ranges             []search.PriceRange
	Sort               Sort
	Limit              int
	Cursor             *Cursor
}

// HasPrice reports a price filter.
func (p *Plan) HasPrice() bool { return p.MinPrice != nil || p.MaxPrice != nil }

func bad(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{search.ErrBadRequest}, args...)...)
}

// New validates q.
func New(q search.Query) (*Plan, error) {
	p := &Plan{Text: strings.TrimSpace(q.Text), InStock: q.InStock, Currency: q.Currency}
	if len(p.Text) > search.MaxTextLength {
		return nil, bad("text is longer than %d bytes", search.MaxTextLength)
	}
	p.Tokens = docs.Tokens(p.Text)
	if len(p.Tokens) > MaxTokens {
		p.Tokens = p.Tokens[:MaxTokens]
	}
	p.Brands = clean(q.Brands)
	p.Categories = clean(q.Categories)
	for _, k := range slices.Sorted(maps.Keys(q.Attributes)) {
		if k == "" || len(k) > 64 {
			return nil, bad("attribute name %q must have 1 to 64 bytes", k)
		}
		if vals := clean(q.Attributes[k]); len(vals) > 0 {
			p.Attrs = append(p.Attrs, Attr{Name: k, Values: vals})
		}
	}
	if q.MinPrice != nil {
		v := *q.MinPrice
		p.MinPrice = &v
	}
	if q.MaxPrice != nil {
		v := *q.MaxPrice
		p.MaxPrice = &v
	}
	if p.MinPrice != nil && p.MaxPrice != nil && *p.MinPrice > *p.MaxPrice {
		return nil, bad("minPrice must not exceed maxPrice")
	}
	switch {
	case q.Limit == 0:
		p.Limit = search.DefaultLimit
	case q.Limit < 0 || q.Limit > search.MaxLimit:
		return nil, bad("limit must be between 1 and %d", search.MaxLimit)
	default:
		p.Limit = q.Limit
	}
	switch {
	case q.FacetSize == 0:
		p.FacetSize = search.DefaultFacetSize
	case q.FacetSize < 0 || q.FacetSize > search.MaxFacetSize:
		return nil, bad("facet size must be between 1 and %d", search.MaxFacetSize)
	default:
		p.FacetSize = q.FacetSize
	}
	p.Ranges = q.PriceRanges
	if len(p.Ranges) == 0 {
		p.Ranges = search.DefaultPriceRanges
	}
	if len(p.Ranges) > 20 {
		return nil, bad("at most 20 price ranges")
	}
	for _, r := range p.Ranges {
		if r.From < 0 || (r.To != 0 && r.To <= r.From) {
			return nil, bad("price range %s: want 0 ≤ from < to (to 0: unbounded)", r.Key())
		}
	}
	seen := map[string]bool{}
	for _, f := range q.Facets {
		f = strings.TrimSpace(f)
		if f == "" || seen[f] {
			continue
		}
		seen[f] = true
		switch {
		case f == search.FacetBrand || f == search.FacetCategory:
			p.Facets = append(p.Facets, Facet{Name: f, Kind: FacetTerms, Field: f})
		case f == search.FacetPrice:
			p.Facets = append(p.Facets, Facet{Name: f, Kind: FacetPrice})
		case strings.HasPrefix(f, search.FacetAttrPrefix) && len(f) > len(search.FacetAttrPrefix) && len(f) <= 64+len(search.FacetAttrPrefix):
			p.Facets = append(p.Facets, Facet{Name: f, Kind: FacetAttr, Field: strings.TrimPrefix(f, search.FacetAttrPrefix)})
		default:
			return nil, bad("facet %q: want brand, category, price or attr.NAME", f)
		}
	}
	if len(p.Facets) > 10 {
		return nil, bad("at most 10 facets")
	}
	s, err := sortOf(q.Sort, len(p.Tokens) > 0)
	if err != nil {
		return nil, err
	}
	p.Sort = s
	if q.Cursor != "" {
		c, err := DecodeCursor(q.Cursor, s.Name)
		if err != nil {
			return nil, err
		}
		p.Cursor = &c
	}
	return p, nil
}

func sortOf(s string, text bool) (Sort, error) {
	switch s {
	case "", search.SortRelevance:
		if !text {
			return Sort{Name: search.SortName, Key: KeyName}, nil
		}
		return Sort{Name: search.SortRelevance, Key: KeyRelevance, Desc: true}, nil
	case search.SortPrice:
		return Sort{Name: s, Key: KeyPrice}, nil
	case search.SortPriceDesc:
		return Sort{Name: s, Key: KeyPrice, Desc: true}, nil
	case search.SortName:
		return Sort{Name: s, Key: KeyName}, nil
	case search.SortNameDesc:
		return Sort{Name: s, Key: KeyName, Desc: true}, nil
	case search.SortCreated:
		return Sort{Name: s, Key: KeyCreated}, nil
	case search.SortCreatedDesc:
		return Sort{Name: s, Key: KeyCreated, Desc: true}, nil
	}
	return Sort{}, bad("sort %q: want relevance, price, -price, name, -name, created or -created", s)
}

func clean(vs []string) []string {
	var out []string
	for _, v := range vs {
		if v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return out
}

// Cursor is the sort key of the last hit of a page.
type Cursor struct {
	Sort  string  `json:"s"`
	Score float64 `json:"r,omitempty"`
	N     int64   `json:"n,omitempty"`
	S     string  `json:"k,omitempty"`
	ID    string  `json:"i"`
}

// Encode returns the opaque cursor string.
func (c Cursor) Encode() string { return keyset.Encode(c) }

// DecodeCursor decodes a cursor of sort order sort.
func DecodeCursor(s, sort string) (Cursor, error) {
	var c Cursor
	if err := keyset.Decode(s, &c); err != nil || c.ID == "" {
		return Cursor{}, search.ErrBadCursor
	}
	if c.Sort != sort {
		return Cursor{}, fmt.Errorf("%w: it belongs to sort %q, not %q", search.ErrBadCursor, c.Sort, sort)
	}
	return c, nil
}

// Highlight marks (private-use runes the backends put around matched words).
const (
	MarkStart = "\ue000"
	MarkEnd   = "\ue001"
)

// Highlight turns a backend's marked text into HTML: escaped, marks as <mark>. It is
// empty when nothing is marked.
func Highlight(marked string) string {
	if !strings.Contains(marked, MarkStart) {
		return ""
	}
	s := html.EscapeString(marked)
	s = strings.ReplaceAll(s, MarkStart, "<mark>")
	return strings.ReplaceAll(s, MarkEnd, "</mark>")
}

// PriceBuckets turns counts per range index into the facet's counts.
func PriceBuckets(ranges []search.PriceRange, counts map[int]int64) []search.FacetCount {
	out := make([]search.FacetCount, len(ranges))
	for i, r := range ranges {
		from := r.From
		out[i] = search.FacetCount{Value: r.Key(), Count: counts[i], From: &from}
		if r.To != 0 {
			to := r.To
			out[i].To = &to
		}
	}
	return out
}

// SortCounts orders term facet counts by count (descending), then value, and keeps n.
func SortCounts(cs []search.FacetCount, n int) []search.FacetCount {
	slices.SortFunc(cs, func(a, b search.FacetCount) int {
		if a.Count != b.Count {
			if a.Count > b.Count {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Value, b.Value)
	})
	if len(cs) > n {
		cs = cs[:n]
	}
	return cs
}

// SuggestLimit validates a suggestion limit.
func SuggestLimit(n int) (int, error) {
	switch {
	case n == 0:
		return search.DefaultSuggest, nil
	case n < 0 || n > search.MaxSuggest:
		return 0, bad("limit must be between 1 and %d", search.MaxSuggest)
	}
	return n, nil
}
