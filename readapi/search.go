package readapi

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"

	"github.com/orderengine/orderengine/domain"
)

// Search is the product search index as the API uses it (the lead adapts search.Index).
// Adapters wrap ErrInvalidQuery and ErrInvalidCursor for answers that are 400s.
type Search interface {
	Search(ctx context.Context, q SearchQuery) (SearchResult, error)
	Suggest(ctx context.Context, prefix string, limit int) ([]Suggestion, error)
	// Position is the index's checkpoint: every event up to it is searchable.
	Position(ctx context.Context) (uint64, error)
}

// Facet names.
const (
	FacetBrand    = "brand"
	FacetCategory = "category"
	FacetPrice    = "price"
)

// Search sorts.
const (
	SearchSortRelevance = "relevance"
)

var searchSorts = []string{SearchSortRelevance, "price", "-price", "name", "-name", "created", "-created"}

// SearchQuery is a full-text query with filters. Brands and Categories match any of
// their values (OR); filters combine with AND.
type SearchQuery struct {
	Text       string
	Brands     []string
	Categories []string
	// MinPrice and MaxPrice bound the lowest sellable price (minor units).
	MinPrice, MaxPrice *int64
	InStock            bool
	// Facets to count over the whole result: FacetBrand, FacetCategory, FacetPrice.
	Facets []string
	// Sort is relevance (default; by name when Text is empty), price, -price, name,
	// -name, created or -created.
	Sort   string
	Limit  int
	Cursor string
}

// SearchHit is one product found.
type SearchHit struct {
	ID          string       `json:"id"`
	SKU         string       `json:"sku"`
	Name        string       `json:"name"`
	Description string       `json:"description,omitempty"`
	Brand       string       `json:"brand,omitempty"`
	Category    string       `json:"category,omitempty"`
	Images      []string     `json:"images,omitempty"`
	MinPrice    domain.Money `json:"minPrice"`
	MaxPrice    domain.Money `json:"maxPrice"`
	InStock     bool         `json:"inStock"`
	// Score is the relevance (higher is better; backend-specific scale).
	Score float64 `json:"score"`
}

// FacetBucket is one value of a facet and how many results have it. Price buckets are
// ranges [From, To) in minor units (nil: unbounded).
type FacetBucket struct {
	Value string `json:"value"`
	Count int64  `json:"count"`
	From  *int64 `json:"from,omitempty"`
	To    *int64 `json:"to,omitempty"`
}

// SearchResult is one page of hits, the facet counts and the total.
type SearchResult struct {
	Items  []SearchHit              `json:"items"`
	Total  int64                    `json:"total"`
	Facets map[string][]FacetBucket `json:"facets,omitempty"`
	// NextCursor fetches the next page; empty on the last.
	NextCursor string `json:"nextCursor,omitempty"`
	// Position of the index the result was read at.
	Position uint64 `json:"position"`
}

// Suggestion is an autocomplete candidate.
type Suggestion struct {
	Text      string `json:"text"`
	ProductID string `json:"productId,omitempty"`
}

// Suggestions is GET /v1/search/suggest.
type Suggestions struct {
	Items    []Suggestion `json:"items"`
	Position uint64       `json:"position"`
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
	sq := SearchQuery{
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
		res.Items = []SearchHit{}
	}
	a.write(w, r, reply{body: res, tag: struct {
		I []SearchHit
		T int64
		F map[string][]FacetBucket
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
		items = []Suggestion{}
	}
	a.write(w, r, reply{body: Suggestions{Items: items, Position: pos}, tag: items, position: pos, min: atLeast, public: true})
}
