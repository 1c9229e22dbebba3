// Package searchtest is the conformance suite of search backends. A backend's test
// calls Run with a function that opens the backend on an event store; the suite seeds
// a catalog through the domain's deciders, runs the backend's projection and checks
// relevance, facets, filters, sorts, pagination, autocomplete, typo tolerance, archived
// products, errors, and that changes are searchable once the index position passes
// them.
package searchtest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/projections/projectionstest"
	"github.com/orderengine/orderengine/search"
)

// Factory opens the backend under test reading events. The suite calls Run on it and
// stops it when the test ends; the factory registers any other cleanup.
type Factory func(t *testing.T, events eventstore.Store) search.Backend

// Timeout bounds how long the suite waits for the index to catch up.
var Timeout = 60 * time.Second

// Run runs the conformance suite on the backend open returns.
func Run(t *testing.T, open Factory) {
	ctx := context.Background()
	store := projectionstest.EventStore(t)
	seeder := projectionstest.NewSeeder(store, 7)
	if err := Seed(ctx, seeder); err != nil {
		t.Fatalf("seed: %v", err)
	}
	b := open(t, store)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- b.Run(runCtx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	head, err := store.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, b, head)

	s := &suite{b: b, head: head}
	t.Run("Relevance", s.relevance)
	t.Run("Highlight", s.highlight)
	t.Run("Typos", s.typos)
	t.Run("Suggest", s.suggest)
	t.Run("Archived", s.archived)
	t.Run("Filters", s.filters)
	t.Run("Facets", s.facets)
	t.Run("Sorts", s.sorts)
	t.Run("Pagination", s.pagination)
	t.Run("Errors", s.errors)
	t.Run("Updates", func(t *testing.T) { s.updates(t, store, seeder) })
}

type suite struct {
	b    search.Backend
	head uint64
}

func waitFor(t *testing.T, b search.Backend, pos uint64) {
	t.Helper()
	deadline := time.Now().Add(Timeout)
	for {
		ok, got, err := b.WaitPosition(context.Background(), pos, time.Second)
		if err != nil {
			t.Fatalf("wait for position %d: %v", pos, err)
		}
		if ok {
			return
		}
		st := b.Status()
		if st.State == "failed" {
			t.Fatalf("projection failed: %+v", st.Failure)
		}
		if time.Now().After(deadline) {
			t.Fatalf("index at %d did not reach %d within %v (status %+v)", got, pos, Timeout, st)
		}
	}
}

func (s *suite) search(t *testing.T, q search.Query) search.Result {
	t.Helper()
	res, err := s.b.Search(context.Background(), q)
	if err != nil {
		t.Fatalf("search %+v: %v", q, err)
	}
	if res.Position < s.head {
		t.Fatalf("search %+v: position %d, want ≥ %d", q, res.Position, s.head)
	}
	return res
}

func hitIDs(hs []search.Hit) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.ID
	}
	return out
}

func sortedCopy(ss []string) []string {
	out := slices.Clone(ss)
	slices.Sort(out)
	return out
}

// all pages of a query, checking totals and that pages do not overlap.
func (s *suite) all(t *testing.T, q search.Query) []search.Hit {
	t.Helper()
	var out []search.Hit
	var total int64 = -1
	for page := 0; ; page++ {
		if page > 100 {
			t.Fatal("more than 100 pages")
		}
		res := s.search(t, q)
		if total >= 0 && res.Total != total {
			t.Errorf("page %d: total %d, first page said %d", page, res.Total, total)
		}
		total = res.Total
		if len(res.Items) > q.Limit && q.Limit > 0 {
			t.Fatalf("page %d: %d items, limit %d", page, len(res.Items), q.Limit)
		}
		out = append(out, res.Items...)
		if res.NextCursor == "" {
			break
		}
		q.Cursor = res.NextCursor
	}
	if int64(len(out)) != total {
		t.Errorf("%d items over all pages, total %d", len(out), total)
	}
	seen := map[string]bool{}
	for _, h := range out {
		if seen[h.ID] {
			t.Errorf("%s on two pages", h.ID)
		}
		seen[h.ID] = true
	}
	return out
}

