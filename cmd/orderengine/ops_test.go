package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderengine/orderengine/auth"
	"github.com/orderengine/orderengine/eventstore/postgres"
	"github.com/orderengine/orderengine/writeapi"
)

// openPostgresApp opens a PostgreSQL store in a schema of its own whose connections
// carry application name app (so the test terminates only them) and an admin pool.
func openPostgresApp(t *testing.T, app string) (*postgres.Store, *pgxpool.Pool) {
	t.Helper()
	raw := os.Getenv("ORDERENGINE_TEST_POSTGRES_URL")
	if raw == "" {
		raw = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	u, _ := url.Parse(raw)
	q := u.Query()
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	schema := "ops_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := postgres.Open(ctx, u.String(), postgres.Options{Schema: schema})
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("PostgreSQL unreachable in CI: %v", err)
		}
		t.Skipf("PostgreSQL unreachable (%v); set ORDERENGINE_TEST_POSTGRES_URL", err)
	}
	admin, err := pgxpool.New(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
		admin.Close()
		s.Close()
	})
	return s, admin
}

type readiness struct {
	status     int
	Failing    []string `json:"failing"`
	Components []struct {
		Name  string `json:"name"`
		State string `json:"state"`
	} `json:"components"`
}

func getReadyz(t *testing.T, base string) readiness {
	t.Helper()
	res, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var r readiness
	_ = json.NewDecoder(res.Body).Decode(&r)
	r.status = res.StatusCode
	return r
}

// TestReadinessThroughDatabaseOutage: the engine on PostgreSQL; every connection it has
// is terminated repeatedly for 3 s (like a database restart). /readyz answers 503 naming
// the failing components during the outage and 200 after, without restarting anything,
// and a checkout placed after the outage completes (the forwarder resumed).
func TestReadinessThroughDatabaseOutage(t *testing.T) {
	app := "ops_outage_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:8]
	store, admin := openPostgresApp(t, app)
	c := Config{DataDir: t.TempDir(), Events: "sqlite:", MaxEventSize: 1 << 20, LogLevel: "error"}
	f := appFlags{
		auth:           authFlags{secret: e2eSecret, issuer: auth.DefaultIssuer, audience: auth.DefaultAudience},
		bus:            "memory",
		reservationTTL: 15 * time.Minute,
		webhookSecret:  "webhook-secret",
		orderWait:      30 * time.Second,
		store:          store,
		rateLimit:      writeapi.RateLimit{PerUser: 10000, UserBurst: 10000, PerIP: 100000, IPBurst: 100000},
		unreadyAfter:   300 * time.Millisecond,
	}
	a, err := newApp(context.Background(), c, f, newLogger(c, io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.run(ctx) }()
	srv := httptest.NewServer(a.handler)
	defer func() {
		srv.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
		a.close()
	}()
	e := &e2e{t: t, app: a, srv: srv}
	admin1 := e.token("root", auth.RoleAdmin)
	e.product(admin1, "OPS-1", 1000, 10)
	tok := e.token("buyer", auth.RoleCustomer)
	r := e.awaitCheckout(tok, e.placeOrder(tok, e.cart(tok, map[string]int64{"OPS-1": 1}), "tok_visa").field("order", "id"))
	if r.field("outcome") != "confirmed" {
		t.Fatalf("first checkout: %s", r.body)
	}
	waitReady := func(what string) readiness {
		deadline := time.Now().Add(20 * time.Second)
		for {
			rd := getReadyz(t, srv.URL)
			if rd.status == http.StatusOK {
				return rd
			}
			if time.Now().After(deadline) {
				t.Fatalf("not ready %s: %+v", what, rd)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	rd := waitReady("before the outage")
	names := map[string]bool{}
	for _, c := range rd.Components {
		names[c.Name] = true
	}
	for _, want := range []string{"store", "bus-forwarder", "saga", "projection:orders"} {
		if !names[want] {
			t.Errorf("/readyz does not report %s: %+v", want, rd.Components)
		}
	}

	var during readiness
	end := time.Now().Add(3 * time.Second)
	for time.Now().Before(end) {
		if _, err := admin.Exec(context.Background(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE datname = current_database() AND application_name = $1`, app); err != nil {
			t.Fatal(err)
		}
		if rd := getReadyz(t, srv.URL); rd.status == http.StatusServiceUnavailable {
			during = rd
		}
		time.Sleep(50 * time.Millisecond)
	}
	if during.status != http.StatusServiceUnavailable || len(during.Failing) == 0 {
		t.Fatalf("/readyz never answered 503 naming a component during the outage: %+v", during)
	}
	t.Logf("failing during the outage: %v", during.Failing)
	waitReady("after the outage")

	r = e.awaitCheckout(tok, e.placeOrder(tok, e.cart(tok, map[string]int64{"OPS-1": 1}), "tok_visa").field("order", "id"))
	if r.field("outcome") != "confirmed" {
		t.Fatalf("checkout after the outage: %s", r.body)
	}
}
