package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"

	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/eventstore/postgres"
	"github.com/orderengine/orderengine/eventstore/sqlite"
	"github.com/orderengine/orderengine/projections"
	"github.com/orderengine/orderengine/projections/projectionstest"
	"github.com/orderengine/orderengine/projections/readmodel"
)

// projectionBenchResult is one rebuild measured by bench projections.
type projectionBenchResult struct {
	Workload   string  `json:"workload"`
	Projection string  `json:"projection"`
	Events     string  `json:"events_store"`
	ReadModels string  `json:"readmodels"`
	OK         bool    `json:"ok"`
	Error      string  `json:"error,omitempty"`
	Applied    uint64  `json:"events"`
	EventsPerS float64 `json:"events_per_s"`
	Seconds    float64 `json:"duration_s"`
	Identical  bool    `json:"identical_to_live"`
	LogEvents  int     `json:"log_events"`
}

// runBenchProjections rebuilds the orders and catalog read models from a generated log of
// order events and reports events/s. Each rebuild runs twice: the first makes a live
// generation, the second is measured and must come out identical to it.
func runBenchProjections(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var (
		events, readModels string
		orderEvents        int
		products           int
		quiet              bool
	)
	fs := newFlagSet("bench projections", "bench projections [--events URL] [--readmodels URL] [--order-events N]", getenv, stderr)
	fs.StringVar(&events, "events", "sqlite:", "event store to generate the log in: sqlite: (a temporary file) or postgres://… (a fresh schema, dropped afterwards)")
	fs.StringVar(&readModels, "readmodels", "sqlite:", "read models to rebuild into: sqlite: (a temporary file) or postgres://… (a fresh schema, dropped afterwards)")
	fs.IntVar(&orderEvents, "order-events", 100_000, "order events in the generated log")
	fs.IntVar(&products, "products", 500, "products in the generated catalog")
	fs.BoolVar(&quiet, "quiet", false, "no progress on stderr")
	if err := fs.parse(args); err != nil {
		if errors.Is(err, errHelp) {
			return nil
		}
		return err
	}
	if orderEvents < 1 || products < 1 {
		return usagef("--order-events and --products must be positive")
	}
	ek, _, err := parseStoreURL(events)
	if err != nil || (ek != kindSQLite && ek != kindPostgres) {
		return usagef("--events: want sqlite: or postgres://…")
	}
	rk, _, err := parseStoreURL(readModels)
	if err != nil || (rk != kindSQLite && rk != kindPostgres) {
		return usagef("--readmodels: want sqlite: or postgres://…")
	}
	dir, err := os.MkdirTemp("", "orderengine-bench-projections-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	suffix := strings.ReplaceAll(uuid.NewString(), "-", "")[:10]

	var store eventstore.Store
	defer func() {
		if store != nil {
			store.Close()
		}
	}()
	if ek == kindSQLite {
		store, err = sqlite.Open(ctx, filepath.Join(dir, "events.db"), sqlite.Options{})
	} else {
		var pg *postgres.Store
		schema := "bench_events_" + suffix
		pg, err = postgres.Open(ctx, events, postgres.Options{Schema: schema})
		if err == nil {
			store = pg
			defer func() { dropSchema(pg, schema, stderr) }()
		}
	}
	if err != nil {
		return fmt.Errorf("open %s: %w", redactURL(events), err)
	}

	rmURL := "sqlite:" + filepath.Join(dir, "readmodels.db")
	if rk == kindPostgres {
		sep := "?"
		if strings.Contains(readModels, "?") {
			sep = "&"
		}
		rmURL = readModels + sep + "schema=bench_rm_" + suffix
	}
	db, err := projections.Open(ctx, rmURL, projections.Options{})
	if err != nil {
		return fmt.Errorf("open read models: %w", err)
	}
	defer db.Close()
	if rk == kindPostgres {
		defer func() {
			dctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if _, err := db.SQL().ExecContext(dctx, "DROP SCHEMA bench_rm_"+suffix+" CASCADE"); err != nil {
				fmt.Fprintf(stderr, "drop read-model schema: %v\n", err)
			}
		}()
	}

	if !quiet {
		fmt.Fprintf(stderr, "generating %d products and %s order events…\n", products, commas(uint64(orderEvents)))
	}
	seeder := projectionstest.NewSeeder(store, 7)
	if err := seeder.AddProducts(ctx, products); err != nil {
		return fmt.Errorf("generate catalog: %w", err)
	}
	if err := seeder.BulkOrders(ctx, orderEvents); err != nil {
		return fmt.Errorf("generate orders: %w", err)
	}

	fmt.Fprintf(stdout, "orderengine bench projections — events %s, read models %s — %s\n\n", redactURL(events), redactURL(readModels), time.Now().UTC().Format(time.RFC3339))
	var results []projectionBenchResult
	for _, p := range []projections.Projection{readmodel.Orders{}, readmodel.Catalog{}} {
		res := projectionBenchResult{Workload: "rebuild", Projection: p.Name(), Events: string(ek), ReadModels: string(rk), LogEvents: seeder.Events}
		bar := newProgressBar(stderr)
		opt := projections.RebuildOptions{}
		if !quiet {
			opt.Progress = func(pr projections.Progress) {
				pct := 100.0
				if pr.Total > 0 {
					pct = min(100, 100*float64(pr.Events)/float64(pr.Total))
				}
				bar.update(pct, fmt.Sprintf("%s %s %s ev/s", pr.Projection, pr.Phase, commas(uint64(pr.Rate))))
			}
		}
		// The first rebuild makes the live generation the measured one is compared with.
		if _, err := projections.Rebuild(ctx, db, store, p, projections.RebuildOptions{}); err != nil {
			return err
		}
		rep, err := projections.Rebuild(ctx, db, store, p, opt)
		bar.done()
		switch {
		case err != nil:
			res.Error = err.Error()
		case rep.Differs || !rep.Comparable:
			res.Error = "rebuilt read model differs from the live one"
		default:
			res.OK, res.Identical = true, true
			res.Applied, res.Seconds = rep.Events, rep.Elapsed.Seconds()
			res.EventsPerS = float64(int64(rep.Rate*10)) / 10
		}
		results = append(results, res)
	}
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "projection\tok\tevents\tevents/s\tseconds\tidentical")
	ok := true
	for _, r := range results {
		ok = ok && r.OK
		fmt.Fprintf(tw, "%s\t%v\t%s\t%s\t%.2f\t%v\n", r.Projection, r.OK, commas(r.Applied), commas(uint64(r.EventsPerS)), r.Seconds, r.Identical)
	}
	tw.Flush()
	fmt.Fprintln(stdout)
	for _, r := range results {
		b, _ := json.Marshal(r)
		fmt.Fprintf(stdout, "RESULT %s\n", b)
	}
	if !ok {
		return errBenchFailed
	}
	return nil
}

func dropSchema(pg *postgres.Store, schema string, stderr io.Writer) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := pg.Pool().Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
		fmt.Fprintf(stderr, "drop schema %s: %v\n", schema, err)
	}
}
