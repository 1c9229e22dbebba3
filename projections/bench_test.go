package projections_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/orderengine/orderengine/eventstore/sqlite"
	"github.com/orderengine/orderengine/projections"
	"github.com/orderengine/orderengine/projections/projectionstest"
	"github.com/orderengine/orderengine/projections/readmodel"
)

var benchLog struct {
	once   sync.Once
	dir    string
	events int
	err    error
}

// benchStore is an event store holding ORDERENGINE_BENCH_EVENTS (default 100,000) order
// events plus a catalog, built once per process.
func benchStore(b *testing.B) *sqlite.Store {
	b.Helper()
	benchLog.once.Do(func() {
		n := 100_000
		if v, err := strconv.Atoi(os.Getenv("ORDERENGINE_BENCH_EVENTS")); err == nil && v > 0 {
			n = v
		}
		benchLog.dir, benchLog.err = os.MkdirTemp("", "projections-bench")
		if benchLog.err != nil {
			return
		}
		ctx := context.Background()
		s, err := sqlite.Open(ctx, filepath.Join(benchLog.dir, "events.db"), sqlite.Options{})
		if err != nil {
			benchLog.err = err
			return
		}
		defer s.Close()
		seeder := projectionstest.NewSeeder(s, 7)
		if benchLog.err = seeder.AddProducts(ctx, 500); benchLog.err != nil {
			return
		}
		benchLog.err = seeder.BulkOrders(ctx, n)
		benchLog.events = seeder.Events
	})
	if benchLog.err != nil {
		b.Fatal(benchLog.err)
	}
	s, err := sqlite.Open(context.Background(), filepath.Join(benchLog.dir, "events.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

func TestMain(m *testing.M) {
	code := m.Run()
	if benchLog.dir != "" {
		_ = os.RemoveAll(benchLog.dir)
	}
	os.Exit(code)
}

// BenchmarkRebuild rebuilds the orders and catalog read models from the benchmark log
// and reports events applied per second.
func BenchmarkRebuild(b *testing.B) {
	for _, backend := range projectionstest.Backends {
		for _, p := range []projections.Projection{readmodel.Orders{}, readmodel.Catalog{}} {
			b.Run(backend+"/"+p.Name(), func(b *testing.B) {
				store := benchStore(b)
				db := projectionstest.DB(b, backend)
				ctx := context.Background()
				// The first rebuild leaves a live generation at the head, as a live runner would.
				if _, err := projections.Rebuild(ctx, db, store, p, projections.RebuildOptions{}); err != nil {
					b.Fatal(err)
				}
				var events uint64
				var elapsed time.Duration
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					rep, err := projections.Rebuild(ctx, db, store, p, projections.RebuildOptions{})
					if err != nil {
						b.Fatal(err)
					}
					if rep.Differs || !rep.Comparable {
						b.Fatalf("rebuild differs: %+v", rep)
					}
					events += rep.Events
					elapsed += rep.Elapsed
				}
				b.ReportMetric(float64(events)/elapsed.Seconds(), "events/s")
				b.ReportMetric(float64(events)/float64(b.N), "events/op")
			})
		}
	}
}
