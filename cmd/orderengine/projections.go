package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/orderengine/orderengine/eventregistry"
	"github.com/orderengine/orderengine/eventstore"
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

// projectionsCLI is what a projections subcommand works on.
type projectionsCLI struct {
	c         Config
	rf        readModelFlags
	searchURL string
	asJSON    bool
	dryRun    bool
	name      string // rebuild, reset: the projection

	store eventstore.Store
	db    *projections.DB
	sb    search.Backend
}

// projectionsCommand is the entry point of "projections SUB".
func projectionsCommand(sub string) runFunc {
	return func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
		var p projectionsCLI
		usage := "projections " + sub + " [flags]"
		if sub == "rebuild" || sub == "reset" {
			usage = "projections " + sub + " NAME [flags]   (NAME: " + strings.Join(projectionNames(), ", ") + ")"
			if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
				p.name, args = args[0], args[1:]
			}
		}
		fs := newFlagSet("projections "+sub, usage, getenv, stdout)
		commonFlags(fs, &p.c)
		p.rf.register(fs)
		fs.stringVar(&p.searchURL, "search", "ORDERENGINE_SEARCH", "", "search backend (for the search projection): empty = the read-model database, or http://… Elasticsearch")
		if sub == "list" || sub == "status" || sub == "rebuild" {
			fs.BoolVar(&p.asJSON, "json", false, "print JSON instead of a table")
		}
		if sub == "rebuild" {
			fs.BoolVar(&p.dryRun, "dry-run", false, "build and compare the new generation, then drop it instead of switching")
		}
		if err := fs.parse(args); err != nil {
			return err
		}
		if err := p.check(sub); err != nil {
			return err
		}
		if err := p.open(ctx, (sub == "reset" || sub == "rebuild") && p.name != searchProjection); err != nil {
			return err
		}
		defer p.close()
		switch sub {
		case "run":
			return p.run(ctx, stdout, stderr)
		case "list", "status":
			return p.status(ctx, sub, stdout)
		case "reset":
			return p.reset(ctx, stdout)
		}
		return p.rebuild(ctx, stdout, stderr)
	}
}

func projectionNames() []string {
	var names []string
	for _, p := range readmodel.All() {
		names = append(names, p.Name())
	}
	return append(names, searchProjection)
}

func (p *projectionsCLI) check(sub string) error {
	if err := p.c.Validate(); err != nil {
		return usagef("%v", err)
	}
	if (sub == "rebuild" || sub == "reset") && p.name == "" {
		return usagef("usage: orderengine projections %s NAME [flags] (NAME: %s)", sub, strings.Join(projectionNames(), ", "))
	}
	if p.name != "" && p.name != searchProjection {
		if _, err := projectionByName(p.name); err != nil {
			return err
		}
	}
	return nil
}

// open opens the event store, the read models and (unless sqlOnly) the search backend.
func (p *projectionsCLI) open(ctx context.Context, sqlOnly bool) error {
	log := newLogger(p.c, io.Discard)
	var err error
	if p.store, err = openEventStore(ctx, p.c, log); err != nil {
		return fmt.Errorf("open event store %s: %w", redactURL(p.c.Events), err)
	}
	// Projections read personal data opened (or "[erased]"), as serve's do.
	sealed, err := sealedStore(ctx, p.c, p.store, log)
	if err != nil {
		return err
	}
	p.store = sealed
	if p.db, err = openReadModels(ctx, p.c, p.rf); err != nil {
		return err
	}
	if !sqlOnly {
		p.sb, err = openSearch(ctx, p.searchURL, p.db, p.store, eventregistry.New(), log)
	}
	return err
}

func (p *projectionsCLI) close() {
	if p.sb != nil {
		p.sb.Close()
	}
	if p.db != nil {
		p.db.Close()
	}
	if p.store != nil {
		p.store.Close()
	}
}

// run is the workers of a serve --projections=off deployment, in their own process.
func (p *projectionsCLI) run(ctx context.Context, stdout, stderr io.Writer) error {
	runners, err := newRunners(p.db, p.store, eventregistry.New(), newLogger(p.c, stderr), nil)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	for _, r := range append([]func(context.Context) error{p.sb.Run}, runFuncs(runners)...) {
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
}

func (p *projectionsCLI) status(ctx context.Context, sub string, stdout io.Writer) error {
	sts, err := projections.Inspect(ctx, p.db, p.store)
	if err != nil {
		return err
	}
	known := map[string]bool{}
	for _, s := range sts {
		known[s.Name] = true
	}
	for _, rm := range readmodel.All() {
		if !known[rm.Name()] {
			sts = append(sts, projections.Status{Name: rm.Name(), State: "not started"})
		}
	}
	if !known[p.sb.Name()] {
		sts = append(sts, p.sb.Status()) // Elasticsearch keeps its checkpoint in the index
	}
	sort.Slice(sts, func(i, j int) bool { return sts[i].Name < sts[j].Name })
	if p.asJSON {
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
}

func (p *projectionsCLI) reset(ctx context.Context, stdout io.Writer) error {
	proj, err := p.projection()
	if err != nil {
		return err
	}
	gen, err := projections.Reset(ctx, p.db, proj)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s reset: generation %d is empty and live; a running server rebuilds it from position 0\n", proj.Name(), gen)
	return nil
}

// projection is the SQL projection p.name names (the SQL search backend's for "search").
func (p *projectionsCLI) projection() (projections.Projection, error) {
	if p.name != searchProjection {
		return projectionByName(p.name)
	}
	if sqb, ok := p.sb.(*sqlsearch.Backend); ok {
		return sqb.Projection(), nil
	}
	return nil, usagef("reset of the Elasticsearch index: run projections rebuild search instead")
}

func (p *projectionsCLI) rebuild(ctx context.Context, stdout, stderr io.Writer) error {
	bar := progressline.NewBar(stderr)
	opt := projections.RebuildOptions{Registry: eventregistry.New(),
		DryRun: p.dryRun,
		Progress: func(pr projections.Progress) {
			pct := 100.0
			if pr.Total > 0 {
				pct = min(100, 100*float64(pr.Events)/float64(pr.Total))
			}
			bar.Update(pct, fmt.Sprintf("%s %s %s/%s events  %s ev/s  ETA %s", pr.Projection, pr.Phase,
				progressline.Commas(float64(pr.Events)), progressline.Commas(float64(pr.Total)), progressline.Commas(pr.Rate), pr.ETA.Round(time.Second)))
		},
	}
	var (
		rep *projections.RebuildReport
		err error
	)
	if p.name == searchProjection {
		rep, err = p.sb.Rebuild(ctx, opt)
	} else {
		proj, perr := p.projection()
		if perr != nil {
			return perr
		}
		rep, err = projections.Rebuild(ctx, p.db, p.store, proj, opt)
	}
	bar.Done()
	if err != nil {
		return err
	}
	if p.asJSON {
		return json.NewEncoder(stdout).Encode(rep)
	}
	printRebuildReport(stdout, rep)
	return nil
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
