package postgres_test

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/eventstore/eventstoretest"
	"github.com/orderengine/orderengine/eventstore/postgres"
)

// terminateApp ends every backend of the given application_name (the store under test's
// own connections: other tests share the database) and returns how many it ended.
func terminateApp(ctx context.Context, t *testing.T, admin *pgxpool.Pool, app string) int {
	t.Helper()
	var n int
	if err := admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = $1 AND pid <> pg_backend_pid()`, app).Scan(&n); err != nil {
		t.Fatalf("terminate backends: %v", err)
	}
	return n
}

// TestSubscriptionSurvivesTerminatedConnections: every connection of the subscriber's
// store is terminated mid-stream, once and then repeatedly for a few seconds (an outage
// like a restart); the subscription reports the interruption, keeps going from its last
// delivered event and delivers every event exactly once, in order.
func TestSubscriptionSurvivesTerminatedConnections(t *testing.T) {
	ctx := testCtx(t)
	schema, admin := freshSchema(t)
	writer := openStore(t, schema, postgres.Options{})
	app := schema + "_reader"
	u, _ := url.Parse(testURL())
	q := u.Query()
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	reader, err := postgres.Open(ctx, u.String(), postgres.Options{Schema: schema, PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()

	cat := eventstoretest.Category()
	const total = 300
	appended := make(chan uint64, total)
	go func() {
		defer close(appended)
		for i := range total {
			res, err := writer.Append(ctx, cat+"-1", eventstore.Any, eventstoretest.NewEvent("fault.x", i))
			if err != nil {
				t.Errorf("append %d: %v", i, err)
				return
			}
			appended <- res.Position
			time.Sleep(10 * time.Millisecond)
		}
	}()

	sub, err := reader.SubscribeAll(ctx, eventstore.Start, eventstore.Filter{StreamPrefix: cat + "-"})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	// Outage: one termination at event 50, then terminations every 100ms for 3s from 120.
	outage := make(chan struct{})
	go func() {
		<-outage
		end := time.Now().Add(3 * time.Second)
		for time.Now().Before(end) && ctx.Err() == nil {
			terminateApp(ctx, t, admin, app)
			time.Sleep(100 * time.Millisecond)
		}
	}()
	var got []uint64
	interrupted := 0
	for len(got) < total {
		e, err := sub.Next(ctx)
		if errors.Is(err, eventstore.ErrInterrupted) {
			interrupted++
			continue
		}
		if err != nil {
			t.Fatalf("after %d events: %v", len(got), err)
		}
		if len(got) > 0 && e.Position <= got[len(got)-1] {
			t.Fatalf("position %d delivered after %d (duplicate or out of order)", e.Position, got[len(got)-1])
		}
		got = append(got, e.Position)
		switch len(got) {
		case 50:
			if n := terminateApp(ctx, t, admin, app); n == 0 {
				t.Fatal("no connection of the reader to terminate")
			}
		case 120:
			close(outage)
		}
	}
	var want []uint64
	for p := range appended {
		want = append(want, p)
	}
	if len(want) != total {
		t.Fatalf("appended %d", len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("event %d: got position %d, want %d", i, got[i], want[i])
		}
	}
	if interrupted == 0 {
		t.Fatal("the terminations never interrupted a read: the test did not exercise the fault")
	}
	t.Logf("%d events, %d interrupted reads", total, interrupted)
}