func (s *suite) relevance(t *testing.T) {
	res := s.search(t, search.Query{Text: "shirt", Limit: 100})
	got := hitIDs(res.Items)
	if want := []string{"p01", "p02", "p03", "p04", "p05"}; !slices.Equal(sortedCopy(got), want) {
		t.Fatalf(`"shirt" found %v, want %v (the four shirts by name, the denim jacket by description)`, got, want)
	}
	if res.Total != 5 {
		t.Errorf("total %d, want 5", res.Total)
	}
	if got[len(got)-1] != "p05" {
		t.Errorf(`"shirt": the description-only match p05 must rank below every name match: %v`, got)
	}
	for i := 1; i < len(res.Items); i++ {
		if res.Items[i].Score > res.Items[i-1].Score {
			t.Errorf("scores not descending: %v then %v", res.Items[i-1].Score, res.Items[i].Score)
		}
	}
	// Every word must match; brand and category are searched too.
	res = s.search(t, search.Query{Text: "acme jacket"})
	if got := hitIDs(res.Items); !slices.Equal(got, []string{"p05"}) {
		t.Errorf(`"acme jacket" found %v, want [p05]`, got)
	}
	res = s.search(t, search.Query{Text: "footwear", Limit: 100})
	if got, want := sortedCopy(hitIDs(res.Items)), []string{"p09", "p10", "p11", "p12"}; !slices.Equal(got, want) {
		t.Errorf(`"footwear" (a category) found %v, want %v`, got, want)
	}
	// Attribute values are searched.
	res = s.search(t, search.Query{Text: "navy", Limit: 100})
	if got, want := sortedCopy(hitIDs(res.Items)), []string{"p03", "p22"}; !slices.Equal(got, want) {
		t.Errorf(`"navy" found %v, want %v (a name, an attribute value)`, got, want)
	}
	if got := hitIDs(res.Items); len(got) == 2 && got[0] != "p22" {
		t.Errorf(`"navy": the name match p22 must rank first: %v`, got)
	}
	// Stemming (or typo tolerance) finds plurals, first.
	res = s.search(t, search.Query{Text: "jackets", Limit: 100})
	if got, want := hitIDs(res.Items), []string{"p05", "p06", "p07"}; len(got) < 3 || !slices.Equal(sortedCopy(got[:3]), want) {
		t.Errorf(`"jackets" found %v, want %v first`, got, want)
	}
	// A hit carries the document.
	res = s.search(t, search.Query{Text: "beanie"})
	if len(res.Items) != 1 {
		t.Fatalf(`"beanie" found %v`, hitIDs(res.Items))
	}
	h := res.Items[0]
	want := search.Hit{ID: "p17", SKU: "sku-p17", Name: "Wool Beanie", Brand: "Acme", Category: "accessories",
		Description: "Ribbed knit hat.", MinPrice: domain.MustMoney(1999, "EUR"), MaxPrice: domain.MustMoney(1999, "EUR"),
		Available: 24, InStock: true}
	if h.ID != want.ID || h.SKU != want.SKU || h.Name != want.Name || h.Brand != want.Brand || h.Category != want.Category ||
		h.Description != want.Description || h.MinPrice != want.MinPrice || h.MaxPrice != want.MaxPrice ||
		h.Available != want.Available || h.InStock != want.InStock {
		t.Errorf("hit %+v, want %+v", h, want)
	}
	if !slices.Equal(h.Images, []string{"https://img.example/p17.jpg"}) {
		t.Errorf("images %v", h.Images)
	}
	if !slices.Equal(h.Attributes["colour"], []string{"grey", "red"}) {
		t.Errorf("attributes %v, want colour [grey red]", h.Attributes)
	}
	if h.CreatedAt.IsZero() || h.Position == 0 || h.Score <= 0 {
		t.Errorf("createdAt %v, position %d, score %v: want set", h.CreatedAt, h.Position, h.Score)
	}
}

