package readapi

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"

	"github.com/orderengine/orderengine/search"
)

// Search is the product search index as the API uses it (search.Backend). Its errors
// wrapping search.ErrBadRequest, ErrBadCursor and ErrUnavailable answer 400 and 503.
type Search interface {
	Search(ctx context.Context, q search.Query) (search.Result, error)
	Suggest(ctx context.Context, prefix string, limit int) ([]search.Suggestion, error)
	// Position is the index's checkpoint: every event up to it is searchable.
	Position(ctx context.Context) (uint64, error)
}

var _ Search = search.Index(nil)

// Facet names.
const (
	FacetBrand    = search.FacetBrand
	FacetCategory = search.FacetCategory
	FacetPrice    = search.FacetPrice
)

// SearchSortRelevance is the default search order.
const SearchSortRelevance = search.SortRelevance

var searchSorts = []string{SearchSortRelevance, "price", "-price", "name", "-name", "created", "-created"}

// Suggestions is GET /v1/search/suggest.
type Suggestions struct {
	Items    []search.Suggestion `json:"items"`
	Position uint64              `json:"position"`
}

var allFacets = []string{FacetBrand, FacetCategory, FacetPrice}

var searchParams = []param{
	{"q", str, "search text (name, description, brand, category, attributes); prefix and typo tolerant. Empty: browse with filters", "tee", false},
	{"brand", str, "only these brands (repeat for several)", "Acme", true},
	{"category", str, "only these categories (repeat for several)", "tees", true},
	{"minPrice", integer, "lowest price at least this (minor units)", "0", false},
	{"maxPrice", integer, "lowest price at most this (minor units)", "100000", false},
	{"inStock", boolean, "only products in stock", "false", false},
	{"facets", str, "comma-separated facets to count: brand, category, price (default all three; empty for none)", "brand,price", false},
	{"sort", enum(searchSorts...), "order (default relevance)", "relevance", false},
	pLimit, pCursor, pMinPosition,
}

var suggestParams = []param{
	{"q", str, "the prefix typed so far (required)", "te", false},
	{"limit", intRange(1, 20), "suggestions (default 10, at most 20)", "5", false},
	pMinPosition,
}

// searchProducts: GET /v1/search (public).
func (a *API) searchProducts(w http.ResponseWriter, r *http.Request) {
	q, err := parseQuery(r, searchParams)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	sq := search.Query{
		Text:       strings.TrimSpace(q.str("q", 200)),
		Brands:     q.strs("brand", 200),
		Categories: q.strs("category", 200),
		MinPrice:   q.int64("minPrice", 0, math.MaxInt64),
		MaxPrice:   q.int64("maxPrice", 0, math.MaxInt64),
		InStock:    q.bool("inStock"),
		Facets:     allFacets,
		Sort:       q.oneOf("sort", searchSorts...),
		Limit:      q.limit(DefaultLimit, MaxLimit),
		Cursor:     q.str("cursor", 1000),
	}
	if sq.Sort == "" {
		sq.Sort = SearchSortRelevance
	}
	if q.has("facets") {
		sq.Facets = nil
		for _, f := range strings.Split(q.v.Get("facets"), ",") {
			switch f = strings.TrimSpace(f); {
			case f == "":
			case !slices.Contains(allFacets, f):
				q.fail("facets: %q is not one of brand, category, price", f)
			case !slices.Contains(sq.Facets, f):
				sq.Facets = append(sq.Facets, f)
			}
		}
	}
	if sq.MinPrice != nil && sq.MaxPrice != nil && *sq.MinPrice > *sq.MaxPrice {
		q.fail("minPrice must not exceed maxPrice")
	}
	atLeast := q.minPosition(r)
	if err := q.err(); err != nil {
		a.fail(w, r, err)
		return
	}
	if a.search == nil {
		a.fail(w, r, fmt.Errorf("search: %w", ErrUnavailable))
		return
	}
	if err := a.pollPosition(r.Context(), atLeast, a.search.Position); err != nil {
		a.fail(w, r, err)
		return
	}
	res, err := a.search.Search(r.Context(), sq)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if res.Items == nil {
		res.Items = []search.Hit{}
	}
	a.write(w, r, reply{body: res, tag: struct {
		I []search.Hit
		T int64
		F map[string][]search.FacetCount
		N string
	}{res.Items, res.Total, res.Facets, res.NextCursor}, position: res.Position, min: atLeast, public: true,
		link: nextLink(r, "cursor", res.NextCursor)})
}

// suggest: GET /v1/search/suggest (public).
func (a *API) suggest(w http.ResponseWriter, r *http.Request) {
	q, err := parseQuery(r, suggestParams)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	prefix := strings.TrimSpace(q.str("q", 100))
	if prefix == "" {
		q.fail("q is required")
	}
	limit := q.limit(10, 20)
	atLeast := q.minPosition(r)
	if err := q.err(); err != nil {
		a.fail(w, r, err)
		return
	}
	if a.search == nil {
		a.fail(w, r, fmt.Errorf("search: %w", ErrUnavailable))
		return
	}
	ctx := r.Context()
	if err := a.pollPosition(ctx, atLeast, a.search.Position); err != nil {
		a.fail(w, r, err)
		return
	}
	pos, err := a.search.Position(ctx)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	items, err := a.search.Suggest(ctx, prefix, limit)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if items == nil {
		items = []search.Suggestion{}
	}
	a.write(w, r, reply{body: Suggestions{Items: items, Position: pos}, tag: items, position: pos, min: atLeast, public: true})
}
