package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/eventstore/kurrentdb"
	"github.com/orderengine/orderengine/eventstore/postgres"
	"github.com/orderengine/orderengine/eventstore/sqlite"
)

// storeKind is the backend a store URL names.
type storeKind string

const (
	kindSQLite    storeKind = "sqlite"
	kindPostgres  storeKind = "postgres"
	kindKurrentDB storeKind = "kurrentdb"
)

// parseStoreURL splits a port URL into its kind and the rest: for sqlite the file path
// (empty: the default file in the data dir), otherwise the URL itself.
func parseStoreURL(u string) (storeKind, string, error) {
	switch {
	case u == "":
		return "", "", fmt.Errorf("empty URL")
	case strings.HasPrefix(u, "sqlite:"):
		p := strings.TrimPrefix(strings.TrimPrefix(u, "sqlite:"), "//")
		if i := strings.IndexByte(p, '?'); i >= 0 {
			if _, err := url.ParseQuery(p[i+1:]); err != nil {
				return "", "", fmt.Errorf("%q: bad query: %w", u, err)
			}
		}
		return kindSQLite, p, nil
	case strings.HasPrefix(u, "postgres://"), strings.HasPrefix(u, "postgresql://"):
		if _, err := url.Parse(u); err != nil {
			return "", "", fmt.Errorf("%q: %w", redactURL(u), err)
		}
		return kindPostgres, u, nil
	case strings.HasPrefix(u, "kurrentdb://"), strings.HasPrefix(u, "kurrentdb+discover://"),
		strings.HasPrefix(u, "esdb://"), strings.HasPrefix(u, "esdb+discover://"):
		return kindKurrentDB, u, nil
	default:
		return "", "", fmt.Errorf("%q: want sqlite:, postgres://…, or kurrentdb://…", redactURL(u))
	}
}

// openEventStore opens the event store a Config names, creating its schema if missing.
func openEventStore(ctx context.Context, c Config, log *slog.Logger) (eventstore.Store, error) {
	kind, rest, err := parseStoreURL(c.Events)
	if err != nil {
		return nil, usagef("--events: %v", err)
	}
	limits := eventstore.Limits{MaxEventSize: c.MaxEventSize}
	switch kind {
	case kindSQLite:
		path, query, _ := strings.Cut(rest, "?")
		q, _ := url.ParseQuery(query)
		if path == "" {
			if err := os.MkdirAll(c.DataDir, 0o750); err != nil {
				return nil, fmt.Errorf("create data dir: %w", err)
			}
			path = filepath.Join(c.DataDir, "events.db")
		}
		return sqlite.Open(ctx, path, sqlite.Options{Limits: limits, Logger: log, Synchronous: q.Get("synchronous")})
	case kindPostgres:
		return postgres.Open(ctx, rest, postgres.Options{Limits: limits, Logger: log})
	default:
		return kurrentdb.Open(ctx, rest, kurrentdb.Options{Limits: limits, Logger: log})
	}
}
