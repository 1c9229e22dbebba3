package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/orderengine/orderengine/bus"
	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/eventstore/kurrentdb"
	"github.com/orderengine/orderengine/eventstore/postgres"
	"github.com/orderengine/orderengine/eventstore/sqlite"
	"github.com/orderengine/orderengine/projections"
	"github.com/orderengine/orderengine/search"
	"github.com/orderengine/orderengine/search/elastic"
	"github.com/orderengine/orderengine/search/sqlsearch"
)

// This file is where adapters are chosen: one explicit URL switch per port (event
// store, read models, bus, search). Every command opens its stores through these.

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
		return postgres.Open(ctx, rest, postgres.Options{Limits: limits, Logger: log, Schema: c.EventsSchema})
	default:
		return kurrentdb.Open(ctx, rest, kurrentdb.Options{Limits: limits, Logger: log})
	}
}

// openReadModels opens the read-model database: "sqlite:" (readmodels.db in the data
// dir), "sqlite:PATH" or "postgres://…[?schema=NAME]".
func openReadModels(ctx context.Context, c Config, f readModelFlags) (*projections.DB, error) {
	kind, _, err := parseStoreURL(f.url)
	if err != nil || (kind != kindSQLite && kind != kindPostgres) {
		return nil, usagef("--readmodels %q: want sqlite:, sqlite:PATH or postgres://…", redactURL(f.url))
	}
	if err := os.MkdirAll(c.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	db, err := projections.Open(ctx, f.url, projections.Options{SQLitePath: filepath.Join(c.DataDir, "readmodels.db")})
	if err != nil {
		return nil, fmt.Errorf("open read models %s: %w", redactURL(f.url), err)
	}
	return db, nil
}

// openBus opens the event bus: "memory" (in-process) or "nats://host:port" (JetStream).
func openBus(ctx context.Context, u string, log *slog.Logger) (*bus.PubSub, error) {
	opt := bus.Options{Logger: log}
	switch {
	case u == "memory" || u == "memory:" || u == "memory://":
		return bus.OpenMemory(opt)
	case strings.HasPrefix(u, "nats://") || strings.HasPrefix(u, "tls://"):
		ps, err := bus.OpenNATS(ctx, u, opt)
		if err != nil {
			return nil, fmt.Errorf("open bus %s: %w", redactURL(u), err)
		}
		return ps, nil
	}
	return nil, usagef("--bus %q: want memory or nats://host:port", redactURL(u))
}

// validBusURL reports whether openBus takes u, for checking flags before opening anything.
func validBusURL(u string) bool {
	return u == "memory" || u == "memory:" || u == "memory://" || strings.HasPrefix(u, "nats://") || strings.HasPrefix(u, "tls://")
}

// openSearch opens the search backend: "" (SQL search in the read-model database db; an
// SQL URL is taken to name db too) or "http(s)://…" (Elasticsearch).
func openSearch(ctx context.Context, u string, db *projections.DB, store eventstore.Store, reg *domain.Registry, log *slog.Logger) (search.Backend, error) {
	opt := search.Options{DB: db, Events: store, Logger: log, Runner: projections.RunnerOptions{Registry: reg, Logger: log}}
	var (
		b   search.Backend
		err error
	)
	switch {
	case u == "", strings.HasPrefix(u, "sqlite:"), strings.HasPrefix(u, "postgres://"), strings.HasPrefix(u, "postgresql://"):
		b, err = sqlsearch.Open(ctx, u, opt)
	case strings.HasPrefix(u, "http://"), strings.HasPrefix(u, "https://"):
		b, err = elastic.Open(ctx, u, opt)
	default:
		return nil, usagef("--search %q: want empty (the read-model database), sqlite:…, postgres://… or http(s)://… (Elasticsearch)", redactURL(u))
	}
	if err != nil {
		return nil, fmt.Errorf("open search %s: %w", redactURL(u), err)
	}
	return b, nil
}
