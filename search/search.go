// Package search is the product search port: full-text search over the catalog with
// relevance ranking, typo and prefix tolerance, facets, filters, sorts and cursor
// pagination, kept up to date from the event log by a projection.
//
// Three backends implement it, in sub-packages, each opened by its own Open; the
// program picks one by URL (cmd/orderengine's openSearch):
//
//	""  or "sqlite:…"      sqlsearch: SQLite FTS5 in the read-model database (embedded default)
//	"postgres://…"         sqlsearch: PostgreSQL full text (weighted tsvector, GIN) + pg_trgm
//	"http://…", "https://…" elastic: Elasticsearch (index behind an alias, external versions)
//
//	b, err := sqlsearch.Open(ctx, "", search.Options{DB: readModels, Events: store, Logger: log})
//	go b.Run(ctx)                 // the projection that feeds the index
//	res, err := b.Search(ctx, search.Query{Text: "blue shirt", Facets: []string{"brand", "price"}})
//
// Every Result carries the index Position it was read at: every event up to it is
// reflected. WaitPosition waits (bounded) for a position a command returned, for
// read-your-writes. Bad queries, sorts, limits and cursors answer errors wrapping
// ErrBadRequest.
//
// The search/searchtest package holds the conformance suite every backend passes.
package search

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/projections"
)

// Errors. Check them with errors.Is.
var (
	// ErrBadRequest: the query is invalid (sort, limit, facet, price range, cursor…).
	ErrBadRequest = errors.New("invalid search query")
	// ErrBadCursor: the cursor is not one this index returned for this sort order. It
	// wraps ErrBadRequest.
	ErrBadCursor = fmt.Errorf("%w: invalid cursor", ErrBadRequest)
	// ErrUnavailable: the backend cannot be reached (Elasticsearch down, …).
	ErrUnavailable = errors.New("search backend unavailable")
)

// Limits of a query.
const (
	DefaultLimit     = 20
	MaxLimit         = 100
	DefaultFacetSize = 10
	MaxFacetSize     = 100
	DefaultSuggest   = 10
	MaxSuggest       = 50
	MaxTextLength    = 256
)

// Sorts. Ties are broken by product id, ascending, in every order.
const (
	SortRelevance   = "relevance" // default; by name when Text is empty
	SortPrice       = "price"     // lowest sellable price
	SortPriceDesc   = "-price"
	SortName        = "name" // case-insensitive (lower-cased, then byte order)
	SortNameDesc    = "-name"
	SortCreated     = "created"
	SortCreatedDesc = "-created"
)

// Facet names: FacetBrand, FacetCategory, FacetPrice, or FacetAttrPrefix + an attribute
// name of the variants (e.g. "attr.colour").
const (
	FacetBrand      = "brand"
	FacetCategory   = "category"
	FacetPrice      = "price"
	FacetAttrPrefix = "attr."
)

// Query is a search. Filters combine with AND; the values of one filter with OR.
type Query struct {
	// Text is matched against name (highest weight), brand and category, then
	// description and attribute values; every word must match (a misspelt word matches
	// its close spellings). Empty: every product, filtered.
	Text string
	// Brands and Categories keep products with any of the values (exact match).
	Brands     []string
	Categories []string
	// Attributes keeps products with a variant having, for every key, one of the values
	// (e.g. {"colour": {"red", "blue"}}).
	Attributes map[string][]string
	// Currency, if set, keeps products priced in it.
	Currency string
	// MinPrice and MaxPrice bound the lowest sellable price, inclusive (minor units).
	MinPrice, MaxPrice *int64
	// InStock keeps products with available stock.
	InStock bool
	// Facets to count (see the Facet constants). Facet counts cover the matching
	// products with every filter applied except the facet's own (so a brand facet still
	// shows the other brands when one is selected).
	Facets []string
	// FacetSize is the most values of a brand, category or attribute facet (default
	// DefaultFacetSize, at most MaxFacetSize): the most frequent, then by value.
	FacetSize int
	// PriceRanges are the buckets of the price facet (default DefaultPriceRanges).
	PriceRanges []PriceRange
	// Sort is one of the Sort constants ("" is SortRelevance).
	Sort string
	// Limit is the page size (0: DefaultLimit; at most MaxLimit).
	Limit int
	// Cursor continues from a previous Result's NextCursor (same sort).
	Cursor string
}

// PriceRange is a bucket [From, To) of the price facet in minor units; To 0 is unbounded.
type PriceRange struct {
	From int64 `json:"from"`
	To   int64 `json:"to,omitempty"`
}

// Key is the bucket's FacetCount value: "from-to", or "from-" when unbounded.
func (r PriceRange) Key() string {
	if r.To == 0 {
		return fmt.Sprintf("%d-", r.From)
	}
	return fmt.Sprintf("%d-%d", r.From, r.To)
}

// Contains reports whether price falls in the range.
func (r PriceRange) Contains(price int64) bool {
	return price >= r.From && (r.To == 0 || price < r.To)
}

