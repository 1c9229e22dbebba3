// Package projectionstest helps test projections: a read-model database per backend
// (SQLite file, or a PostgreSQL schema of the test's own), a seeded event log built with
// the domain's deciders, and an event store wrapper that redelivers events.
package projectionstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/eventstore/sqlite"
	"github.com/orderengine/orderengine/projections"
)

// DefaultPostgresURL is the test database when ORDERENGINE_TEST_POSTGRES_URL is unset.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// Backends are the read-model backends every read-model test runs on.
var Backends = []string{"sqlite", "postgres"}

// PostgresURL is the test database's URL.
func PostgresURL() string {
	if u := os.Getenv("ORDERENGINE_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return DefaultPostgresURL
}

// RequirePostgres skips the test when no PostgreSQL is reachable (fails it when CI is set).
func RequirePostgres(tb testing.TB) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, PostgresURL())
	if err == nil {
		err = conn.Ping(ctx)
		conn.Close(context.Background())
	}
	if err != nil {
		msg := fmt.Sprintf("PostgreSQL is not reachable at %s (%v); set ORDERENGINE_TEST_POSTGRES_URL to a test database", PostgresURL(), err)
		if os.Getenv("CI") != "" {
			tb.Fatal(msg)
		}
		tb.Skip(msg + "; skipping")
	}
}

// URL returns a read-model URL of the test's own: a SQLite file in a temp dir, or a
// fresh PostgreSQL schema dropped when the test ends. Open it as often as needed.
func URL(tb testing.TB, backend string) string {
	tb.Helper()
	switch backend {
	case "sqlite":
		return "sqlite:" + filepath.Join(tb.TempDir(), "readmodels.db")
	case "postgres":
		RequirePostgres(tb)
		var b [6]byte
		_, _ = rand.Read(b[:])
		schema := "oetest_rm_" + hex.EncodeToString(b[:])
		tb.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			conn, err := pgx.Connect(ctx, PostgresURL())
			if err != nil {
				tb.Logf("drop schema %s: %v", schema, err)
				return
			}
			defer conn.Close(ctx)
			if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE"); err != nil {
				tb.Logf("drop schema %s: %v", schema, err)
			}
		})
		sep := "?"
		for _, c := range PostgresURL() {
			if c == '?' {
				sep = "&"
			}
		}
		return PostgresURL() + sep + "schema=" + schema
	}
	tb.Fatalf("unknown backend %q", backend)
	return ""
}

// Open opens a read-model database at url, closed when the test ends.
func Open(tb testing.TB, url string) *projections.DB {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := projections.Open(ctx, url, projections.Options{})
	if err != nil {
		tb.Fatalf("open read models: %v", err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	return db
}

// DB opens a read-model database of the test's own on backend.
func DB(tb testing.TB, backend string) *projections.DB {
	tb.Helper()
	return Open(tb, URL(tb, backend))
}

// EventStore opens an empty SQLite event store in a temp dir, closed when the test ends.
func EventStore(tb testing.TB) *sqlite.Store {
	tb.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "events.db"), sqlite.Options{})
	if err != nil {
		tb.Fatalf("open event store: %v", err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// WaitCaughtUp waits until every runner's checkpoint reaches the store's head.
func WaitCaughtUp(tb testing.TB, store eventstore.Store, timeout time.Duration, runners ...*projections.Runner) {
	tb.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(timeout)
	for {
		head, err := store.Head(ctx)
		if err != nil {
			tb.Fatalf("head: %v", err)
		}
		done := true
		for _, r := range runners {
			st := r.Status()
			if st.State == projections.StateFailed {
				tb.Fatalf("projection %s failed: %+v", st.Name, st.Failure)
			}
			if st.Checkpoint < head || st.State != projections.StateCaughtUp {
				done = false
			}
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			for _, r := range runners {
				tb.Logf("%+v", r.Status())
			}
			tb.Fatalf("runners did not catch up with head %d within %v", head, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
