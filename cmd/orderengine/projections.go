package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/orderengine/orderengine/progressline"
	"github.com/orderengine/orderengine/projections"
	"github.com/orderengine/orderengine/projections/readmodel"
	"github.com/orderengine/orderengine/search"
	"github.com/orderengine/orderengine/search/sqlsearch"
)

// readModelFlags are the read side's settings.
type readModelFlags struct {
	url string
}

func (f *readModelFlags) register(fs *flagSet) {
	fs.stringVar(&f.url, "readmodels", "ORDERENGINE_READMODELS", "sqlite:", "read-model database: sqlite: (readmodels.db in the data dir) | sqlite:PATH | postgres://…[&schema=NAME]")
}

func runFuncs(rs []*projections.Runner) []func(context.Context) error {
	out := make([]func(context.Context) error, len(rs))
	for i, r := range rs {
		out[i] = r.Run
	}
	return out
}

// searchProjection is the search index's projection name.
const searchProjection = "search"

// projectionByName finds a read-model projection.
func projectionByName(name string) (projections.Projection, error) {
	var names []string
	for _, p := range readmodel.All() {
		if p.Name() == name {
			return p, nil
		}
		names = append(names, p.Name())
	}
	return nil, usagef("unknown projection %q (have %s, %s)", name, strings.Join(names, ", "), searchProjection)
}

const projectionsUsage = "projections list|status|run|rebuild NAME|reset NAME [flags]"

