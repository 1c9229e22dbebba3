package projections_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/eventstore/postgres"
	"github.com/orderengine/orderengine/eventstore/sqlite"
	"github.com/orderengine/orderengine/projections"
	"github.com/orderengine/orderengine/projections/projectionstest"
	"github.com/orderengine/orderengine/projections/readmodel"
)

// benchLog is an event log of ORDERENGINE_BENCH_EVENTS (default 100,000) order events
// plus a catalog of 500 products, built once per process and event store backend.
type benchLog struct {
	once     sync.Once
	location string // SQLite file or PostgreSQL schema
	err      error
}

var (
	benchLogs    = map[string]*benchLog{"sqlite": {}, "postgres": {}}
	benchTempDir string
)

func benchEvents() int {
	if v, err := strconv.Atoi(os.Getenv("ORDERENGINE_BENCH_EVENTS")); err == nil && v > 0 {
		return v
	}
	return 100_000
}

func openBenchStore(ctx context.Context, backend, location string) (eventstore.Store, error) {
	if backend == "sqlite" {
		return sqlite.Open(ctx, location, sqlite.Options{})
	}
	return postgres.Open(ctx, projectionstest.PostgresURL(), postgres.Options{Schema: location})
}

func benchStore(b *testing.B, backend string) eventstore.Store {
	b.Helper()
	if backend == "postgres" {
		projectionstest.RequirePostgres(b)
	}
	ctx := context.Background()
	l := benchLogs[backend]
	l.once.Do(func() {
		if backend == "sqlite" {
			if benchTempDir, l.err = os.MkdirTemp("", "projections-bench"); l.err != nil {
				return
			}
			l.location = filepath.Join(benchTempDir, "events.db")
		} else {
			var r [6]byte
			_, _ = rand.Read(r[:])
			l.location = "oebench_events_" + hex.EncodeToString(r[:])
		}
		s, err := openBenchStore(ctx, backend, l.location)
		if err != nil {
			l.err = err
			return
		}
		defer s.Close()
		seeder := projectionstest.NewSeeder(s, 7)
		if l.err = seeder.AddProducts(ctx, 500); l.err == nil {
			l.err = seeder.BulkOrders(ctx, benchEvents())
		}
	})
	if l.err != nil {
		b.Fatal(l.err)
	}
	s, err := openBenchStore(ctx, backend, l.location)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

func TestMain(m *testing.M) {
	code := m.Run()
	if benchTempDir != "" {
		_ = os.RemoveAll(benchTempDir)
	}
	if schema := benchLogs["postgres"].location; schema != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if conn, err := pgx.Connect(ctx, projectionstest.PostgresURL()); err == nil {
			_, _ = conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE")
			conn.Close(ctx)
		}
		cancel()
	}
	os.Exit(code)
}

// BenchmarkRebuild rebuilds the orders and catalog read models from a log of 100,000
// order events (ORDERENGINE_BENCH_EVENTS) and reports events applied per second, for each
// event store and read-model backend. A rebuild includes the switch and the comparison
// with the live generation.
func BenchmarkRebuild(b *testing.B) {
	for _, events := range projectionstest.Backends {
		for _, backend := range projectionstest.Backends {
			for _, p := range []projections.Projection{readmodel.Orders{}, readmodel.Catalog{}} {
				b.Run("events="+events+"/readmodels="+backend+"/"+p.Name(), func(b *testing.B) {
					store := benchStore(b, events)
					db := projectionstest.DB(b, backend)
					ctx := context.Background()
					// The first rebuild leaves a live generation at the head, as a live runner would.
					if _, err := projections.Rebuild(ctx, db, store, p, projections.RebuildOptions{Registry: domain.NewDomainRegistry()}); err != nil {
						b.Fatal(err)
					}
					var events uint64
					var elapsed time.Duration
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						rep, err := projections.Rebuild(ctx, db, store, p, projections.RebuildOptions{Registry: domain.NewDomainRegistry()})
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
}