func (s *suite) highlight(t *testing.T) {
	res := s.search(t, search.Query{Text: "cotton shirt"})
	for _, h := range res.Items {
		if h.ID == "p01" {
			if h.Highlight != "" && (!strings.Contains(h.Highlight, "<mark>") || !strings.Contains(h.Highlight, "Cotton")) {
				t.Errorf("highlight %q", h.Highlight)
			}
			return
		}
	}
	t.Errorf(`"cotton shirt" did not find p01: %v`, hitIDs(res.Items))
}

func (s *suite) typos(t *testing.T) {
	for _, c := range []struct {
		text string
		want []string // must be among the hits
	}{
		{"tshirt", []string{"p01", "p02"}},
		{"t-shrit", []string{"p01", "p02"}},
		{"jaket", []string{"p05", "p06", "p07"}},
		{"sunglases", []string{"p20"}},
		{"merino sweeter", []string{"p24"}},
		{"bluetoth headphnes", []string{"p21"}},
	} {
		res := s.search(t, search.Query{Text: c.text, Limit: 100})
		got := hitIDs(res.Items)
		for _, w := range c.want {
			if !slices.Contains(got, w) {
				t.Errorf("%q found %v, want %v among them", c.text, got, c.want)
				break
			}
		}
		if slices.Contains(got, "p31") {
			t.Errorf("%q found the archived p31", c.text)
		}
	}
}