func runProjections(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("usage: orderengine %s", projectionsUsage)
	}
	sub, rest := args[0], args[1:]
	var name string
	if sub == "rebuild" || sub == "reset" {
		if len(rest) == 0 || strings.HasPrefix(rest[0], "-") {
			return usagef("usage: orderengine projections %s NAME [flags]", sub)
		}
		name, rest = rest[0], rest[1:]
	}
	var (
		c      Config
		rf     readModelFlags
		asJSON bool
		dryRun bool
	)
	fs := newFlagSet("projections "+sub, projectionsUsage, getenv, stderr)
	commonFlags(fs, &c)
	rf.register(fs)
	var searchURL string
	fs.BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	fs.stringVar(&searchURL, "search", "ORDERENGINE_SEARCH", "", "search backend (for the search projection): empty = the read-model database, or http://… Elasticsearch")
	if sub == "rebuild" {
		fs.BoolVar(&dryRun, "dry-run", false, "build and compare the new generation, then drop it instead of switching")
	}
	if err := fs.parse(rest); err != nil {
		if errors.Is(err, errHelp) {
			return nil
		}
		return err
	}
	if err := c.Validate(); err != nil {
		return usagef("%v", err)
	}
	var p projections.Projection
	if name != "" && name != searchProjection {
		var err error
		if p, err = projectionByName(name); err != nil {
			return err
		}
	}
	switch sub {
	case "list", "status", "run", "rebuild", "reset":
	default:
		return usagef("unknown projections command %q (list, status, run, rebuild, reset)", sub)
	}
	log := newLogger(c, io.Discard)
	store, err := openEventStore(ctx, c, log)
	if err != nil {
		return fmt.Errorf("open event store %s: %w", redactURL(c.Events), err)
	}
	defer store.Close()
	db, err := openReadModels(ctx, c, rf)
	if err != nil {
		return err
	}
	defer db.Close()
	var sb search.Backend
	if name == searchProjection || sub == "status" || sub == "list" || sub == "run" {
		if sb, err = openSearch(ctx, searchURL, db, store, log); err != nil {
			return err
		}
		defer sb.Close()
	}
	if name == searchProjection {
		if sqb, ok := sb.(*sqlsearch.Backend); ok {
			p = sqb.Projection()
		}
	}

	switch sub {
	case "run":
		// The workers of a serve --projections=off deployment, in their own process.
		runners, err := newRunners(db, store, newLogger(c, stderr))
		if err != nil {
			return err
		}
		var wg sync.WaitGroup
		for _, r := range append([]func(context.Context) error{sb.Run}, runFuncs(runners)...) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := r(ctx); err != nil {
					fmt.Fprintf(stderr, "projection stopped: %v\n", err)
				}
			}()
		}
		fmt.Fprintln(stdout, "projection workers running; SIGTERM or SIGINT stops them")
		wg.Wait()
		return nil
	case "list", "status":
		sts, err := projections.Inspect(ctx, db, store)
		if err != nil {
			return err
		}
		known := map[string]bool{}
		for _, s := range sts {
			known[s.Name] = true
		}
		for _, p := range readmodel.All() {
			if !known[p.Name()] {
				sts = append(sts, projections.Status{Name: p.Name(), State: "not started"})
			}
		}
		if sb != nil && !known[sb.Name()] {
			sts = append(sts, sb.Status()) // Elasticsearch keeps its checkpoint in the index
		}
		sort.Slice(sts, func(i, j int) bool { return sts[i].Name < sts[j].Name })
		if asJSON {
			return json.NewEncoder(stdout).Encode(sts)
		}
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		if sub == "list" {
			fmt.Fprintln(tw, "NAME\tGENERATION\tCHECKPOINT")
			for _, s := range sts {
				fmt.Fprintf(tw, "%s\t%d\t%d\n", s.Name, s.Generation, s.Checkpoint)
			}
			return tw.Flush()
		}
		fmt.Fprintln(tw, "NAME\tSTATE\tGENERATION\tCHECKPOINT\tHEAD\tLAG\tSECONDS BEHIND\tFAILURE")
		for _, s := range sts {
			failure := ""
			if s.Failure != nil {
				failure = fmt.Sprintf("position %d %s %s: %s", s.Failure.Position, s.Failure.Stream, s.Failure.Type, s.Failure.Error)
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%.1f\t%s\n", s.Name, s.State, s.Generation, s.Checkpoint, s.Head, s.Lag, s.LagSeconds, failure)
		}
		return tw.Flush()
	case "reset":
		if p == nil {
			return usagef("reset of the Elasticsearch index: run projections rebuild search instead")
		}
		gen, err := projections.Reset(ctx, db, p)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s reset: generation %d is empty and live; a running server rebuilds it from position 0\n", p.Name(), gen)
		return nil
	default:
		bar := progressline.NewBar(stderr)
		rebuild := func(opt projections.RebuildOptions) (*projections.RebuildReport, error) {
			if name == searchProjection {
				return sb.Rebuild(ctx, opt)
			}
			return projections.Rebuild(ctx, db, store, p, opt)
		}
		rep, err := rebuild(projections.RebuildOptions{
			DryRun: dryRun,
			Progress: func(pr projections.Progress) {
				pct := 100.0
				if pr.Total > 0 {
					pct = min(100, 100*float64(pr.Events)/float64(pr.Total))
				}
				bar.Update(pct, fmt.Sprintf("%s %s %s/%s events  %s ev/s  ETA %s", pr.Projection, pr.Phase,
					progressline.Commas(float64(pr.Events)), progressline.Commas(float64(pr.Total)), progressline.Commas(pr.Rate), pr.ETA.Round(time.Second)))
			},
		})
		bar.Done()
		if err != nil {
			return err
		}
		if asJSON {
			return json.NewEncoder(stdout).Encode(rep)
		}
		printRebuildReport(stdout, rep)
		return nil
	}
}

func printRebuildReport(w io.Writer, rep *projections.RebuildReport) {
	verdict := "identical to the live generation"
	if rep.Differs {
		verdict = "DIFFERS from the live generation"
		if !rep.Comparable {
			verdict += " (the live one could not be brought to the same position)"
		}
	}
	action := "switched: generation %d is live (was %d)"
	if !rep.Switched {
		action = "not switched (dry run): generation %d dropped, %d stays live"
	}
	fmt.Fprintf(w, "%s rebuilt: %s events in %s (%s ev/s), up to position %d\n", rep.Projection, progressline.Commas(float64(rep.Events)),
		rep.Elapsed.Round(time.Millisecond), progressline.Commas(rep.Rate), rep.Position)
	fmt.Fprintf(w, "new generation %s; "+action+"\n", verdict, rep.NewGeneration, rep.OldGeneration)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tLIVE ROWS\tNEW ROWS\tLIVE HASH\tNEW HASH\tSAME")
	for _, t := range rep.Tables {
		same := "yes"
		if t.Differs {
			same = "NO"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.12s\t%.12s\t%s\n", t.Table, t.LiveRows, t.NewRows, t.LiveHash, t.NewHash, same)
	}
	tw.Flush()
}
