package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/eventstore/postgres"
	"github.com/orderengine/orderengine/eventstore/sqlite"
	"github.com/orderengine/orderengine/eventstore/storebench"
)

// errBenchFailed: a workload's correctness check failed.
var errBenchFailed = errors.New("benchmark correctness check failed")

func runBenchEventStore(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var (
		events    string
		workloads string
		cfg       storebench.Config
		quiet     bool
	)
	fs := newFlagSet("bench eventstore", "bench eventstore [--events URL] [flags]", getenv, stderr)
	fs.StringVar(&events, "events", "sqlite:", "store to measure: sqlite: (a fresh temporary file), sqlite:PATH, postgres://… (a fresh schema, dropped afterwards), kurrentdb://…")
	fs.IntVar(&cfg.Streams, "streams", storebench.DefaultStreams, "streams written")
	fs.IntVar(&cfg.EventsPerStream, "events-per-stream", storebench.DefaultEventsPerStream, "events per stream (the batch of append_b10)")
	fs.IntVar(&cfg.Writers, "writers", storebench.DefaultWriters, "concurrent writers")
	fs.IntVar(&cfg.DataBytes, "data-bytes", storebench.DefaultDataBytes, "approximate JSON data size per event")
	fs.IntVar(&cfg.MetadataBytes, "metadata-bytes", storebench.DefaultMetadataBytes, "approximate JSON metadata size per event")
	fs.DurationVar(&cfg.HotDuration, "hot-duration", storebench.DefaultHotDuration, "how long hot_stream runs")
	fs.StringVar(&workloads, "workloads", "", "comma-separated workloads (default all): "+strings.Join(storebench.Workloads, ","))
	fs.BoolVar(&quiet, "quiet", false, "no progress lines on stderr")
	if err := fs.parse(args); err != nil {
		if errors.Is(err, errHelp) {
			return nil
		}
		return err
	}
	if workloads != "" {
		cfg.Workloads = strings.Split(workloads, ",")
	}
	kind, rest, err := parseStoreURL(events)
	if err != nil {
		return usagef("--events: %v", err)
	}
	if err := cfg.Validate(); err != nil {
		return usagef("%v", err)
	}
	if !quiet {
		cfg.Progress = stderr
	}

	var store eventstore.Store
	defer func() {
		if store != nil {
			store.Close()
		}
	}()
	switch kind {
	case kindSQLite:
		path := strings.SplitN(rest, "?", 2)[0]
		if path == "" {
			dir, err := os.MkdirTemp("", "orderengine-bench-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			path = filepath.Join(dir, "events.db")
		}
		store, err = sqlite.Open(ctx, path, sqlite.Options{})
	case kindPostgres:
		// A schema of its own, so the run neither sees nor leaves data in a real store.
		schema := "bench_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
		var pg *postgres.Store
		pg, err = postgres.Open(ctx, rest, postgres.Options{Schema: schema})
		if err == nil {
			store = pg
			cfg.RawPostgres = pg.Pool()
			// Runs before the store's Close (deferred later, so run earlier).
			defer func() {
				dctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				if _, err := pg.Pool().Exec(dctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
					fmt.Fprintf(stderr, "drop bench schema %s: %v\n", schema, err)
				}
			}()
		}
	default:
		store, err = openEventStore(ctx, Config{Events: events, MaxEventSize: 1 << 20}, newLogger(Config{LogLevel: "warn"}, stderr))
	}
	if err != nil {
		return fmt.Errorf("open %s: %w", redactURL(events), err)
	}

	fmt.Fprintf(stdout, "orderengine bench eventstore — %s — %s\n\n", redactURL(events), time.Now().UTC().Format(time.RFC3339))
	results, err := storebench.Run(ctx, store, cfg)
	storebench.PrintTable(stdout, results)
	fmt.Fprintln(stdout)
	storebench.PrintResultLines(stdout, results)
	if err != nil {
		return err
	}
	if !storebench.AllOK(results) {
		return errBenchFailed
	}
	return nil
}
