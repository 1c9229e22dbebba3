package webhooks_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/eventstore/postgres"
	"github.com/orderengine/orderengine/integration"
	"github.com/orderengine/orderengine/webhooks"
)

func pgURL() string {
	if u := os.Getenv("ORDERENGINE_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// pgAdmin connects to the test database, or skips (fails in CI) when there is none.
func pgAdmin(t *testing.T) *pgxpool.Pool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, pgURL())
	if err == nil {
		if err = pool.Ping(ctx); err != nil {
			pool.Close()
		}
	}
	if err != nil {
		msg := fmt.Sprintf("PostgreSQL is not reachable at %s (%v)", pgURL(), err)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(pool.Close)
	return pool
}

func randName(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// leaseFor returns a PostgreSQL lease whose connections carry application_name app, so a
// test can kill them.
func leaseFor(t *testing.T, name, app string) *webhooks.PostgresLease {
	u, err := url.Parse(pgURL())
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	return &webhooks.PostgresLease{URL: u.String(), Name: name, Retry: 50 * time.Millisecond, Check: 50 * time.Millisecond}
}

func terminate(t *testing.T, admin *pgxpool.Pool, app string) {
	t.Helper()
	var n int
	if err := admin.QueryRow(context.Background(),
		`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`, app).Scan(&n); err != nil || n == 0 {
		t.Fatalf("terminate %s: %d backends, %v", app, n, err)
	}
}

// TestPostgresLeaseFailsOver: one holder at a time; killing the holder's connection
// (pg_terminate_backend) closes its lost channel and the waiting replica takes over.
func TestPostgresLeaseFailsOver(t *testing.T) {
	admin := pgAdmin(t)
	name := randName("lease_")
	a, b := leaseFor(t, name, name+"_a"), leaseFor(t, name, name+"_b")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	lostA, releaseA, err := a.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer releaseA()
	gotB := make(chan func(), 1)
	var lostB <-chan struct{}
	go func() {
		l, rel, err := b.Acquire(ctx)
		if err == nil {
			lostB = l
			gotB <- rel
		}
	}()
	select {
	case <-gotB:
		t.Fatal("two holders")
	case <-time.After(300 * time.Millisecond):
	}
	terminate(t, admin, name+"_a")
	select {
	case <-lostA:
	case <-time.After(5 * time.Second):
		t.Fatal("the killed holder did not notice")
	}
	select {
	case rel := <-gotB:
		defer rel()
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting replica did not take over")
	}
	select {
	case <-lostB:
		t.Fatal("the new holder lost the lease")
	default:
	}
}

// TestPostgresTierReplicasFailOver runs the whole delivery on PostgreSQL (event store and
// lease) with two worker replicas: one delivers; killing its lease connection moves
// delivery to the other; everything arrives, per-order order holds, duplicates only with
// the same webhook-id.
func TestPostgresTierReplicasFailOver(t *testing.T) {
	admin := pgAdmin(t)
	schema := randName("oetest_wh_")
	t.Cleanup(func() {
		_, _ = admin.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
	})
	store, err := postgres.Open(context.Background(), pgURL(), postgres.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	e := newEnv(t)
	e.store = store
	eps, err := webhooks.NewEndpoints(webhooks.EndpointsConfig{Store: store, SecretKey: testKey, Security: webhooks.Security{AllowHTTP: true, AllowPrivate: true}})
	if err != nil {
		t.Fatal(err)
	}
	e.eps = eps
	rc := newReceiver(t)
	rc.delay = 2 * time.Millisecond
	e.register(rc)
	orders := []string{"p1", "p2", "p3", "p4", "p5"}
	want := 0
	for step := range 6 {
		for _, o := range orders {
			e.orderStep(o, step)
			want++
		}
	}
	name := randName("wh_")
	cfg := webhooks.WorkerConfig{Store: store, Endpoints: eps, Translator: integration.NewTranslator(domain.NewDomainRegistry()),
		Timeout: 2 * time.Second, Schedule: e.cfg.Schedule, PollInterval: 20 * time.Millisecond, CheckpointEvery: 10 * time.Millisecond}
	cfgA, cfgB := cfg, cfg
	cfgA.Lease, cfgB.Lease = leaseFor(t, name, name+"_a"), leaseFor(t, name, name+"_b")
	e.start(cfgA)
	waitFor(t, "replica A delivering", 10*time.Second, func() bool { return len(rc.received()) >= 5 })
	e.start(cfgB)
	time.Sleep(100 * time.Millisecond)
	terminate(t, admin, name+"_a")
	// Events after A lost its lease can only be delivered by B (A waits for the lease).
	for _, o := range orders {
		e.orderStep(o+"-late", 0)
		want++
	}
	waitFor(t, "every event", 20*time.Second, func() bool { return len(rc.distinct()) == want })
	got := rc.received()
	checkOrder(t, got)
	first := map[string]string{}
	for _, r := range got {
		if id, ok := first[r.id]; ok && id != r.ev.ID {
			t.Fatalf("webhook-id %s carried two events", r.id)
		}
		first[r.id] = r.ev.ID
	}
	t.Logf("%d events, %d requests accepted", want, len(got))
}
