package readmodel_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/projections"
	"github.com/orderengine/orderengine/projections/projectionstest"
	"github.com/orderengine/orderengine/projections/readmodel"
)

func eur(a int64) domain.Money { return domain.MustMoney(a, "EUR") }

// seedCatalog writes a small, known shop.
func seedCatalog(t *testing.T, s *projectionstest.Seeder) {
	t.Helper()
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	product := func(id, name, cat, brand string, price int64, variants ...domain.Variant) {
		must(s.RunProduct(ctx, domain.CreateProduct{ProductID: id, SKU: "sku-" + id, Price: eur(price), Variants: variants,
			ProductDetails: domain.ProductDetails{Name: name, Category: cat, Brand: brand, Images: []string{"https://img/" + id}}}))
	}
	receive := func(sku, w string, q int64) {
		must(s.RunInventory(ctx, domain.ReceiveStock{SKU: sku, Warehouse: w, Quantity: q}))
	}
	product("p1", "Alpha Shoe", "shoes", "acme", 1000,
		domain.Variant{SKU: "p1-red", Attributes: map[string]string{"colour": "red"}, Price: eur(1000)},
		domain.Variant{SKU: "p1-blue", Attributes: map[string]string{"colour": "blue"}, Price: eur(1200)})
	receive("p1-red", "w1", 5)
	product("p2", "beta hat", "hats", "globex", 500)
	receive("sku-p2", "w1", 4)
	receive("sku-p2", "w2", 6)
	product("p3", "Gamma Bag", "bags", "acme", 3000)
	must(s.RunProduct(ctx, domain.ArchiveProduct{ProductID: "p3", Reason: "gone"}))
	product("p4", "delta shirt", "shirts", "initech", 2000)
	product("p5", "Epsilon Shoe", "shoes", "globex", 800)
	must(s.RunProduct(ctx, domain.ChangePrice{ProductID: "p5", SKU: "sku-p5", Price: eur(1500)}))
	receive("sku-p5", "w1", 2)
	must(s.RunInventory(ctx, domain.ReserveStock{SKU: "sku-p5", OrderID: "x1", Quantity: 2, ExpiresAt: s.Now().Add(time.Hour)}))
	// Stock of a SKU that belongs to no product yet, then the product that sells it.
	receive("p6-a", "w1", 3)
	product("p6", "Zeta Sock", "socks", "acme", 300, domain.Variant{SKU: "p6-a", Price: eur(300)})
	must(s.RunProduct(ctx, domain.AddVariant{ProductID: "p6", Variant: domain.Variant{SKU: "p6-b", Price: eur(350)}}))
	receive("p6-b", "w2", 1)
}