func (s *suite) suggest(t *testing.T) {
	ctx := context.Background()
	got, err := s.b.Suggest(ctx, "blu", 10)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, sg := range got {
		ids = append(ids, sg.ProductID)
		ok := false
		for _, w := range strings.FieldsFunc(strings.ToLower(sg.Text), func(r rune) bool { return r == ' ' || r == '-' }) {
			ok = ok || strings.HasPrefix(w, "blu")
		}
		if !ok {
			t.Errorf(`suggestion %q for "blu" has no word starting with blu`, sg.Text)
		}
	}
	if !slices.Contains(ids, "p01") || !slices.Contains(ids, "p21") {
		t.Errorf(`"blu" suggested %+v, want Blue Cotton T-Shirt (p01) and Bluetooth Headphones (p21)`, got)
	}
	got, err = s.b.Suggest(ctx, "blue co", 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 || got[0].ProductID != "p01" || got[0].Text != "Blue Cotton T-Shirt" {
		t.Errorf(`"blue co" suggested %+v, want Blue Cotton T-Shirt first`, got)
	}
	got, err = s.b.Suggest(ctx, "hik", 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || (got[0].ProductID != "p12" && got[0].ProductID != "p16") {
		t.Errorf(`"hik" with limit 1 suggested %+v, want one hiking product`, got)
	}
	got, err = s.b.Suggest(ctx, "vinta", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Errorf(`"vinta" suggested the archived product: %+v`, got)
	}
	if _, err := s.b.Suggest(ctx, "blu", search.MaxSuggest+1); !errors.Is(err, search.ErrBadRequest) {
		t.Errorf("suggest limit %d: %v, want ErrBadRequest", search.MaxSuggest+1, err)
	}
}

func (s *suite) archived(t *testing.T) {
	res := s.search(t, search.Query{Text: "vintage"})
	if res.Total != 0 || len(res.Items) != 0 {
		t.Errorf(`"vintage" (archived) found %v`, hitIDs(res.Items))
	}
	all := s.all(t, search.Query{Limit: 100})
	if got, want := sortedCopy(hitIDs(all)), ids(active()); !slices.Equal(got, want) {
		t.Errorf("browsing found %v, want the %d active products %v", got, len(want), want)
	}
}

func (s *suite) filters(t *testing.T) {
	ptr := func(v int64) *int64 { return &v }
	for _, c := range []struct {
		name string
		q    search.Query
		keep func(Product) bool
	}{
		{"price range", search.Query{MinPrice: ptr(2000), MaxPrice: ptr(5000)},
			func(p Product) bool { return p.MinPrice() >= 2000 && p.MinPrice() <= 5000 }},
		{"price bounds inclusive", search.Query{MinPrice: ptr(1999), MaxPrice: ptr(1999)},
			func(p Product) bool { return p.MinPrice() == 1999 }},
		{"in stock", search.Query{InStock: true}, Product.InStock},
		{"brand", search.Query{Brands: []string{"Acme"}}, func(p Product) bool { return p.Brand == "Acme" }},
		{"brands", search.Query{Brands: []string{"Acme", "Stark"}}, func(p Product) bool { return p.Brand == "Acme" || p.Brand == "Stark" }},
		{"category", search.Query{Categories: []string{"outerwear"}}, func(p Product) bool { return p.Category == "outerwear" }},
		{"brand and category", search.Query{Brands: []string{"Acme"}, Categories: []string{"tops"}},
			func(p Product) bool { return p.Brand == "Acme" && p.Category == "tops" }},
		{"attribute", search.Query{Attributes: map[string][]string{"colour": {"blue"}}},
			func(p Product) bool { return slices.Contains(p.Attrs()["colour"], "blue") }},
		{"attribute and stock", search.Query{Attributes: map[string][]string{"colour": {"white", "navy"}}, InStock: true},
			func(p Product) bool {
				c := p.Attrs()["colour"]
				return p.InStock() && (slices.Contains(c, "white") || slices.Contains(c, "navy"))
			}},
		{"currency", search.Query{Currency: "EUR", MaxPrice: ptr(2500)}, func(p Product) bool { return p.MinPrice() <= 2500 }},
		{"other currency", search.Query{Currency: "USD"}, func(Product) bool { return false }},
		{"text and filters", search.Query{Text: "shirt", InStock: true, MaxPrice: ptr(3000)},
			func(p Product) bool { return (p.ID == "p01" || p.ID == "p02") }},
	} {
		t.Run(c.name, func(t *testing.T) {
			q := c.q
			q.Limit = 100
			res := s.search(t, q)
			want := ids(where(active(), c.keep))
			if got := sortedCopy(hitIDs(res.Items)); !slices.Equal(got, want) {
				t.Errorf("found %v, want %v", got, want)
			}
			if res.Total != int64(len(want)) {
				t.Errorf("total %d, want %d", res.Total, len(want))
			}
			for _, h := range res.Items {
				if q.InStock && (!h.InStock || h.Available <= 0) {
					t.Errorf("%s: inStock %v available %d", h.ID, h.InStock, h.Available)
				}
			}
		})
	}
}

func facetValues(fs []search.FacetCount) []search.FacetCount {
	out := make([]search.FacetCount, len(fs))
	for i, f := range fs {
		out[i] = search.FacetCount{Value: f.Value, Count: f.Count}
	}
	return out
}

func (s *suite) facets(t *testing.T) {
	brand := func(p Product) []string { return []string{p.Brand} }
	category := func(p Product) []string { return []string{p.Category} }
	colour := func(p Product) []string { return p.Attrs()["colour"] }
	size := func(p Product) []string { return p.Attrs()["size"] }
	facets := []string{"brand", "category", "price", "attr.colour", "attr.size"}
	check := func(t *testing.T, res search.Result, name string, want []search.FacetCount) {
		t.Helper()
		if got := facetValues(res.Facets[name]); !slices.Equal(got, want) {
			t.Errorf("facet %s: %v, want %v", name, got, want)
		}
	}
	t.Run("all", func(t *testing.T) {
		res := s.search(t, search.Query{Facets: facets, FacetSize: 50})
		ps := active()
		check(t, res, "brand", termCounts(ps, brand))
		check(t, res, "category", termCounts(ps, category))
		check(t, res, "attr.colour", termCounts(ps, colour))
		check(t, res, "attr.size", termCounts(ps, size))
		check(t, res, "price", priceCounts(ps, search.DefaultPriceRanges))
		for i, b := range res.Facets["price"] {
			r := search.DefaultPriceRanges[i]
			if b.From == nil || *b.From != r.From || (r.To == 0) != (b.To == nil) || (b.To != nil && *b.To != r.To) {
				t.Errorf("price bucket %d: from %v to %v, want %+v", i, b.From, b.To, r)
			}
		}
		if len(res.Facets) != len(facets) {
			t.Errorf("facets %v", res.Facets)
		}
	})
	t.Run("size", func(t *testing.T) {
		res := s.search(t, search.Query{Facets: []string{"brand"}, FacetSize: 2})
		check(t, res, "brand", termCounts(active(), brand)[:2])
	})
	t.Run("selected brand keeps the other brands", func(t *testing.T) {
		res := s.search(t, search.Query{Brands: []string{"Acme"}, InStock: true, Facets: facets, FacetSize: 50})
		inStock := where(active(), Product.InStock)
		acme := where(inStock, func(p Product) bool { return p.Brand == "Acme" })
		check(t, res, "brand", termCounts(inStock, brand))
		check(t, res, "category", termCounts(acme, category))
		check(t, res, "attr.colour", termCounts(acme, colour))
		check(t, res, "price", priceCounts(acme, search.DefaultPriceRanges))
	})
	t.Run("price filter and ranges", func(t *testing.T) {
		min := int64(5000)
		ranges := []search.PriceRange{{From: 0, To: 5000}, {From: 5000, To: 15000}, {From: 15000}}
		res := s.search(t, search.Query{MinPrice: &min, Categories: []string{"footwear", "bags"}, Facets: facets, FacetSize: 50, PriceRanges: ranges})
		cats := where(active(), func(p Product) bool { return p.Category == "footwear" || p.Category == "bags" })
		priced := where(active(), func(p Product) bool { return p.MinPrice() >= 5000 })
		both := where(cats, func(p Product) bool { return p.MinPrice() >= 5000 })
		check(t, res, "price", priceCounts(cats, ranges))
		check(t, res, "category", termCounts(priced, category))
		check(t, res, "brand", termCounts(both, brand))
	})
	t.Run("attribute filter", func(t *testing.T) {
		res := s.search(t, search.Query{Attributes: map[string][]string{"colour": {"blue"}}, Facets: facets, FacetSize: 50})
		blue := where(active(), func(p Product) bool { return slices.Contains(p.Attrs()["colour"], "blue") })
		check(t, res, "attr.colour", termCounts(active(), colour))
		check(t, res, "brand", termCounts(blue, brand))
		check(t, res, "attr.size", termCounts(blue, size))
	})
	t.Run("text", func(t *testing.T) {
		res := s.search(t, search.Query{Text: "shirt", Facets: []string{"brand", "category"}})
		shirts := where(Catalog, func(p Product) bool { return slices.Contains([]string{"p01", "p02", "p03", "p04", "p05"}, p.ID) })
		check(t, res, "brand", termCounts(shirts, brand))
		check(t, res, "category", termCounts(shirts, category))
	})
}

func (s *suite) sorts(t *testing.T) {
	for _, sort := range []string{search.SortName, search.SortNameDesc, search.SortPrice, search.SortPriceDesc,
		search.SortCreated, search.SortCreatedDesc} {
		res := s.search(t, search.Query{Sort: sort, Limit: 100})
		if got, want := hitIDs(res.Items), ids(sorted(active(), sort)); !slices.Equal(got, want) {
			t.Errorf("sort %s: %v, want %v", sort, got, want)
		}
	}
	// Relevance without text is by name.
	res := s.search(t, search.Query{Limit: 100})
	if got, want := hitIDs(res.Items), ids(sorted(active(), search.SortName)); !slices.Equal(got, want) {
		t.Errorf("no text, relevance: %v, want by name %v", got, want)
	}
	// Text with a sort other than relevance.
	res = s.search(t, search.Query{Text: "shirt", Sort: search.SortPriceDesc})
	if got, want := hitIDs(res.Items), []string{"p05", "p04", "p03", "p01", "p02"}; !slices.Equal(got, want) {
		t.Errorf(`"shirt" by -price: %v, want %v`, got, want)
	}
}

func (s *suite) pagination(t *testing.T) {
	for _, q := range []search.Query{
		{Sort: search.SortPrice, Limit: 7},
		{Sort: search.SortPriceDesc, Limit: 4, InStock: true},
		{Sort: search.SortNameDesc, Limit: 5},
		{Sort: search.SortCreatedDesc, Limit: 9, Brands: []string{"Globex", "Stark"}},
		{Text: "shirt", Limit: 2},
		{Text: "leather boots", Limit: 1},
		{Text: "cotton", Limit: 1},
	} {
		whole := q
		whole.Limit = 100
		want := hitIDs(s.search(t, whole).Items)
		got := hitIDs(s.all(t, q))
		if !slices.Equal(got, want) {
			t.Errorf("%+v: pages give %v, one page %v", q, got, want)
		}
	}
	res := s.search(t, search.Query{Sort: search.SortPrice})
	if len(res.Items) != search.DefaultLimit || res.NextCursor == "" {
		t.Errorf("default limit: %d items, cursor %q", len(res.Items), res.NextCursor)
	}
}

func (s *suite) errors(t *testing.T) {
	ctx := context.Background()
	res := s.search(t, search.Query{Sort: search.SortPrice, Limit: 3})
	for _, c := range []struct {
		q      search.Query
		cursor bool
	}{
		{q: search.Query{Sort: "popularity"}},
		{q: search.Query{Limit: search.MaxLimit + 1}},
		{q: search.Query{Limit: -1}},
		{q: search.Query{Facets: []string{"colour"}}},
		{q: search.Query{FacetSize: search.MaxFacetSize + 1}},
		{q: search.Query{PriceRanges: []search.PriceRange{{From: 10, To: 5}}}},
		{q: search.Query{MinPrice: ptr(10), MaxPrice: ptr(5)}},
		{q: search.Query{Text: strings.Repeat("a", search.MaxTextLength+1)}},
		{q: search.Query{Cursor: "not a cursor"}, cursor: true},
		{q: search.Query{Sort: search.SortName, Cursor: res.NextCursor}, cursor: true},
	} {
		_, err := s.b.Search(ctx, c.q)
		if !errors.Is(err, search.ErrBadRequest) {
			t.Errorf("%+v: %v, want ErrBadRequest", c.q, err)
		}
		if c.cursor && !errors.Is(err, search.ErrBadCursor) {
			t.Errorf("%+v: %v, want ErrBadCursor", c.q, err)
		}
	}
	// Facets and sorts keep working on a query that matches nothing.
	empty := s.search(t, search.Query{Text: "zzzzqqq", Facets: []string{"brand", "price"}})
	if empty.Total != 0 || len(empty.Items) != 0 || empty.NextCursor != "" || len(empty.Facets["brand"]) != 0 {
		t.Errorf("no match: %+v", empty)
	}
	for _, b := range empty.Facets["price"] {
		if b.Count != 0 {
			t.Errorf("no match: price bucket %+v", b)
		}
	}
}

func ptr(v int64) *int64 { return &v }

// updates changes the catalog through commands and checks each change is searchable
// once the index position passes the events.
func (s *suite) updates(t *testing.T, store eventstore.Store, seeder *projectionstest.Seeder) {
	ctx := context.Background()
	step := func(what string, run func() error) uint64 {
		t.Helper()
		if err := run(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		pos, err := store.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, s.b, pos)
		s.head = pos
		return pos
	}
	name := "Zephyr Windbreaker"
	pos := step("rename p29", func() error {
		return seeder.RunProduct(ctx, domain.UpdateProductDetails{ProductID: "p29", Name: &name})
	})
	res := s.search(t, search.Query{Text: "zephyr"})
	if got := hitIDs(res.Items); !slices.Equal(got, []string{"p29"}) || res.Position < pos {
		t.Errorf(`"zephyr" after the rename at %d: %v at position %d, want [p29]`, pos, got, res.Position)
	} else if res.Items[0].Name != name || res.Items[0].Position != pos {
		t.Errorf("renamed hit %+v, want name %q position %d", res.Items[0], name, pos)
	}
	if got := hitIDs(s.search(t, search.Query{Text: "poncho"}).Items); slices.Contains(got, "p29") {
		t.Errorf(`"poncho" still finds p29 after the rename: %v`, got)
	}
	sg, err := s.b.Suggest(ctx, "zeph", 5)
	if err != nil || len(sg) != 1 || sg[0].ProductID != "p29" {
		t.Errorf(`suggest "zeph": %+v, %v`, sg, err)
	}

	// Stock: p10's only unit is reserved: no longer in stock.
	step("reserve p10", func() error {
		return seeder.RunInventory(ctx, domain.ReserveStock{SKU: "sku-p10", OrderID: "order-x", Quantity: 1, ExpiresAt: seeder.Now().Add(time.Hour)})
	})
	res = s.search(t, search.Query{Text: "chelsea boots", InStock: true})
	if len(res.Items) != 0 {
		t.Errorf("p10 fully reserved but found in stock: %v", hitIDs(res.Items))
	}
	res = s.search(t, search.Query{Text: "chelsea boots"})
	if len(res.Items) != 1 || res.Items[0].InStock || res.Items[0].Available != 0 {
		t.Errorf("p10 after the reservation: %+v", res.Items)
	}
	// p08 gets stock, a new variant and a lower price.
	step("stock p08", func() error {
		return seeder.RunInventory(ctx, domain.ReceiveStock{SKU: "sku-p08", Warehouse: "w1", Quantity: 3})
	})
	step("variant p08", func() error {
		return seeder.RunProduct(ctx, domain.AddVariant{ProductID: "p08", Variant: domain.Variant{SKU: "sku-p08-c",
			Attributes: map[string]string{"colour": "camel"}, Price: domain.MustMoney(19999, "EUR")}})
	})
	step("stock p08 variant", func() error {
		return seeder.RunInventory(ctx, domain.ReceiveStock{SKU: "sku-p08-c", Warehouse: "w1", Quantity: 2})
	})
	res = s.search(t, search.Query{Attributes: map[string][]string{"colour": {"camel"}}, InStock: true, MaxPrice: ptr(20000)})
	if got := hitIDs(res.Items); !slices.Equal(got, []string{"p08"}) || res.Items[0].Available != 2 {
		t.Errorf("camel, in stock, ≤ 200.00: %+v, want p08 with 2 available (only the variant sells)", res.Items)
	}
	if got := hitIDs(s.search(t, search.Query{Text: "camel overcoat"}).Items); !slices.Equal(got, []string{"p08"}) {
		t.Errorf(`"camel overcoat": %v, want the new variant's attribute to be searchable`, got)
	}
	// Archive: gone from results, facets and suggestions.
	step("archive p14", func() error {
		return seeder.RunProduct(ctx, domain.ArchiveProduct{ProductID: "p14"})
	})
	res = s.search(t, search.Query{Text: "tote", Facets: []string{"brand"}})
	if len(res.Items) != 0 || res.Total != 0 || len(res.Facets["brand"]) != 0 {
		t.Errorf("archived p14 still found: %+v", res)
	}
	if sg, err := s.b.Suggest(ctx, "tot", 5); err != nil || len(sg) != 0 {
		t.Errorf("archived p14 still suggested: %+v %v", sg, err)
	}
	// The status follows the checkpoint (it may trail the database by a moment).
	st := s.b.Status()
	for deadline := time.Now().Add(5 * time.Second); st.Checkpoint < s.head && time.Now().Before(deadline); st = s.b.Status() {
		time.Sleep(5 * time.Millisecond)
	}
	if st.Checkpoint < s.head || st.Name != "search" {
		t.Errorf("status %+v, want checkpoint ≥ %d", st, s.head)
	}
}
