package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/orderengine/orderengine/readapi"
	"github.com/orderengine/orderengine/search"
	_ "github.com/orderengine/orderengine/search/elastic"   // http(s):// search URLs
	_ "github.com/orderengine/orderengine/search/sqlsearch" // the read-model database
)

// searchAdapter serves the read API's search port from a search backend.
type searchAdapter struct{ b search.Backend }

func (s searchAdapter) Search(ctx context.Context, q readapi.SearchQuery) (readapi.SearchResult, error) {
	res, err := s.b.Search(ctx, search.Query{
		Text: q.Text, Brands: q.Brands, Categories: q.Categories, MinPrice: q.MinPrice, MaxPrice: q.MaxPrice,
		InStock: q.InStock, Facets: q.Facets, Sort: q.Sort, Limit: q.Limit, Cursor: q.Cursor,
	})
	if err != nil {
		return readapi.SearchResult{}, searchError(err)
	}
	out := readapi.SearchResult{Total: res.Total, NextCursor: res.NextCursor, Position: res.Position, Items: make([]readapi.SearchHit, len(res.Items))}
	for i, h := range res.Items {
		out.Items[i] = readapi.SearchHit{ID: h.ID, SKU: h.SKU, Name: h.Name, Description: h.Description, Brand: h.Brand,
			Category: h.Category, Images: h.Images, MinPrice: h.MinPrice, MaxPrice: h.MaxPrice, InStock: h.InStock, Score: h.Score}
	}
	if len(res.Facets) > 0 {
		out.Facets = make(map[string][]readapi.FacetBucket, len(res.Facets))
		for name, counts := range res.Facets {
			bs := make([]readapi.FacetBucket, len(counts))
			for i, c := range counts {
				bs[i] = readapi.FacetBucket{Value: c.Value, Count: c.Count, From: c.From, To: c.To}
			}
			out.Facets[name] = bs
		}
	}
	return out, nil
}

func (s searchAdapter) Suggest(ctx context.Context, prefix string, limit int) ([]readapi.Suggestion, error) {
	sg, err := s.b.Suggest(ctx, prefix, limit)
	if err != nil {
		return nil, searchError(err)
	}
	out := make([]readapi.Suggestion, len(sg))
	for i, x := range sg {
		out[i] = readapi.Suggestion{Text: x.Text, ProductID: x.ProductID}
	}
	return out, nil
}

func (s searchAdapter) Position(ctx context.Context) (uint64, error) { return s.b.Position(ctx) }

// searchError maps the search port's errors onto the read API's (cursor first: it wraps
// ErrBadRequest).
func searchError(err error) error {
	switch {
	case errors.Is(err, search.ErrBadCursor):
		return fmt.Errorf("%w: %w", readapi.ErrInvalidCursor, err)
	case errors.Is(err, search.ErrBadRequest):
		return fmt.Errorf("%w: %w", readapi.ErrInvalidQuery, err)
	case errors.Is(err, search.ErrUnavailable):
		return fmt.Errorf("%w: %w", readapi.ErrUnavailable, err)
	}
	return err
}
