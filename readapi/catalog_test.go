package readapi_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/readapi"
	"github.com/orderengine/orderengine/search"
)

type productPage struct {
	Items []struct {
		ID        string
		Available int64
		InStock   bool
		Variants  []struct {
			SKU       string
			Available int64
		}
	}
	NextCursor string
	Position   uint64
}

func (s *stack) productIDs(query string) []string {
	s.t.Helper()
	var p productPage
	s.must(200, s.do("GET", "/v1/products"+query, "")).decode(s.t, &p)
	var ids []string
	for _, it := range p.Items {
		ids = append(ids, it.ID)
	}
	return ids
}

func TestProductsPaginationAndFilters(t *testing.T) {
	s := newStack(t, nil)
	sh := s.seedShop()
	s.caughtUp(sh.head)
	// Walk every page of one.
	var ids []string
	cursor := ""
	for i := 0; ; i++ {
		var p productPage
		r := s.must(200, s.do("GET", "/v1/products?sort=price&limit=1"+cursor, ""))
		r.decode(t, &p)
		if len(p.Items) != 1 || i > 10 {
			t.Fatalf("page %d: %s", i, r.body)
		}
		ids = append(ids, p.Items[0].ID)
		if p.NextCursor == "" {
			if r.header.Get("Link") != "" {
				t.Fatalf("Link on the last page: %s", r.header.Get("Link"))
			}
			break
		}
		if link := r.header.Get("Link"); !strings.Contains(link, "cursor="+p.NextCursor) || !strings.Contains(link, "sort=price") {
			t.Fatalf("Link %q", link)
		}
		cursor = "&cursor=" + p.NextCursor
		if i == 0 {
			// A cursor of one sort order is no good for another.
			s.must(400, s.do("GET", "/v1/products?sort=name"+cursor, ""))
		}
	}
	if want := []string{"p-sock", "p-mug", "p-tee", "p-hat"}; !slices.Equal(ids, want) {
		t.Fatalf("by price: %v, want %v", ids, want)
	}
	if got := s.productIDs("?sort=-price"); !slices.Equal(got, []string{"p-hat", "p-tee", "p-mug", "p-sock"}) {
		t.Fatalf("by -price: %v", got)
	}
	for q, want := range map[string][]string{
		"?brand=Globex":                         {"p-sock", "p-hat"},
		"?category=tees":                        {"p-tee"},
		"?inStock=true&sort=name":               {"p-tee", "p-mug", "p-sock"},
		"?minPrice=500&maxPrice=2000&sort=name": {"p-tee", "p-mug"},
		"?currency=USD":                         nil,
	} {
		if strings.Contains(q, "brand") {
			q += "&sort=price"
		}
		if got := s.productIDs(q); !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", q, got, want)
		}
	}
	r := s.must(400, s.do("GET", "/v1/products?cursor=bm9wZQ", "")).json(t)
	if !strings.HasSuffix(r["type"].(string), "/invalid-cursor") {
		t.Fatalf("bad cursor: %v", r)
	}
	s.must(400, s.do("GET", "/v1/products?limit=0", ""))
	s.must(400, s.do("GET", "/v1/products?limit=101", ""))
	s.must(200, s.do("GET", "/v1/products?limit=100", ""))

	// Detail: variants and availability after two confirmed orders took 3 tees.
	var p struct {
		ID, Status string
		Available  int64
		InStock    bool
		Variants   []struct {
			SKU       string
			Available int64
			InStock   bool
		}
	}
	s.must(200, s.do("GET", "/v1/products/p-tee", "")).decode(t, &p)
	if p.Available != 7 || !p.InStock {
		t.Fatalf("tee: %+v", p)
	}
	s.must(200, s.do("GET", "/v1/products/p-hat", "")).decode(t, &p)
	if p.InStock || p.Available != 0 {
		t.Fatalf("hat: %+v", p)
	}
	// Variants, each with its price and availability.
	if _, err := s.svc.CreateProduct(s.ctx, domain.CreateProduct{ProductID: "p-shirt", SKU: "SHIRT", Price: eur(2000),
		ProductDetails: domain.ProductDetails{Name: "Shirt"}, Variants: []domain.Variant{
			{SKU: "SHIRT-S", Attributes: map[string]string{"size": "S"}, Price: eur(2000)},
			{SKU: "SHIRT-M", Attributes: map[string]string{"size": "M"}, Price: eur(2200)}}}, admin); err != nil {
		t.Fatal(err)
	}
	rec, err := s.svc.ReceiveStock(s.ctx, domain.ReceiveStock{SKU: "SHIRT-M", Warehouse: "main", Quantity: 4}, admin)
	if err != nil {
		t.Fatal(err)
	}
	var shirt struct {
		Available int64
		InStock   bool
		MinPrice  struct{ Amount int64 }
		MaxPrice  struct{ Amount int64 }
		Variants  []struct {
			SKU        string
			Attributes map[string]string
			Price      struct{ Amount int64 }
			Available  int64
			InStock    bool
		}
	}
	s.must(200, s.do("GET", "/v1/products/p-shirt?minPosition="+itoa(rec.Position), "")).decode(t, &shirt)
	byS := map[string]int64{}
	for _, v := range shirt.Variants {
		byS[v.SKU+"/"+v.Attributes["size"]] = v.Available
	}
	if !shirt.InStock || shirt.Available != 4 || byS["SHIRT-M/M"] != 4 || byS["SHIRT-S/S"] != 0 || shirt.MaxPrice.Amount != 2200 {
		t.Fatalf("shirt: %+v", shirt)
	}
	nf := s.must(404, s.do("GET", "/v1/products/nope", ""))
	if nf.header.Get("Orderengine-Position") == "" {
		t.Fatal("a 404 of the catalog carries no position")
	}
}

