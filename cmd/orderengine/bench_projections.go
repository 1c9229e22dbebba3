package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/orderengine/orderengine/projections"
	"github.com/orderengine/orderengine/projections/projectionbench"
	"github.com/orderengine/orderengine/projections/readmodel"
)

// runBenchProjections rebuilds the orders and catalog read models from a generated log
// (package projectionbench) on scratch stores.
func runBenchProjections(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var (
		events, readModels string
		cfg                projectionbench.Config
		quiet              bool
	)
	fs := newFlagSet("bench projections", "bench projections [--events URL] [--readmodels URL] [--order-events N]", getenv, stdout)
	fs.StringVar(&events, "events", "sqlite:", "event store to generate the log in: sqlite: (a temporary file) or postgres://… (a fresh schema, dropped afterwards)")
	fs.StringVar(&readModels, "readmodels", "sqlite:", "read models to rebuild into: sqlite: (a temporary file) or postgres://… (a fresh schema, dropped afterwards)")
	fs.IntVar(&cfg.OrderEvents, "order-events", 100_000, "order events in the generated log")
	fs.IntVar(&cfg.Products, "products", 500, "products in the generated catalog")
	fs.BoolVar(&quiet, "quiet", false, "no progress on stderr")
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := checkRange("--order-events", cfg.OrderEvents, 1, 100_000_000); err != nil {
		return err
	}
	if err := checkRange("--products", cfg.Products, 1, 1_000_000); err != nil {
		return err
	}
	ek, _, err := parseStoreURL(events)
	if err != nil || (ek != kindSQLite && ek != kindPostgres) {
		return usagef("--events %q: want sqlite: or postgres://…", redactURL(events))
	}
	rk, _, _ := parseStoreURL(readModels)
	cfg.EventsTier, cfg.ReadModelsTier = string(ek), string(rk)
	if !quiet {
		cfg.Progress = stderr
	}
	sc, err := newScratch("projections", stderr)
	if err != nil {
		return err
	}
	defer sc.close()
	if err := openBenchProjectionStores(ctx, sc, &cfg, events, readModels, stderr); err != nil {
		return err
	}
	defer cfg.Events.Close()
	defer cfg.DB.Close()
	cfg.Projections = []projections.Projection{readmodel.Orders{}, readmodel.Catalog{}}
	fmt.Fprintf(stdout, "orderengine bench projections — events %s, read models %s — %s\n\n", redactURL(events), redactURL(readModels), time.Now().UTC().Format(time.RFC3339))
	results, err := projectionbench.Run(ctx, cfg)
	if err != nil {
		return err
	}
	projectionbench.PrintTable(stdout, results)
	fmt.Fprintln(stdout)
	projectionbench.PrintResultLines(stdout, results)
	if !projectionbench.AllOK(results) {
		return errBenchFailed
	}
	return nil
}

// openBenchProjectionStores opens the scratch event store and read models into cfg; on
// error nothing stays open.
func openBenchProjectionStores(ctx context.Context, sc *scratch, cfg *projectionbench.Config, events, readModels string, stderr io.Writer) error {
	c, err := sc.config(events)
	if err != nil {
		return err
	}
	rm, err := sc.readModels(readModels)
	if err != nil {
		return err
	}
	if cfg.Events, err = openEventStore(ctx, c, newLogger(c, stderr)); err != nil {
		return fmt.Errorf("open %s: %w", redactURL(events), err)
	}
	if cfg.DB, err = openReadModels(ctx, c, readModelFlags{url: rm}); err != nil {
		cfg.Events.Close()
		return err
	}
	return nil
}
