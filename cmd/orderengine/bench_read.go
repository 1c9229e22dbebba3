package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/orderengine/orderengine/auth"
	"github.com/orderengine/orderengine/readbench"
	"github.com/orderengine/orderengine/shopgen"
)

// benchReadCustomers is how many customers bench read places orders for.
const benchReadCustomers = 20

// runBenchRead serves a seeded shop in-process and measures its reads (package readbench).
func runBenchRead(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var (
		events, readModels, cpuProfile string
		cfg                            readbench.Config
		products, orders               int
		quiet                          bool
	)
	fs := newFlagSet("bench read", "bench read [--events URL] [--readmodels URL] [--concurrency 32] [--duration 20s]", getenv, stdout)
	fs.StringVar(&events, "events", "sqlite:", "event store: sqlite: (a temporary file) or postgres://… (a fresh schema, dropped afterwards)")
	fs.StringVar(&readModels, "readmodels", "", "read models: sqlite: (temporary) or postgres://… (a fresh schema); default: the same kind as --events")
	fs.IntVar(&cfg.Concurrency, "concurrency", 32, "concurrent clients")
	fs.DurationVar(&cfg.Duration, "duration", 20*time.Second, "measured time")
	fs.IntVar(&products, "products", 500, "products in the catalog")
	fs.IntVar(&orders, "orders", 300, "orders placed before measuring (order history)")
	fs.BoolVar(&quiet, "quiet", false, "no progress on stderr")
	fs.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the measured phase (server and load generator share the process) to this file")
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := checkBenchRead(cfg, products, orders); err != nil {
		return err
	}
	if readModels == "" {
		readModels = events
	}
	if !quiet {
		cfg.Progress = stderr
	}
	sc, err := newScratch("read", stderr)
	if err != nil {
		return err
	}
	defer sc.close()
	e, tier, err := startReadEngine(ctx, sc, events, readModels, stderr)
	if err != nil {
		return err
	}
	defer e.stop()
	if err := seedReadBench(ctx, e, &cfg, products, orders); err != nil {
		return err
	}
	stopProfile, err := startCPUProfile(cpuProfile)
	if err != nil {
		return err
	}
	cfg.Tier = tier
	results, err := readbench.Run(ctx, cfg)
	stopProfile()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "orderengine bench read — events %s, read models %s — %d products, %d orders — %s\n\n", redactURL(events), redactURL(readModels), products, orders, time.Now().UTC().Format(time.RFC3339))
	readbench.PrintTable(stdout, results)
	fmt.Fprintln(stdout)
	readbench.PrintResultLines(stdout, results)
	if !readbench.AllOK(results) {
		return errBenchFailed
	}
	return nil
}

// startReadEngine starts the engine for bench read on scratch stores (SQLite or
// PostgreSQL only: the tiers the read side has).
func startReadEngine(ctx context.Context, sc *scratch, events, readModels string, stderr io.Writer) (*benchEngine, string, error) {
	ek, _, err := parseStoreURL(events)
	if err != nil || (ek != kindSQLite && ek != kindPostgres) {
		return nil, "", usagef("--events %q: want sqlite: or postgres://…", redactURL(events))
	}
	rk, _, _ := parseStoreURL(readModels)
	c, err := sc.config(events)
	if err != nil {
		return nil, "", err
	}
	rmURL, err := sc.readModels(readModels)
	if err != nil {
		return nil, "", err
	}
	c.LogLevel = "error"
	f := appFlags{auth: authFlags{secret: string(randomSecret())}, readModels: readModelFlags{url: rmURL},
		bus: "memory", orderWait: 30 * time.Second, webhookSecret: "bench-webhook-secret-0123456789abcdef"}
	e, err := startBenchEngine(ctx, c, f, newLogger(c, io.Discard), stderr)
	return e, string(ek) + "+" + string(rk), err
}

// seedReadBench seeds the shop, places orders and waits for the projections; it fills
// in the run's products, categories and customer tokens.
func seedReadBench(ctx context.Context, e *benchEngine, cfg *readbench.Config, products, orders int) error {
	if cfg.Progress != nil {
		fmt.Fprintf(cfg.Progress, "seeding %d products and %d orders…\n", products, orders)
	}
	seeded, err := shopgen.DemoCatalog(ctx, e.app.svc, products, 1, nil)
	if err != nil {
		return err
	}
	cfg.ProductIDs, cfg.Categories, cfg.CustomerTokens = seeded.ProductIDs, shopgen.DemoCategories(), nil
	for i := range benchReadCustomers {
		tok, err := e.token(shopgen.DemoCustomer(i), auth.RoleCustomer)
		if err != nil {
			return err
		}
		cfg.CustomerTokens = append(cfg.CustomerTokens, tok)
	}
	if err := shopgen.DemoOrders(ctx, e.app.svc, e.app.checkout.Start, seeded.SKUs, orders, benchReadCustomers); err != nil {
		return err
	}
	if cfg.Progress != nil {
		fmt.Fprintln(cfg.Progress, "waiting for the projections to catch up…")
	}
	cfg.BaseURL = e.url
	return e.waitCaughtUp(ctx, 2*time.Minute)
}

// checkBenchRead validates the flags before anything is opened (the engine fills in the
// URL, products and tokens later).
func checkBenchRead(cfg readbench.Config, products, orders int) error {
	if err := checkRange("--products", products, 1, 100_000); err != nil {
		return err
	}
	if err := checkRange("--orders", orders, 1, 1_000_000); err != nil {
		return err
	}
	cfg.BaseURL, cfg.ProductIDs, cfg.Categories, cfg.CustomerTokens = "http://probe", []string{"p"}, []string{"c"}, []string{"t"}
	if err := cfg.Validate(); err != nil {
		return usagef("%v", err)
	}
	return nil
}
