package bus_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderengine/orderengine/bus"
	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/eventstore/postgres"
	"github.com/orderengine/orderengine/lease"
	"github.com/orderengine/orderengine/supervise"
)

func pgURL() string {
	if u := os.Getenv("ORDERENGINE_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// withApp is the test database URL with an application_name, so a test terminates only
// its own connections (other tests share the database).
func withApp(app string) string {
	u, _ := url.Parse(pgURL())
	q := u.Query()
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	return u.String()
}

// pgSchema returns a fresh schema name (dropped at the end) and an admin pool, or skips
// the test (fails it in CI) without a database.
func pgSchema(t *testing.T) (string, *pgxpool.Pool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	admin, err := pgxpool.New(ctx, pgURL())
	if err == nil {
		if err = admin.Ping(ctx); err != nil {
			admin.Close()
		}
	}
	if err != nil {
		msg := fmt.Sprintf("PostgreSQL is not reachable at %s: %v", pgURL(), err)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "oetest_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = admin.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
		admin.Close()
	})
	return schema, admin
}

func pgStore(t *testing.T, schema, app string) eventstore.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := postgres.Open(ctx, withApp(app), postgres.Options{Schema: schema, PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func terminate(ctx context.Context, t *testing.T, admin *pgxpool.Pool, app string) int {
	t.Helper()
	var n int
	if err := admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = $1 AND pid <> pg_backend_pid()`, app).Scan(&n); err != nil {
		t.Errorf("terminate: %v", err)
	}
	return n
}

// logRecorder keeps the messages of warnings and errors.
type logRecorder struct {
	mu    sync.Mutex
	lines []string
	info  bool // keep INFO lines too (by default: warnings and errors)
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	lowest := slog.LevelWarn
	if l.info {
		lowest = slog.LevelInfo
	}
	if r.Level < lowest {
		return nil
	}
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true })
	l.mu.Lock()
	l.lines = append(l.lines, b.String())
	l.mu.Unlock()
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }
func (l *logRecorder) grep(s string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range l.lines {
		if strings.Contains(line, s) {
			out = append(out, line)
		}
	}
	return out
}

func readyz(t *testing.T, url string) int {
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// TestForwarderResumesAfterTerminatedConnections: every connection of the forwarder's
// store is terminated mid-stream, then repeatedly for 3 s; the forwarder resumes by
// itself, every event arrives (at least once), and readiness is 503 during the outage
// and 200 after.
func TestForwarderResumesAfterTerminatedConnections(t *testing.T) {
	schema, admin := pgSchema(t)
	writer := pgStore(t, schema, schema+"_writer")
	app := schema + "_fwd"
	store := pgStore(t, schema, app)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	ps, err := bus.OpenMemory(bus.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	var c collector
	consumers := start(t, ps, store, "g", "order", c.handle, "")
	defer consumers.stop()

	sup := supervise.New(supervise.Options{UnreadyAfter: 300 * time.Millisecond})
	srv := httptest.NewServer(sup.Handler())
	defer srv.Close()
	fwd, err := bus.NewForwarder(bus.ForwarderConfig{Store: store, Publisher: ps.Publisher(), Name: "pgfault", TopicPrefix: ps.TopicPrefix(),
		CheckpointEvery: 10, CheckpointInterval: 50 * time.Millisecond, Health: sup.Register("bus-forwarder"), RetryMax: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	fctx, stopFwd := context.WithCancel(ctx)
	fwdDone := make(chan error, 1)
	go func() { fwdDone <- fwd.Run(fctx) }()
	<-fwd.Ready()

	const total = 200
	var ids []string
	for i := range total {
		ids = append(ids, appendEvents(t, writer, fmt.Sprintf("order-%d", i%7), 1)[0].String())
		time.Sleep(5 * time.Millisecond)
		switch i {
		case 50:
			c.waitFor(t, 40)
			if terminate(ctx, t, admin, app) == 0 {
				t.Fatal("nothing to terminate")
			}
		case 120:
			// A restart-like outage: every new connection is ended for 3 s.
			saw503 := false
			end := time.Now().Add(3 * time.Second)
			for time.Now().Before(end) {
				terminate(ctx, t, admin, app)
				if readyz(t, srv.URL) == http.StatusServiceUnavailable {
					saw503 = true
				}
				time.Sleep(50 * time.Millisecond)
			}
			if !saw503 {
				t.Error("readiness never went 503 during a 3 s outage")
			}
		}
	}
	c.waitFor(t, total)
	deadline := time.Now().Add(10 * time.Second)
	for readyz(t, srv.URL) != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatalf("not ready again after the outage: %+v", sup.Check(ctx))
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, id := range ids {
		if c.seen[id] < 1 {
			t.Fatalf("event %s never delivered", id)
		}
	}
	d, tot := c.count()
	t.Logf("%d events delivered, %d deliveries (%d repeats)", d, tot, tot-d)
	stopFwd()
	if err := <-fwdDone; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// TestForwarderLeaseTakeover: two forwarders with the same checkpoint on one database;
// only the lease holder forwards. Its lease connection is terminated (the holder's
// process dies for the database): the other takes over within 10 s, every event arrives,
// and no checkpoint write conflicts.
func TestForwarderLeaseTakeover(t *testing.T) {
	schema, admin := pgSchema(t)
	writer := pgStore(t, schema, schema+"_writer")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ps, err := bus.OpenMemory(bus.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	var c collector
	consumers := start(t, ps, writer, "g", "order", c.handle, "")
	defer consumers.stop()

	var logs logRecorder
	type replica struct {
		fwd    *bus.Forwarder
		health *supervise.Health
		stop   context.CancelFunc
		done   chan error
		app    string
	}
	sup := supervise.New(supervise.Options{})
	newReplica := func(name string) *replica {
		app := schema + "_" + name
		cfg, err := pgx.ParseConfig(withApp(app + "_lease"))
		if err != nil {
			t.Fatal(err)
		}
		r := &replica{health: sup.Register(name), done: make(chan error, 1), app: app}
		r.fwd, err = bus.NewForwarder(bus.ForwarderConfig{Store: pgStore(t, schema, app), Publisher: ps.Publisher(), Name: "shared",
			TopicPrefix: ps.TopicPrefix(), CheckpointEvery: 5, CheckpointInterval: 20 * time.Millisecond,
			Lease:  lease.NewPostgres(cfg, lease.PostgresOptions{Namespace: schema, Check: 200 * time.Millisecond}),
			Health: r.health, LeaseRetry: 200 * time.Millisecond, Logger: slog.New(&logs).With("replica", name)})
		if err != nil {
			t.Fatal(err)
		}
		rctx, stop := context.WithCancel(ctx)
		r.stop = stop
		go func() { r.done <- r.fwd.Run(rctx) }()
		return r
	}
	a := newReplica("a")
	<-a.fwd.Ready()
	b := newReplica("b")
	<-b.fwd.Ready()

	var ids []string
	add := func(n int) {
		for range n {
			ids = append(ids, appendEvents(t, writer, "order-1", 1)[0].String())
		}
	}
	add(30)
	c.waitFor(t, 30)
	if a.fwd.Published() == 0 || b.fwd.Published() != 0 {
		t.Fatalf("both forwarded or a did not: a at %d, b at %d", a.fwd.Published(), b.fwd.Published())
	}
	if st := b.health.Status(); st.State != supervise.StateStandby {
		t.Fatalf("b is %s, want standby", st.State)
	}

	// The holder's lease connection dies.
	killed := time.Now()
	if terminate(ctx, t, admin, a.app+"_lease") == 0 {
		t.Fatal("no lease connection to terminate")
	}
	for b.health.Status().State != supervise.StateOK {
		if time.Since(killed) > 10*time.Second {
			t.Fatalf("no takeover within 10 s: b is %+v", b.health.Status())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("takeover within %s", time.Since(killed).Round(time.Millisecond))
	add(30)
	c.waitFor(t, 60)
	if b.fwd.Published() == 0 {
		t.Fatal("b never forwarded")
	}

	// a, now standing by, is stopped like a dead replica; b goes on alone.
	a.stop()
	if err := <-a.done; err != nil {
		t.Fatalf("a: %v", err)
	}
	add(20)
	c.waitFor(t, 80)
	b.stop()
	if err := <-b.done; err != nil {
		t.Fatalf("b: %v", err)
	}
	for _, id := range ids {
		if c.seen[id] < 1 {
			t.Fatalf("event %s never delivered", id)
		}
	}
	if bad := append(logs.grep("checkpoint"), logs.grep("conflict")...); len(bad) > 0 {
		t.Fatalf("checkpoint conflicts or failures: %q", bad)
	}
	d, tot := c.count()
	t.Logf("%d events, %d deliveries", d, tot)
}
