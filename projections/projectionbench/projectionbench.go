// Package projectionbench measures projection rebuilds: it generates a log of order
// events (package shopgen) and rebuilds read models from it, reporting events/s. Each
// rebuild runs twice: the first makes a live generation, the second is measured and must
// come out identical to it.
package projectionbench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/progressline"
	"github.com/orderengine/orderengine/projections"
	"github.com/orderengine/orderengine/shopgen"
)

// Config is one run.
type Config struct {
	// Events is the (empty) store the log is generated in; DB the read models.
	Events eventstore.Store
	DB     *projections.DB
	// Projections are rebuilt in turn.
	Projections []projections.Projection
	// Products and OrderEvents size the generated log.
	Products, OrderEvents int
	// EventsTier and ReadModelsTier label the results ("sqlite", "postgres").
	EventsTier, ReadModelsTier string
	// Progress, if not nil, receives progress.
	Progress io.Writer
}

// Validate reports a bad configuration.
func (c Config) Validate() error {
	var errs []error
	if c.OrderEvents < 1 || c.OrderEvents > 100_000_000 {
		errs = append(errs, fmt.Errorf("--order-events %d: want 1–100000000", c.OrderEvents))
	}
	if c.Products < 1 || c.Products > 1_000_000 {
		errs = append(errs, fmt.Errorf("--products %d: want 1–1000000", c.Products))
	}
	if c.Events == nil || c.DB == nil || len(c.Projections) == 0 {
		errs = append(errs, errors.New("projectionbench: Events, DB and Projections are required"))
	}
	return errors.Join(errs...)
}

// Result is one rebuild measured (the RESULT lines' JSON).
type Result struct {
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

// Run generates the log and measures a rebuild of each projection. An error is a
// failure to generate the log or to make the first generation; a measured rebuild that
// fails or differs is a result that is not OK.
func Run(ctx context.Context, cfg Config) ([]Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Progress != nil {
		fmt.Fprintf(cfg.Progress, "generating %d products and %s order events…\n", cfg.Products, progressline.Commas(float64(cfg.OrderEvents)))
	}
	seeder := shopgen.NewSeeder(cfg.Events, 7)
	if err := seeder.AddProducts(ctx, cfg.Products); err != nil {
		return nil, fmt.Errorf("generate catalog: %w", err)
	}
	if err := seeder.BulkOrders(ctx, cfg.OrderEvents); err != nil {
		return nil, fmt.Errorf("generate orders: %w", err)
	}
	var results []Result
	for _, p := range cfg.Projections {
		res, err := cfg.rebuild(ctx, p)
		if err != nil {
			return results, err
		}
		res.LogEvents = seeder.Events
		results = append(results, res)
	}
	return results, nil
}

func (c Config) rebuild(ctx context.Context, p projections.Projection) (Result, error) {
	res := Result{Workload: "rebuild", Projection: p.Name(), Events: c.EventsTier, ReadModels: c.ReadModelsTier}
	// The first rebuild makes the live generation the measured one is compared with.
	if _, err := projections.Rebuild(ctx, c.DB, c.Events, p, projections.RebuildOptions{Registry: domain.NewDomainRegistry()}); err != nil {
		return res, err
	}
	opt := projections.RebuildOptions{Registry: domain.NewDomainRegistry()}
	var bar *progressline.Bar
	if c.Progress != nil {
		bar = progressline.NewBar(c.Progress)
		opt.Progress = func(pr projections.Progress) {
			pct := 100.0
			if pr.Total > 0 {
				pct = min(100, 100*float64(pr.Events)/float64(pr.Total))
			}
			bar.Update(pct, fmt.Sprintf("%s %s %s ev/s", pr.Projection, pr.Phase, progressline.Commas(pr.Rate)))
		}
	}
	rep, err := projections.Rebuild(ctx, c.DB, c.Events, p, opt)
	if bar != nil {
		bar.Done()
	}
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
	return res, nil
}

// PrintTable writes the results as a table.
func PrintTable(w io.Writer, results []Result) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "projection\tok\tevents\tevents/s\tseconds\tidentical")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%v\t%s\t%s\t%.2f\t%v\n", r.Projection, r.OK, progressline.Commas(float64(r.Applied)), progressline.Commas(float64(uint64(r.EventsPerS))), r.Seconds, r.Identical)
	}
	tw.Flush()
}

// PrintResultLines writes one "RESULT {json}" line per result (for scripts).
func PrintResultLines(w io.Writer, results []Result) {
	for _, r := range results {
		b, _ := json.Marshal(r)
		fmt.Fprintf(w, "RESULT %s\n", b)
	}
}

// AllOK reports whether every result passed.
func AllOK(results []Result) bool {
	for _, r := range results {
		if !r.OK {
			return false
		}
	}
	return len(results) > 0
}