// seedOrders writes orders of two customers in known states, reserving their stock
// (SKUs sold by no product, so that the catalog is unaffected).
func seedOrders(t *testing.T, s *projectionstest.Seeder) {
	t.Helper()
	ctx := context.Background()
	line := projectionstest.Line
	for _, sku := range []string{"o-sku1", "o-sku2"} {
		if err := s.RunInventory(ctx, domain.ReceiveStock{SKU: sku, Warehouse: "w1", Quantity: 50}); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range []struct {
		id, customer string
		steps, lines int
	}{{"a1", "cust-a", 0, 1}, {"a2", "cust-a", 2, 1}, {"b1", "cust-b", 3, 1}, {"a3", "cust-a", 1, 1}, {"b2", "cust-b", 6, 2}, {"a4", "cust-a", 4, 2}} {
		lines := []domain.Line{line("o-sku1", "px", 1, eur(1000)), line("o-sku2", "px", 2, eur(500))}[:o.lines]
		for _, l := range lines {
			if err := s.RunInventory(ctx, domain.ReserveStock{SKU: l.SKU, OrderID: o.id, Quantity: l.Quantity, ExpiresAt: s.Now().Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Lifecycle(ctx, o.id, o.customer, lines, o.steps); err != nil {
			t.Fatal(err)
		}
	}
}

func build(t *testing.T, backend string) (*readmodel.Reader, *projectionstest.Seeder) {
	t.Helper()
	store := projectionstest.EventStore(t)
	s := projectionstest.NewSeeder(store, 1)
	seedCatalog(t, s)
	seedOrders(t, s)
	db := projectionstest.DB(t, backend)
	ctx, cancel := context.WithCancel(context.Background())
	var rs []*projections.Runner
	done := make(chan struct{}, 3)
	for _, p := range readmodel.All() {
		r, err := projections.NewRunner(db, store, p, projections.RunnerOptions{Registry: domain.NewDomainRegistry(), IdleCheck: 10 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
		go func() { _ = r.Run(ctx); done <- struct{}{} }()
	}
	projectionstest.WaitCaughtUp(t, store, 20*time.Second, rs...)
	cancel()
	for range rs {
		<-done
	}
	return readmodel.NewReader(db, readmodel.ReaderOptions{LowStockThreshold: 2}), s
}

func ids[T any](items []T, id func(T) string) []string {
	out := []string{}
	for _, it := range items {
		out = append(out, id(it))
	}
	return out
}

func productIDs(ps []readmodel.Product) []string {
	return ids(ps, func(p readmodel.Product) string { return p.ID })
}

func TestCatalog(t *testing.T) {
	t.Parallel()
	for _, backend := range projectionstest.Backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			r, _ := build(t, backend)

			p, pos, err := r.Product(ctx, "p1")
			if err != nil || pos == 0 {
				t.Fatalf("Product: %v, position %d", err, pos)
			}
			if p.Name != "Alpha Shoe" || p.MinPrice != eur(1000) || p.MaxPrice != eur(1200) || p.Available != 5 || !p.InStock ||
				len(p.Variants) != 2 || p.Variants[0].SKU != "p1-red" || p.Variants[0].Available != 5 || !p.Variants[0].InStock ||
				p.Variants[1].Available != 0 || p.Variants[1].InStock || p.Variants[0].Attributes["colour"] != "red" ||
				p.Version != 0 || p.CreatedAt.IsZero() || len(p.Images) != 1 {
				t.Errorf("p1: %+v", p)
			}
			p5, _, _ := r.Product(ctx, "p5")
			if p5.Price != eur(1500) || p5.Available != 0 || p5.InStock || p5.Version != 1 || !p5.UpdatedAt.After(p5.CreatedAt) {
				t.Errorf("p5 (repriced, all stock reserved): %+v", p5)
			}
			p6, _, _ := r.Product(ctx, "p6")
			if p6.Available != 4 || len(p6.Variants) != 2 || p6.Variants[0].Available != 3 || p6.Variants[1].Available != 1 || p6.MaxPrice != eur(350) {
				t.Errorf("p6 (stock before the product, a variant added): %+v", p6)
			}
			p3, _, _ := r.Product(ctx, "p3")
			if p3.Status != "archived" {
				t.Errorf("p3: %+v", p3)
			}
			if _, _, err := r.Product(ctx, "nope"); !errors.Is(err, readmodel.ErrNotFound) {
				t.Errorf("unknown product: %v", err)
			}

			list := func(q readmodel.ProductQuery) []string {
				t.Helper()
				page, err := r.Products(ctx, q)
				if err != nil {
					t.Fatalf("Products(%+v): %v", q, err)
				}
				return productIDs(page.Items)
			}
			lo, hi := int64(900), int64(1600)
			for _, c := range []struct {
				q    readmodel.ProductQuery
				want []string
			}{
				{readmodel.ProductQuery{}, []string{"p1", "p2", "p4", "p5", "p6"}},
				{readmodel.ProductQuery{Sort: "-name"}, []string{"p6", "p5", "p4", "p2", "p1"}},
				{readmodel.ProductQuery{IncludeArchived: true}, []string{"p1", "p2", "p4", "p5", "p3", "p6"}},
				{readmodel.ProductQuery{Category: "shoes"}, []string{"p1", "p5"}},
				{readmodel.ProductQuery{Brand: "globex"}, []string{"p2", "p5"}},
				{readmodel.ProductQuery{MinPrice: &lo, MaxPrice: &hi}, []string{"p1", "p5"}},
				{readmodel.ProductQuery{InStock: true}, []string{"p1", "p2", "p6"}},
				{readmodel.ProductQuery{InStock: true, Brand: "acme", Sort: "price"}, []string{"p6", "p1"}},
				{readmodel.ProductQuery{Sort: "price"}, []string{"p6", "p2", "p1", "p5", "p4"}},
				{readmodel.ProductQuery{Sort: "-price"}, []string{"p4", "p5", "p1", "p2", "p6"}},
				{readmodel.ProductQuery{Sort: "-created"}, []string{"p6", "p5", "p4", "p2", "p1"}},
				{readmodel.ProductQuery{Sort: "created", Currency: "EUR"}, []string{"p1", "p2", "p4", "p5", "p6"}},
				{readmodel.ProductQuery{Currency: "USD"}, []string{}},
			} {
				if got := list(c.q); !slices.Equal(got, c.want) {
					t.Errorf("Products(%+v) = %v, want %v", c.q, got, c.want)
				}
			}
			// Keyset pages of every size concatenate to the full list, for every sort.
			for _, sort := range []string{"name", "-name", "price", "-price", "created", "-created"} {
				full := list(readmodel.ProductQuery{Sort: sort, IncludeArchived: true})
				for size := 1; size <= 3; size++ {
					var got []string
					cur := ""
					for pages := 0; pages < 10; pages++ {
						page, err := r.Products(ctx, readmodel.ProductQuery{Sort: sort, Limit: size, Cursor: cur, IncludeArchived: true})
						if err != nil {
							t.Fatal(err)
						}
						got = append(got, productIDs(page.Items)...)
						if cur = page.NextCursor; cur == "" {
							break
						}
					}
					if !slices.Equal(got, full) {
						t.Errorf("sort %s, pages of %d: %v, want %v", sort, size, got, full)
					}
				}
			}
			page, _ := r.Products(ctx, readmodel.ProductQuery{Limit: 2})
			if _, err := r.Products(ctx, readmodel.ProductQuery{Limit: 2, Sort: "price", Cursor: page.NextCursor}); !errors.Is(err, readmodel.ErrBadCursor) {
				t.Errorf("cursor of another sort: %v", err)
			}
			if _, err := r.Products(ctx, readmodel.ProductQuery{Cursor: "!!"}); !errors.Is(err, readmodel.ErrBadCursor) {
				t.Errorf("garbage cursor: %v", err)
			}
			if _, err := r.Products(ctx, readmodel.ProductQuery{Sort: "weight"}); !errors.Is(err, readmodel.ErrBadRequest) {
				t.Errorf("bad sort: %v", err)
			}
			if _, err := r.Products(ctx, readmodel.ProductQuery{Limit: 101}); !errors.Is(err, readmodel.ErrBadRequest) {
				t.Errorf("limit 101: %v", err)
			}
		})
	}
}

func TestOrders(t *testing.T) {
	t.Parallel()
	for _, backend := range projectionstest.Backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			r, s := build(t, backend)
			orderIDs := func(q readmodel.OrderQuery) []string {
				t.Helper()
				page, err := r.Orders(ctx, q)
				if err != nil {
					t.Fatalf("Orders(%+v): %v", q, err)
				}
				return ids(page.Items, func(o readmodel.Order) string { return o.ID })
			}
			for _, c := range []struct {
				q    readmodel.OrderQuery
				want []string
			}{
				{readmodel.OrderQuery{}, []string{"a4", "b2", "a3", "b1", "a2", "a1"}},
				{readmodel.OrderQuery{CustomerID: "cust-a"}, []string{"a4", "a3", "a2", "a1"}},
				{readmodel.OrderQuery{CustomerID: "cust-b", Status: "delivered"}, []string{"b2"}},
				{readmodel.OrderQuery{Status: "cancelled"}, []string{"a3"}},
				{readmodel.OrderQuery{Status: "pending"}, []string{"a1"}},
				{readmodel.OrderQuery{From: s.Orders["a2"].PlacedAt, To: s.Orders["b2"].PlacedAt}, []string{"a3", "b1", "a2"}},
				{readmodel.OrderQuery{CustomerID: "nobody"}, []string{}},
			} {
				if got := orderIDs(c.q); !slices.Equal(got, c.want) {
					t.Errorf("Orders(%+v) = %v, want %v", c.q, got, c.want)
				}
			}
			var got []string
			cur := ""
			for {
				page, err := r.Orders(ctx, readmodel.OrderQuery{CustomerID: "cust-a", Limit: 1, Cursor: cur, WithLines: true})
				if err != nil {
					t.Fatal(err)
				}
				if len(page.Items) != 1 || len(page.Items[0].Lines) == 0 {
					t.Fatalf("page: %+v", page)
				}
				got = append(got, page.Items[0].ID)
				if cur = page.NextCursor; cur == "" {
					break
				}
			}
			if want := []string{"a4", "a3", "a2", "a1"}; !slices.Equal(got, want) {
				t.Errorf("pages: %v, want %v", got, want)
			}

			o, pos, err := r.Order(ctx, "b2")
			if err != nil || pos == 0 {
				t.Fatalf("Order: %v %d", err, pos)
			}
			want := s.Orders["b2"]
			if o.Status != "delivered" || o.PaymentStatus != "partially_refunded" || o.FulfillmentStatus != "delivered" ||
				o.Totals != want.Totals || o.Captured != want.Captured || o.Refunded != eur(100) || len(o.Refunds) != 1 ||
				o.Shipment == nil || o.Shipment.Carrier != "dhl" || o.DeliveredAt.IsZero() || o.CustomerID != "cust-b" ||
				o.ShippingAddress != want.ShippingAddress || !o.PlacedAt.Equal(want.PlacedAt) || !o.UpdatedAt.Equal(want.UpdatedAt) ||
				o.Version != 6 || o.LineCount != 2 || o.ItemCount != 3 || len(o.Lines) != 2 || !slices.Equal(o.Lines, want.Lines) {
				t.Errorf("b2: %+v\nwant %+v", o, want)
			}
			a3, _, _ := r.Order(ctx, "a3")
			if a3.Status != "cancelled" || a3.CancelReason == "" || a3.CancelledAt.IsZero() || a3.PaymentStatus != "pending" {
				t.Errorf("a3: %+v", a3)
			}
			if _, _, err := r.Order(ctx, "zz"); !errors.Is(err, readmodel.ErrNotFound) {
				t.Errorf("unknown order: %v", err)
			}
			if _, err := r.Orders(ctx, readmodel.OrderQuery{Cursor: "e30"}); !errors.Is(err, readmodel.ErrBadCursor) {
				t.Errorf("bad cursor: %v", err)
			}
		})
	}
}

