package storebench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderengine/orderengine/eventstore/postgres"
)

func postgresURL() string {
	if u := os.Getenv("ORDERENGINE_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// postgresAdmin connects to the test database, or skips the test (fails it in CI) when
// none is reachable.
func postgresAdmin(t *testing.T) *pgxpool.Pool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, postgresURL())
	if err == nil {
		if err = pool.Ping(ctx); err != nil {
			pool.Close()
		}
	}
	if err != nil {
		msg := fmt.Sprintf("PostgreSQL is not reachable at %s (%v); set ORDERENGINE_TEST_POSTGRES_URL to a test database", postgresURL(), err)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg + "; skipping the PostgreSQL benchmark test")
	}
	t.Cleanup(pool.Close)
	return pool
}

func benchSchemas(t *testing.T, admin *pgxpool.Pool) []string {
	t.Helper()
	rows, err := admin.Query(context.Background(), `SELECT nspname FROM pg_namespace WHERE starts_with(nspname, 'storebench_') ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func TestRunPostgres(t *testing.T) {
	admin := postgresAdmin(t)
	ctx := context.Background()
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "oetest_bench_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Logf("drop schema %s: %v", schema, err)
		}
	})
	store, err := postgres.Open(ctx, postgresURL(), postgres.Options{Schema: schema, PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })

	before := benchSchemas(t, admin)
	cfg := tinyConfig()
	cfg.RawPostgres = store.Pool()
	rs, err := Run(ctx, store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkResults(t, rs, Workloads)
	for _, r := range rs {
		if (r.Workload == AppendB1 || r.Workload == AppendB10) && (r.RatioToRaw == nil || *r.RatioToRaw <= 0) {
			t.Errorf("%s has no ratio to raw INSERTs: %v", r.Workload, r.RatioToRaw)
		}
		if r.Store != "*postgres.Store" && !isRaw(r.Workload) {
			t.Errorf("%s measured %s", r.Workload, r.Store)
		}
	}
	if after := benchSchemas(t, admin); !slices.Equal(before, after) {
		t.Errorf("the raw baseline's schema is left behind: before %v, after %v", before, after)
	}
	var table bytes.Buffer
	PrintTable(&table, rs)
	t.Logf("\n%s", table.String())
}
