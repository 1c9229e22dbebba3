package sqlsearch_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/orderengine/orderengine/projections/projectionstest"
	"github.com/orderengine/orderengine/search"
	"github.com/orderengine/orderengine/search/sqlsearch"
)

// BenchmarkSearch measures queries (text with facets, browse with facets, a typo,
// suggest) on a seeded catalog of ORDERENGINE_BENCH_PRODUCTS products (default 2000).
func BenchmarkSearch(b *testing.B) {
	n := 2000
	if v, err := strconv.Atoi(os.Getenv("ORDERENGINE_BENCH_PRODUCTS")); err == nil && v > 0 {
		n = v
	}
	for _, backend := range projectionstest.Backends {
		b.Run(backend, func(b *testing.B) {
			ctx := context.Background()
			store := projectionstest.EventStore(b)
			seeder := projectionstest.NewSeeder(store, 3)
			if err := seeder.AddProducts(ctx, n); err != nil {
				b.Fatal(err)
			}
			db := projectionstest.DB(b, backend)
			sb, err := sqlsearch.New(ctx, db, store, runnerOptions())
			if err != nil {
				b.Fatal(err)
			}
			runCtx, cancel := context.WithCancel(ctx)
			defer cancel()
			go sb.Run(runCtx)
			projectionstest.WaitCaughtUp(b, store, 120*time.Second, sb.Runner())
			facets := []string{"brand", "category", "price", "attr.colour"}
			for _, c := range []struct {
				name string
				run  func() error
			}{
				{"text+facets", func() error {
					_, err := sb.Search(ctx, search.Query{Text: "acme shoes", Facets: facets})
					return err
				}},
				{"browse+facets", func() error {
					_, err := sb.Search(ctx, search.Query{Categories: []string{"bags"}, InStock: true, Sort: search.SortPrice, Facets: facets})
					return err
				}},
				{"typo", func() error {
					_, err := sb.Search(ctx, search.Query{Text: "globx hatts"})
					return err
				}},
				{"suggest", func() error {
					_, err := sb.Suggest(ctx, "acme sh", 10)
					return err
				}},
			} {
				b.Run(c.name, func(b *testing.B) {
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							if err := c.run(); err != nil {
								panic(fmt.Sprint(err))
							}
						}
					})
				})
			}
		})
	}
}