func TestStock(t *testing.T) {
	t.Parallel()
	for _, backend := range projectionstest.Backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			r, s := build(t, backend)
			for _, sku := range []string{"o-sku1", "o-sku2"} {
				it, _, err := r.Stock(ctx, sku)
				want := s.Inventory[sku]
				if err != nil || it.OnHand != want.Totals().OnHand || it.Reserved != want.Totals().Reserved || it.Available != want.Available() {
					t.Errorf("%s: %+v, %v; want %+v", sku, it, err, want.Totals())
				}
			}
			it, pos, err := r.Stock(ctx, "sku-p2")
			if err != nil || pos == 0 {
				t.Fatal(err)
			}
			want := s.Inventory["sku-p2"]
			if it.OnHand != want.Totals().OnHand || it.Reserved != want.Totals().Reserved || it.Available != want.Available() ||
				len(it.Warehouses) != 2 || it.Warehouses[0].Warehouse != "w1" || it.LowStock != (it.Available <= 2) {
				t.Errorf("sku-p2: %+v, want %+v", it, want)
			}
			for _, w := range it.Warehouses {
				l := want.Warehouses[w.Warehouse]
				if w.OnHand != l.OnHand || w.Reserved != l.Reserved || w.Available != l.Available() || w.LowStock != (w.Available <= 2) {
					t.Errorf("%s: %+v, want %+v", w.Warehouse, w, l)
				}
			}
			p5, _, _ := r.Stock(ctx, "sku-p5")
			if p5.OnHand != 2 || p5.Reserved != 2 || p5.Available != 0 || !p5.LowStock {
				t.Errorf("sku-p5: %+v", p5)
			}
			if _, _, err := r.Stock(ctx, "nope"); !errors.Is(err, readmodel.ErrNotFound) {
				t.Errorf("unknown sku: %v", err)
			}
			page, err := r.StockItems(ctx, readmodel.StockQuery{LowOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			for i, it := range page.Items {
				if !it.LowStock || (i > 0 && it.Available < page.Items[i-1].Available) {
					t.Errorf("low stock list: %+v", page.Items)
				}
			}
			all, _ := r.StockItems(ctx, readmodel.StockQuery{Limit: 100})
			var paged []string
			cur := ""
			for {
				pg, err := r.StockItems(ctx, readmodel.StockQuery{Limit: 2, Cursor: cur})
				if err != nil {
					t.Fatal(err)
				}
				paged = append(paged, ids(pg.Items, func(s readmodel.StockItem) string { return s.SKU })...)
				if cur = pg.NextCursor; cur == "" {
					break
				}
			}
			if allIDs := ids(all.Items, func(s readmodel.StockItem) string { return s.SKU }); !slices.Equal(paged, allIDs) || len(allIDs) != len(s.Inventory) {
				t.Errorf("paged %v, all %v (%d SKUs)", paged, allIDs, len(s.Inventory))
			}
		})
	}
}