func TestNotModified(t *testing.T) {
	s := newStack(t, nil)
	sh := s.seedShop()
	s.caughtUp(sh.head)
	r := s.must(200, s.do("GET", "/v1/products/p-tee", ""))
	tag := r.header.Get("ETag")
	if tag == "" || r.header.Get("Orderengine-Position") == "" || !strings.Contains(r.header.Get("Cache-Control"), "no-cache") {
		t.Fatalf("headers %v", r.header)
	}
	for _, inm := range []string{tag, "W/" + tag, `"x", ` + tag, "*"} {
		nm := s.do("GET", "/v1/products/p-tee", "", "If-None-Match", inm)
		if nm.status != 304 || len(nm.body) != 0 || nm.header.Get("ETag") != tag || nm.header.Get("Orderengine-Position") == "" {
			t.Fatalf("If-None-Match %s: %d %v %q", inm, nm.status, nm.header, nm.body)
		}
	}
	s.must(200, s.do("GET", "/v1/products/p-tee", "", "If-None-Match", `"other"`))

	// A list's ETag does not move with unrelated events, and does move when it changes.
	list := s.must(200, s.do("GET", "/v1/products?sort=name", ""))
	pos := s.product("p-other", "OTHER-1", "Other", "others", "Initech", 100, 0)
	s.caughtUp(pos)
	s.must(304, s.do("GET", "/v1/products?sort=name&category=tees", "", "If-None-Match",
		s.must(200, s.do("GET", "/v1/products?sort=name&category=tees", "")).header.Get("ETag")))
	if r := s.do("GET", "/v1/products?sort=name&minPosition="+itoa(pos), "", "If-None-Match", list.header.Get("ETag")); r.status != 200 {
		t.Fatalf("list after a new product: %d", r.status)
	}
	inv := s.must(200, s.do("GET", "/v1/inventory/TEE-1", "admin"))
	s.must(304, s.do("GET", "/v1/inventory/TEE-1", "admin", "If-None-Match", inv.header.Get("ETag")))
	o := s.must(200, s.do("GET", "/v1/orders/"+sh.aliceOrder, "alice"))
	s.must(304, s.do("GET", "/v1/orders/"+sh.aliceOrder, "alice", "If-None-Match", o.header.Get("ETag")))
	if !strings.Contains(o.header.Get("Cache-Control"), "private") {
		t.Fatalf("an order is cacheable by shared caches: %v", o.header)
	}
}

func TestStrictQuery(t *testing.T) {
	s := newStack(t, nil)
	for _, c := range []struct{ path, who, mention string }{
		{"/v1/products?colour=red", "", "colour"},
		{"/v1/products?limit=1&limit=2", "", "2 times"},
		{"/v1/products?minPrice=cheap", "", "minPrice"},
		{"/v1/products?inStock=maybe", "", "inStock"},
		{"/v1/products?sort=popular", "", "sort"},
		{"/v1/products/p-tee?expand=all", "", "expand"},
		{"/v1/search?q=a&facets=colour", "", "facets"},
		{"/v1/search?q=a&minPrice=10&maxPrice=5", "", "minPrice"},
		{"/v1/search?q=a&sort=random", "", "sort"},
		{"/v1/search/suggest", "", "q is required"},
		{"/v1/search/suggest?q=a&limit=21", "", "limit"},
		{"/v1/orders?status=lost", "alice", "status"},
		{"/v1/orders?page=2", "alice", "page"},
		{"/v1/orders/x?asOf=now", "alice", "asOf"},
		{"/v1/inventory?lowStock=1&lowOnly=1", "admin", "lowOnly"},
		{"/v1/admin/events?after=-3", "auditor", "after"},
		{"/v1/admin/events?limit=101", "auditor", "limit"},
		{"/v1/admin/events?category=order-1", "auditor", "category"},
		{"/v1/admin/projections?verbose=1", "admin", "verbose"},
		{"/v1/products?%zz", "", "malformed"},
	} {
		r := s.must(400, s.do("GET", c.path, c.who))
		if !strings.Contains(string(r.body), c.mention) {
			t.Errorf("%s: %s does not mention %q", c.path, r.body, c.mention)
		}
	}
	// Search's brand and category filters repeat; other parameters do not.
	s.must(200, s.do("GET", "/v1/search?q=a&brand=Acme&brand=Globex", ""))
	s.must(400, s.do("GET", "/v1/search?q=a&q=b", ""))
}

