package sqlsearch_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/projections"
	"github.com/orderengine/orderengine/projections/projectionstest"
	"github.com/orderengine/orderengine/search"
	"github.com/orderengine/orderengine/search/searchtest"
	"github.com/orderengine/orderengine/search/sqlsearch"
)

func runnerOptions() projections.RunnerOptions {
	return projections.RunnerOptions{Registry: domain.NewDomainRegistry(), IdleCheck: 20 * time.Millisecond, Backoff: 10 * time.Millisecond, MaxAttempts: 2}
}

func TestConformance(t *testing.T) {
	for _, backend := range projectionstest.Backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			url := projectionstest.URL(t, backend)
			searchtest.Run(t, func(t *testing.T, events eventstore.Store) search.Backend {
				b, err := sqlsearch.Open(context.Background(), url, search.Options{Events: events, Runner: runnerOptions()})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = b.Close() })
				if b.Kind() != backend {
					t.Errorf("kind %q, want %q", b.Kind(), backend)
				}
				return b
			})
		})
	}
}

// build seeds the catalog, applies it in batches of batchSize and returns the backend.
func build(t *testing.T, url string, batchSize int) (*sqlsearch.Backend, *projectionstest.Seeder, eventstore.Store) {
	t.Helper()
	ctx := context.Background()
	store := projectionstest.EventStore(t)
	seeder := projectionstest.NewSeeder(store, 7)
	if err := searchtest.Seed(ctx, seeder); err != nil {
		t.Fatal(err)
	}
	db := projectionstest.Open(t, url)
	opt := runnerOptions()
	opt.BatchSize = batchSize
	b, err := sqlsearch.New(ctx, db, store, opt)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- b.Run(runCtx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	projectionstest.WaitCaughtUp(t, store, 30*time.Second, b.Runner())
	return b, seeder, store
}

// TestDeterministic: batch boundaries do not change the tables, and a rebuild from the
// log gives the live generation's tables (compared by the rebuild, and across builds).
func TestDeterministic(t *testing.T) {
	for _, backend := range projectionstest.Backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			one, _, _ := build(t, projectionstest.URL(t, backend), 1)
			many, seeder, _ := build(t, projectionstest.URL(t, backend), 500)
			h1, err := oneDB(t, one).TableHashes(ctx, one.Projection())
			if err != nil {
				t.Fatal(err)
			}
			h2, err := oneDB(t, many).TableHashes(ctx, many.Projection())
			if err != nil {
				t.Fatal(err)
			}
			for name, d := range h1 {
				if d.LiveHash != h2[name].LiveHash || d.LiveRows != h2[name].LiveRows || d.LiveRows == 0 {
					t.Errorf("table %s: batches of 1 give %d rows %s, of 500 %d rows %s", name, d.LiveRows, d.LiveHash, h2[name].LiveRows, h2[name].LiveHash)
				}
			}
			rep, err := many.Rebuild(ctx, projections.RebuildOptions{BatchSize: 13})
			if err != nil {
				t.Fatal(err)
			}
			if !rep.Switched || rep.Differs || !rep.Comparable || rep.NewGeneration != 2 {
				t.Errorf("rebuild %+v", rep)
			}
			// The rebuilt generation serves, and the runner follows it.
			name := "Zephyr Windbreaker"
			if err := seeder.RunProduct(ctx, domain.UpdateProductDetails{ProductID: "p29", Name: &name}); err != nil {
				t.Fatal(err)
			}
			head, _ := seeder.Store.Head(ctx)
			if ok, pos, err := many.WaitPosition(ctx, head, 10*time.Second); !ok || err != nil {
				t.Fatalf("position %d, want %d: %v", pos, head, err)
			}
			res, err := many.Search(ctx, search.Query{Text: "zephyr"})
			if err != nil || len(res.Items) != 1 || res.Items[0].ID != "p29" {
				t.Errorf("after the rebuild: %+v %v", res, err)
			}
			if st := many.Status(); st.Generation != 2 {
				t.Errorf("status %+v", st)
			}
		})
	}
}

func oneDB(t *testing.T, b *sqlsearch.Backend) *projections.DB { return b.DB() }

func TestOpen(t *testing.T) {
	ctx := context.Background()
	if _, err := sqlsearch.Open(ctx, "", search.Options{}); err == nil {
		t.Error(`"" without a DB: no error`)
	}
	if _, err := sqlsearch.Open(ctx, "redis://x", search.Options{}); err == nil || !strings.Contains(err.Error(), "want sqlite:") {
		t.Errorf("unknown scheme: %v", err)
	}
	db := projectionstest.DB(t, "sqlite")
	b, err := sqlsearch.Open(ctx, "", search.Options{DB: db})
	if err != nil {
		t.Fatal(err)
	}
	// Query-only: no event store.
	if err := b.Run(ctx); err == nil {
		t.Error("Run without an event store: no error")
	}
	res, err := b.Search(ctx, search.Query{Text: "anything", Facets: []string{"brand", "price"}})
	if err != nil || res.Total != 0 || res.Position != 0 || len(res.Facets["price"]) != len(search.DefaultPriceRanges) {
		t.Errorf("empty index: %+v %v", res, err)
	}
	if err := b.Close(); err != nil {
		t.Error(err)
	}
	if err := db.Close(); err != nil {
		t.Errorf("Close closed the caller's DB: %v", err)
	}
	// An SQL URL without a DB: Open opens (and Close closes) it.
	b, err = sqlsearch.Open(ctx, projectionstest.URL(t, "sqlite"), search.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if b.Kind() != "sqlite" || b.Name() != "search" {
		t.Errorf("kind %s name %s", b.Kind(), b.Name())
	}
	if err := b.Close(); err != nil {
		t.Error(err)
	}
}
