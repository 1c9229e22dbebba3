package readapi

import (
	"context"
	"math"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/orderengine/orderengine/projections/readmodel"
)

// Query parameters shared by several routes.
var (
	pMinPosition = param{"minPosition", integer, "read-your-writes: wait (bounded) until the projection has passed this global position (the Orderengine-Position a command answered); the Orderengine-Position request header does the same", "1", false}
	pLimit       = param{"limit", intRange(1, MaxLimit), "page size (default 20, at most 100)", "5", false}
	pCursor      = param{"cursor", str, "the nextCursor of the previous page", "", false}
)

var productsParams = []param{
	{"category", str, "exact category", "tees", false},
	{"brand", str, "exact brand", "Acme", false},
	{"currency", strPattern("^[A-Z]{3}$"), "only products priced in this currency", "EUR", false},
	{"minPrice", integer, "lowest price at least this (minor units)", "100", false},
	{"maxPrice", integer, "lowest price at most this (minor units)", "100000", false},
	{"inStock", boolean, "only products with a sellable SKU in stock", "true", false},
	{"sort", enum("name", "-name", "price", "-price", "created", "-created"), "order (default name)", "-price", false},
	pLimit, pCursor, pMinPosition,
}

var productParams = []param{pMinPosition}

// listProducts: GET /v1/products (public).
func (a *API) listProducts(w http.ResponseWriter, r *http.Request) {
	q, err := parseQuery(r, productsParams)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	pq := readmodel.ProductQuery{
		Category: q.str("category", 200),
		Brand:    q.str("brand", 200),
		Currency: q.str("currency", 3),
		MinPrice: q.int64("minPrice", 0, math.MaxInt64),
		MaxPrice: q.int64("maxPrice", 0, math.MaxInt64),
		InStock:  q.bool("inStock"),
		Sort:     q.oneOf("sort", "name", "-name", "price", "-price", "created", "-created"),
		Limit:    q.limit(DefaultLimit, MaxLimit),
		Cursor:   q.str("cursor", 1000),
	}
	atLeast := q.minPosition(r)
	if err := q.err(); err != nil {
		a.fail(w, r, err)
		return
	}
	if err := a.await(r.Context(), projCatalog, atLeast); err != nil {
		a.fail(w, r, err)
		return
	}
	page, err := a.reader.Products(r.Context(), pq)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.write(w, r, reply{body: page, tag: pageTag(page.Items, page.NextCursor), position: page.Position, min: atLeast, public: true,
		link: nextLink(r, "cursor", page.NextCursor)})
}

// getProduct: GET /v1/products/{id} (public): variants, prices, availability.
func (a *API) getProduct(w http.ResponseWriter, r *http.Request) {
	getOne(a, w, r, productParams, projCatalog, true, a.reader.Product, chi.URLParam(r, "id"))
}

// getOne answers a single read-model item by key: strict query, minPosition wait, the
// item or a problem at the position it was read at.
func getOne[T any](a *API, w http.ResponseWriter, r *http.Request, params []param, projection string, public bool,
	read func(ctx context.Context, key string) (T, uint64, error), key string) {
	q, err := parseQuery(r, params)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	atLeast := q.minPosition(r)
	if err := q.err(); err != nil {
		a.fail(w, r, err)
		return
	}
	if err := a.await(r.Context(), projection, atLeast); err != nil {
		a.fail(w, r, err)
		return
	}
	item, pos, err := read(r.Context(), key)
	if err != nil {
		a.failAt(w, r, err, pos, atLeast)
		return
	}
	a.write(w, r, reply{body: item, position: pos, min: atLeast, public: public})
}

// pageTag is what a page's ETag covers: its items and cursor, not the position it was
// read at (which moves with unrelated events).
func pageTag[T any](items []T, next string) any {
	return struct {
		Items []T    `json:"items"`
		Next  string `json:"next"`
	}{items, next}
}
