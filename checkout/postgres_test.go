package checkout

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orderengine/orderengine/eventstore/postgres"
	"github.com/orderengine/orderengine/payment"
)

// postgresStore opens a store in a schema of the test's own; it skips the test (fails it
// in CI) when no database is reachable.
func postgresStore(t *testing.T) *postgres.Store {
	t.Helper()
	url := os.Getenv("ORDERENGINE_TEST_POSTGRES_URL")
	if url == "" {
		url = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "oetest_checkout_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	// The application name marks this test's connections, so killConnections spares the
	// other tests sharing the database.
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	s, err := postgres.Open(ctx, url+sep+"application_name="+schema, postgres.Options{Schema: schema})
	if err != nil {
		msg := fmt.Sprintf("PostgreSQL is not reachable at %s (%v); set ORDERENGINE_TEST_POSTGRES_URL", url, err)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg + "; skipping")
	}
	t.Cleanup(func() {
		// The env has closed s by now: drop the schema over a connection of our own.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Logf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Logf("drop schema %s: %v", schema, err)
		}
	})
	return s
}

// killConnections terminates every connection of the store, as a database restart or
// failover would (only this test's, found by application name: the database is shared).
func killConnections(t *testing.T, s *postgres.Store) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg := s.Pool().Config().ConnConfig.Copy()
	app := cfg.RuntimeParams["application_name"]
	cfg.RuntimeParams["application_name"] = app + "_killer"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `select count(*) from (select pg_terminate_backend(pid) from pg_stat_activity
		where datname = current_database() and pid <> pg_backend_pid() and application_name = $1) t`, app).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSagaHealsAfterDatabaseConnectionsAreKilled kills every database connection twice in
// the middle of a burst of checkouts: the saga must not stop for good (Run keeps running,
// every checkout ends terminal without a restart) and Health must be nil afterwards.
func TestSagaHealsAfterDatabaseConnectionsAreKilled(t *testing.T) {
	s := postgresStore(t)
	e := newEnvOn(t, s, "memory", payment.SimulatorConfig{}, func(c *Config) {
		c.RetryMin, c.RetryMax = 20*time.Millisecond, 300*time.Millisecond
	})
	e.product("BURST-1", 1000, 1000)
	if st := e.wait(e.mustOrder(payment.TokenVisa, item{"BURST-1", 1})); st.Outcome != OutcomeConfirmed {
		t.Fatalf("first order %+v", st)
	}
	if err := e.checkout().Health(); err != nil {
		t.Fatalf("healthy saga reports %v", err)
	}

	const n = 40
	ids := make([]string, n)
	var wg sync.WaitGroup
	placed := make(chan struct{}, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A client retries until its order is placed (PlaceOrder is idempotent per cart,
			// but a killed connection may fail any step, cart creation included).
			deadline := time.Now().Add(30 * time.Second)
			for {
				id, err := e.order(fmt.Sprintf("buyer-%d", i), payment.TokenVisa, "", item{"BURST-1", 1})
				if err == nil {
					ids[i] = id
					placed <- struct{}{}
					return
				}
				if time.Now().After(deadline) {
					t.Errorf("order %d never placed: %v", i, err)
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		}()
	}
	for range n / 4 {
		<-placed
	}
	killed := killConnections(t, s)
	time.Sleep(300 * time.Millisecond)
	killed += killConnections(t, s) // and once more while it reconnects
	wg.Wait()
	if t.Failed() {
		return
	}
	t.Logf("killed %d connections", killed)
	until := time.Now().Add(60 * time.Second)
	for _, id := range ids {
		// The test's own reads may meet a pooled connection that was killed: a client
		// polling the status retries those.
		st, err := e.checkout().Wait(e.ctx, id, time.Until(until))
		for err != nil && time.Now().Before(until) {
			time.Sleep(50 * time.Millisecond)
			st, err = e.checkout().Wait(e.ctx, id, time.Until(until))
		}
		if err != nil || !st.Terminal || st.Outcome != OutcomeConfirmed {
			t.Fatalf("order %s after the fault: %+v %v (health: %v)", id, st, err, e.checkout().Health())
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for e.checkout().Health() != nil && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if err := e.checkout().Health(); err != nil {
		t.Fatalf("saga still unhealthy: %v", err)
	}
	// A checkout placed after the fault runs too.
	if st := e.wait(e.mustOrder(payment.TokenVisa, item{"BURST-1", 1})); st.Outcome != OutcomeConfirmed {
		t.Fatalf("order after the fault %+v", st)
	}
	e.noLeaks("BURST-1")
}