// DefaultPriceRanges bucket prices (in minor units of a two-decimal currency: under 10,
// 10–25, 25–50, 50–100, 100–250, 250 and more).
var DefaultPriceRanges = []PriceRange{
	{From: 0, To: 1000}, {From: 1000, To: 2500}, {From: 2500, To: 5000},
	{From: 5000, To: 10000}, {From: 10000, To: 25000}, {From: 25000},
}

// Result is one page of hits with the facet counts and the total.
type Result struct {
	Items []Hit `json:"items"`
	// Facets maps each requested facet to its counts. Price buckets come in the order
	// of the ranges, zero counts included; other facets by count, then value.
	Facets map[string][]FacetCount `json:"facets,omitempty"`
	// Total counts the matching products (all pages).
	Total int64 `json:"total"`
	// NextCursor fetches the next page; empty on the last.
	NextCursor string `json:"nextCursor,omitempty"`
	// Position of the index the result was read at: every event up to it is reflected.
	Position uint64 `json:"position"`
}

// Hit is a product found.
type Hit struct {
	ID          string   `json:"id"`
	SKU         string   `json:"sku"`
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Brand       string   `json:"brand,omitempty"`
	Category    string   `json:"category,omitempty"`
	Images      []string `json:"images,omitempty"`
	// Attributes are the variants' attribute values, sorted.
	Attributes map[string][]string `json:"attributes,omitempty"`
	// MinPrice and MaxPrice span the sellable SKUs' prices.
	MinPrice  domain.Money `json:"minPrice"`
	MaxPrice  domain.Money `json:"maxPrice"`
	Available int64        `json:"available"`
	InStock   bool         `json:"inStock"`
	CreatedAt time.Time    `json:"createdAt"`
	// Score is the relevance (higher is better; the scale is the backend's; 0 without
	// Text).
	Score float64 `json:"score"`
	// Highlight is the name, HTML-escaped, with the matched words in <mark>…</mark>
	// (empty without Text, or when nothing in the name matched).
	Highlight string `json:"highlight,omitempty"`
	// Position of the last event reflected in this product's document.
	Position uint64 `json:"position"`
}

// FacetCount is one value of a facet and how many matching products have it. Price
// buckets carry their range [From, To) (To nil: unbounded).
type FacetCount struct {
	Value string `json:"value"`
	Count int64  `json:"count"`
	From  *int64 `json:"from,omitempty"`
	To    *int64 `json:"to,omitempty"`
}

// Suggestion is an autocomplete candidate: a product whose name or brand has words
// starting with what was typed (or, when none does, close to it).
type Suggestion struct {
	Text      string `json:"text"`
	ProductID string `json:"productId"`
}

// Index answers search queries.
type Index interface {
	// Search runs a query.
	Search(ctx context.Context, q Query) (Result, error)
	// Suggest completes what a user is typing: every word but the last as typed (or
	// corrected), the last as a prefix. limit 0 is DefaultSuggest, at most MaxSuggest.
	Suggest(ctx context.Context, prefix string, limit int) ([]Suggestion, error)
	// Position is the index's checkpoint: every event up to it is searchable.
	Position(ctx context.Context) (uint64, error)
	// WaitPosition waits until the checkpoint reaches atLeast or maxWait passes; it
	// reports whether it got there and the position it saw last.
	WaitPosition(ctx context.Context, atLeast uint64, maxWait time.Duration) (bool, uint64, error)
}

// Backend is an opened search backend: the Index, and the projection that keeps it up
// to date from the event log.
type Backend interface {
	Index
	// Kind is "sqlite", "postgres" or "elasticsearch".
	Kind() string
	// Name is the projection's name ("search"), for status pages and the CLI.
	Name() string
	// Run applies events until ctx ends (nil) or an event keeps failing
	// (*projections.FailedError). Run it once per process.
	Run(ctx context.Context) error
	// Status is the projection's state and lag.
	Status() projections.Status
	// Rebuild builds a new generation of the index from position 0 while the live one
	// serves, then switches to it atomically.
	Rebuild(ctx context.Context, opt projections.RebuildOptions) (*projections.RebuildReport, error)
	// Close releases what Open opened (not Options.DB or Options.Events).
	Close() error
}

// Options configure the backends' Open functions. Only what the chosen backend needs must be set.
type Options struct {
	// DB is the read-model database. The SQL backends use it when the URL is empty or
	// names an SQL database ("sqlite:…", "postgres://…"): a non-nil DB is taken to be
	// that database. When DB is nil, Open opens the URL itself (with DBOptions) and Close
	// closes it.
	DB        *projections.DB
	DBOptions projections.Options
	// Events is the log the projection reads (needed by Run and Rebuild).
	Events eventstore.Store
	// Runner tunes the projection runner (batch size, retries…).
	Runner projections.RunnerOptions
	// Index is the Elasticsearch alias (default "orderengine-products", or the URL's
	// "index" query parameter).
	Index string
	// HTTPTransport, if set, carries Elasticsearch requests (tests, custom TLS).
	HTTPTransport http.RoundTripper
	Logger        *slog.Logger
}