func TestSearch(t *testing.T) {
	s := newStack(t, func(c *readapi.Config) { c.MaxWait = 300 * time.Millisecond })
	s.search.setPosition(42)
	r := s.must(200, s.do("GET", "/v1/search?q=+tee+&brand=Acme&brand=Globex&category=tees&minPrice=100&maxPrice=5000&inStock=true&facets=brand,price&sort=-price&limit=2", ""))
	q := s.search.last()
	want := search.Query{Text: "tee", Brands: []string{"Acme", "Globex"}, Categories: []string{"tees"}, InStock: true,
		Facets: []string{"brand", "price"}, Sort: "-price", Limit: 2}
	if q.Text != want.Text || !slices.Equal(q.Brands, want.Brands) || !slices.Equal(q.Categories, want.Categories) || q.InStock != want.InStock ||
		!slices.Equal(q.Facets, want.Facets) || q.Sort != want.Sort || q.Limit != want.Limit || *q.MinPrice != 100 || *q.MaxPrice != 5000 {
		t.Fatalf("query %+v", q)
	}
	var res search.Result
	r.decode(t, &res)
	if len(res.Items) != 2 || res.Total != 2 || res.Facets["brand"][0].Count != 2 || res.NextCursor != "page2" || res.Position != 42 {
		t.Fatalf("result %+v", res)
	}
	if r.header.Get("Orderengine-Position") != "42" || !strings.Contains(r.header.Get("Link"), "cursor=page2") || !strings.Contains(r.header.Get("Cache-Control"), "public") {
		t.Fatalf("headers %v", r.header)
	}
	s.must(304, s.do("GET", "/v1/search?q=tee&brand=Acme&brand=Globex&category=tees&minPrice=100&maxPrice=5000&inStock=true&facets=brand,price&sort=-price&limit=2", "",
		"If-None-Match", r.header.Get("ETag")))
	// Defaults: relevance, all facets; facets= asks for none.
	s.must(200, s.do("GET", "/v1/search", ""))
	if q := s.search.last(); q.Sort != readapi.SearchSortRelevance || !slices.Equal(q.Facets, []string{"brand", "category", "price"}) || q.Limit != 20 {
		t.Fatalf("defaults %+v", q)
	}
	s.must(200, s.do("GET", "/v1/search?facets=", ""))
	if q := s.search.last(); len(q.Facets) != 0 {
		t.Fatalf("facets= %+v", q)
	}
	// Read-your-writes against the index: stale after the bound, fresh once it catches up.
	r = s.must(200, s.do("GET", "/v1/search?q=tee&minPosition=50", ""))
	if r.header.Get("Orderengine-Stale") != "true" {
		t.Fatalf("stale index answered fresh: %v", r.header)
	}
	go func() { time.Sleep(50 * time.Millisecond); s.search.setPosition(60) }()
	r = s.must(200, s.do("GET", "/v1/search?q=tee", "", "Orderengine-Position", "50"))
	if r.header.Get("Orderengine-Stale") != "" || r.header.Get("Orderengine-Position") != "60" {
		t.Fatalf("caught-up index: %v", r.header)
	}
	// Suggest.
	var sg readapi.Suggestions
	s.must(200, s.do("GET", "/v1/search/suggest?q=te&limit=1", "")).decode(t, &sg)
	if len(sg.Items) != 1 || sg.Items[0].Text != "tee" || sg.Position != 60 {
		t.Fatalf("suggest %+v", sg)
	}
	// Adapter errors.
	s.search.mu.Lock()
	s.search.err = fmt.Errorf("search: %w", readapi.ErrInvalidCursor)
	s.search.mu.Unlock()
	s.must(400, s.do("GET", "/v1/search?q=tee&cursor=zzz", ""))
	s.search.mu.Lock()
	s.search.err = fmt.Errorf("boom")
	s.search.mu.Unlock()
	s.must(500, s.do("GET", "/v1/search?q=tee", ""))

	// No index configured: 503, the route still exists.
	s2 := newStack(t, func(c *readapi.Config) { c.Search = nil })
	s2.must(503, s2.do("GET", "/v1/search?q=tee", ""))
	s2.must(503, s2.do("GET", "/v1/search/suggest?q=tee", ""))
}
