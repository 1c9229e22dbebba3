package plan

import (
	"errors"
	"slices"
	"testing"

	"github.com/orderengine/orderengine/search"
)

func TestNew(t *testing.T) {
	p, err := New(search.Query{Text: "  Blue T-Shirt ", Brands: []string{"b", "", "a", "b"}, Facets: []string{"brand", "attr.colour", "brand", " "}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Tokens, []string{"blue", "t", "shirt"}) || !slices.Equal(p.Brands, []string{"a", "b"}) ||
		p.Limit != search.DefaultLimit || p.FacetSize != search.DefaultFacetSize || len(p.Ranges) != len(search.DefaultPriceRanges) ||
		p.Sort != (Sort{Name: search.SortRelevance, Key: KeyRelevance, Desc: true}) {
		t.Errorf("plan %+v", p)
	}
	if len(p.Facets) != 2 || p.Facets[1] != (Facet{Name: "attr.colour", Kind: FacetAttr, Field: "colour"}) {
		t.Errorf("facets %+v", p.Facets)
	}
	// Relevance without text sorts by name.
	if p, _ := New(search.Query{Text: "!!"}); p.Sort.Name != search.SortName {
		t.Errorf("no words: sort %+v", p.Sort)
	}
	bad := []search.Query{
		{Sort: "-relevance"}, {Limit: 101}, {Limit: -1}, {FacetSize: 101}, {Facets: []string{"attr."}},
		{Facets: []string{"colour"}}, {PriceRanges: []search.PriceRange{{From: -1, To: 5}}},
		{Attributes: map[string][]string{"": {"x"}}}, {Cursor: "%%%"},
	}
	for _, q := range bad {
		if _, err := New(q); !errors.Is(err, search.ErrBadRequest) {
			t.Errorf("%+v: %v, want ErrBadRequest", q, err)
		}
	}
}

func TestCursor(t *testing.T) {
	c := Cursor{Sort: search.SortRelevance, Score: 0.1 + 0.2, ID: "p:1"}
	got, err := DecodeCursor(c.Encode(), search.SortRelevance)
	if err != nil || got != c {
		t.Errorf("round trip: %+v %v", got, err)
	}
	if _, err := DecodeCursor(c.Encode(), search.SortPrice); !errors.Is(err, search.ErrBadCursor) || !errors.Is(err, search.ErrBadRequest) {
		t.Errorf("other sort: %v", err)
	}
	if _, err := DecodeCursor("e30", search.SortPrice); !errors.Is(err, search.ErrBadCursor) {
		t.Errorf("empty object: %v", err)
	}
}

func TestHighlight(t *testing.T) {
	if got := Highlight("<b>" + MarkStart + "Blue" + MarkEnd + " & co"); got != "&lt;b&gt;<mark>Blue</mark> &amp; co" {
		t.Errorf("highlight %q", got)
	}
	if got := Highlight("no match"); got != "" {
		t.Errorf("nothing marked: %q", got)
	}
	r := search.PriceRange{From: 100}
	if r.Key() != "100-" || !r.Contains(1<<40) || r.Contains(99) {
		t.Errorf("open range %+v", r)
	}
	b := PriceBuckets([]search.PriceRange{{To: 10}, {From: 10}}, map[int]int64{1: 3})
	if len(b) != 2 || b[0].Count != 0 || *b[0].To != 10 || b[1].To != nil || b[1].Count != 3 {
		t.Errorf("buckets %+v", b)
	}
}
