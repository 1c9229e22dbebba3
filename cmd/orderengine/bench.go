package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/orderengine/orderengine/auth"
	"github.com/orderengine/orderengine/eventstore/postgres"
	"github.com/orderengine/orderengine/eventstore/storebench"
	"github.com/orderengine/orderengine/writeapi"
)

// errBenchFailed: a workload's correctness check failed.
var errBenchFailed = errors.New("benchmark correctness check failed")

// benchRateLimit keeps writeapi's rate limiter in the request path (its cost is part of
// what is measured) with limits no benchmark reaches: every virtual user is its own
// customer, but all of them come from 127.0.0.1.
var benchRateLimit = writeapi.RateLimit{PerUser: 1e6, UserBurst: 1e6, PerIP: 1e6, IPBurst: 1e6}

// scratch is a benchmark's own place, so a run neither sees nor leaves data in a real
// store: a temporary directory for SQLite files and fresh PostgreSQL schemas, all
// removed by close.
type scratch struct {
	dir    string
	suffix string
	drops  []func()
	stderr io.Writer
}

func newScratch(name string, stderr io.Writer) (*scratch, error) {
	dir, err := os.MkdirTemp("", "orderengine-bench-"+name+"-")
	if err != nil {
		return nil, err
	}
	return &scratch{dir: dir, suffix: strings.ReplaceAll(uuid.NewString(), "-", "")[:10], stderr: stderr}, nil
}

// close drops the schemas and removes the directory; call it after closing the stores.
func (s *scratch) close() {
	for _, drop := range s.drops {
		drop()
	}
	os.RemoveAll(s.dir)
}

// dropLater drops a PostgreSQL schema at close.
func (s *scratch) dropLater(pgURL, schema string) {
	s.drops = append(s.drops, func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		conn, err := pgx.Connect(ctx, pgURL)
		if err == nil {
			_, err = conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE")
			conn.Close(ctx)
		}
		if err != nil {
			fmt.Fprintf(s.stderr, "drop bench schema %s: %v\n", schema, err)
		}
	})
}

// config is the Config of a benchmark's event store: "sqlite:" is a file in the scratch
// directory, "postgres://…" a fresh schema; other URLs are used as given.
func (s *scratch) config(events string) (Config, error) {
	kind, rest, err := parseStoreURL(events)
	if err != nil {
		return Config{}, usagef("--events: %v", err)
	}
	c := Config{Events: events, DataDir: s.dir, MaxEventSize: 1 << 20, LogLevel: "warn"}
	if kind == kindPostgres {
		c.EventsSchema = "bench_events_" + s.suffix
		s.dropLater(rest, c.EventsSchema)
	}
	return c, nil
}

// readModels is the URL of a benchmark's read models: "sqlite:" (a file in the scratch
// directory, as readModelFlags resolves it) or "postgres://…" with a fresh schema.
func (s *scratch) readModels(u string) (string, error) {
	kind, _, err := parseStoreURL(u)
	if err != nil || (kind != kindSQLite && kind != kindPostgres) {
		return "", usagef("--readmodels %q: want sqlite: or postgres://…", redactURL(u))
	}
	if kind == kindSQLite {
		return u, nil
	}
	p, err := url.Parse(u)
	if err != nil {
		return "", usagef("--readmodels: %v", err)
	}
	schema := "bench_rm_" + s.suffix
	q := p.Query()
	q.Set("schema", schema)
	p.RawQuery = q.Encode()
	s.dropLater(u, schema)
	return p.String(), nil
}

// benchEngine is the engine as serve wires it, on a benchmark's stores, serving HTTP on
// a free local port.
type benchEngine struct {
	app    *app
	url    string
	secret []byte
	stop   func()
}

// startBenchEngine starts newApp(c, f) with the given JWT secret; stop shuts it down.
func startBenchEngine(ctx context.Context, c Config, f appFlags, log *slog.Logger, stderr io.Writer) (*benchEngine, error) {
	secret := []byte(f.auth.secret)
	f.auth.issuer, f.auth.audience = auth.DefaultIssuer, auth.DefaultAudience
	f.rateLimit = benchRateLimit
	if f.reservationTTL == 0 {
		f.reservationTTL = 15 * time.Minute
	}
	a, err := newApp(ctx, c, f, log)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		a.close()
		return nil, err
	}
	srv := &http.Server{Handler: a.handler, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	go srv.Serve(ln)
	bgCtx, stopBg := context.WithCancel(context.WithoutCancel(ctx))
	bgDone := make(chan error, 1)
	go func() { bgDone <- a.run(bgCtx) }()
	return &benchEngine{app: a, url: "http://" + ln.Addr().String(), secret: secret, stop: func() {
		srv.Close()
		stopBg()
		if err := <-bgDone; err != nil {
			fmt.Fprintf(stderr, "checkout saga stopped with an error: %v\n", err)
		}
		a.close()
	}}, nil
}

// token signs a development token for the engine.
func (e *benchEngine) token(sub string, role auth.Role) (string, error) {
	return auth.Signer{Secret: e.secret, Issuer: auth.DefaultIssuer, Audience: auth.DefaultAudience}.Sign(sub, []auth.Role{role}, 24*time.Hour)
}

// waitCaughtUp waits until every projection has reached the log's head.
func (e *benchEngine) waitCaughtUp(ctx context.Context, max time.Duration) error {
	deadline := time.Now().Add(max)
	for {
		head, err := e.app.store.Head(ctx)
		if err != nil {
			return err
		}
		caught := true
		for _, s := range e.app.projectionStatus() {
			caught = caught && s.Checkpoint >= head
		}
		if caught {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("projections did not catch up within %s", max)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// startCPUProfile profiles the process into path (none when path is empty) until stop.
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

func runBenchEventStore(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var (
		events, workloads string
		cfg               storebench.Config
		quiet             bool
	)
	fs := newFlagSet("bench eventstore", "bench eventstore [--events URL] [flags]", getenv, stdout)
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
		return err
	}
	if workloads != "" {
		cfg.Workloads = strings.Split(workloads, ",")
	}
	if err := cfg.Validate(); err != nil {
		return usagef("%v", err)
	}
	if !quiet {
		cfg.Progress = stderr
	}
	sc, err := newScratch("eventstore", stderr)
	if err != nil {
		return err
	}
	defer sc.close()
	c, err := sc.config(events)
	if err != nil {
		return err
	}
	store, err := openEventStore(ctx, c, newLogger(c, stderr))
	if err != nil {
		return fmt.Errorf("open %s: %w", redactURL(events), err)
	}
	defer store.Close()
	if pg, ok := store.(*postgres.Store); ok {
		cfg.RawPostgres = pg.Pool()
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
