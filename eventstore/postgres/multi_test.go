package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/eventstore/eventstoretest"
	"github.com/orderengine/orderengine/eventstore/postgres"
)

// TestMultiAppendKilledMidBatch kills the backend of a multi-stream append after its
// first part has been written (inside the transaction) and while its second part waits
// for a row lock: nothing of the batch may survive, and the streams take the batch when
// it is retried.
func TestMultiAppendKilledMidBatch(t *testing.T) {
	ctx := testCtx(t)
	s := newStore(t, postgres.Options{})
	admin := adminPool(t)
	cat := eventstoretest.Category()
	first, locked := cat+"-first", cat+"-locked"
	if _, err := s.Append(ctx, locked, eventstore.NoStream, eventstoretest.NewEvent("k.x", 0)); err != nil {
		t.Fatal(err)
	}
	// Hold the second stream's head row.
	blocker, err := admin.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer blocker.Rollback(context.Background())
	if _, err := blocker.Exec(ctx, "SELECT 1 FROM "+pgx.Identifier{s.Schema(), "streams"}.Sanitize()+" WHERE stream_id = $1 FOR UPDATE", locked); err != nil {
		t.Fatal(err)
	}
	parts := []eventstore.StreamAppend{
		{Stream: first, Expected: eventstore.NoStream, Events: []eventstore.EventData{eventstoretest.NewEvent("k.a", 0), eventstoretest.NewEvent("k.a", 1)}},
		{Stream: locked, Expected: eventstore.Exact(0), Events: []eventstore.EventData{eventstoretest.NewEvent("k.b", 0)}},
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.AppendMulti(ctx, parts...)
		done <- err
	}()
	// Wait for the batch to block on the lock, then kill its backend.
	var pid int32
	deadline := time.Now().Add(10 * time.Second)
	for pid == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the multi-append never waited for the locked head row")
		}
		err := admin.QueryRow(ctx, `SELECT pid FROM pg_stat_activity
			WHERE wait_event_type = 'Lock' AND query LIKE '%UPDATE%streams%' AND datname = current_database()`).Scan(&pid)
		if errors.Is(err, pgx.ErrNoRows) {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := admin.Exec(ctx, "SELECT pg_terminate_backend($1)", pid); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err == nil {
		t.Fatal("the killed multi-append reported success")
	}
	if err := blocker.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadStream(ctx, first, eventstore.Forward, 0, 10); !errors.Is(err, eventstore.ErrStreamNotFound) {
		t.Fatalf("the killed batch's first part survived: %v", err)
	}
	all, err := s.ReadAll(ctx, eventstore.Start, 100, eventstore.Filter{StreamPrefix: cat + "-"})
	if err != nil || len(all) != 1 {
		t.Fatalf("log after the kill: %d events (%v), want the 1 appended before", len(all), err)
	}
	res, err := s.AppendMulti(ctx, parts...)
	if err != nil || res[0].Version != 1 || res[1].Version != 1 {
		t.Fatalf("retry after the kill: %+v %v", res, err)
	}
	for _, st := range []string{first, locked} {
		rep, err := eventstore.VerifyChains(ctx, s, st, nil)
		if err != nil || rep.Broken != nil {
			t.Fatalf("chain of %s: %+v %v", st, rep.Broken, err)
		}
	}
}

// TestMultiAppendOneTransaction: the parts of a batch are written by one transaction (one
// xid in every position) with consecutive ordinals.
func TestMultiAppendOneTransaction(t *testing.T) {
	ctx := testCtx(t)
	s := newStore(t, postgres.Options{DisableNotify: true})
	cat := eventstoretest.Category()
	parts := func(exp eventstore.ExpectedVersion) []eventstore.StreamAppend {
		var out []eventstore.StreamAppend
		for _, id := range []string{"a", "b", "c", "d"} {
			out = append(out, eventstore.StreamAppend{Stream: cat + "-" + id, Expected: exp, Events: []eventstore.EventData{eventstoretest.NewEvent("rt.x", 0)}})
		}
		return out
	}
	if _, err := s.AppendMulti(ctx, parts(eventstore.NoStream)...); err != nil {
		t.Fatal(err)
	}
	// All four parts of the next batch in one transaction: one xid for all positions.
	res, err := s.AppendMulti(ctx, parts(eventstore.Exact(0))...)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res[1:] {
		if r.Position>>20 != res[0].Position>>20 {
			t.Fatalf("parts committed by different transactions: positions %+v", res)
		}
	}
	if res[3].Position-res[0].Position != 3 {
		t.Fatalf("positions %+v are not consecutive", res)
	}
}

// TestMultiAppendStaleAndColdHeads: a store whose cached heads are stale (another store
// appended since) or missing still detects conflicts and appends at the right versions.
func TestMultiAppendStaleAndColdHeads(t *testing.T) {
	ctx := testCtx(t)
	schema, _ := freshSchema(t)
	a := openStore(t, schema, postgres.Options{})
	b := openStore(t, schema, postgres.Options{})
	cat := eventstoretest.Category()
	x, y := cat+"-x", cat+"-y"
	ev := eventstoretest.NewEvent
	if _, err := b.AppendMulti(ctx,
		eventstore.StreamAppend{Stream: x, Expected: eventstore.NoStream, Events: []eventstore.EventData{ev("s.x", 0)}},
		eventstore.StreamAppend{Stream: y, Expected: eventstore.NoStream, Events: []eventstore.EventData{ev("s.x", 0)}},
	); err != nil {
		t.Fatal(err)
	}
	// a moves x on; b's cache still says version 0.
	if _, err := a.Append(ctx, x, eventstore.Exact(0), ev("s.x", 1)); err != nil {
		t.Fatal(err)
	}
	_, err := b.AppendMulti(ctx,
		eventstore.StreamAppend{Stream: y, Expected: eventstore.Exact(0), Events: []eventstore.EventData{ev("s.x", 1)}},
		eventstore.StreamAppend{Stream: x, Expected: eventstore.Exact(0), Events: []eventstore.EventData{ev("s.x", 2)}},
	)
	var wev *eventstore.WrongExpectedVersionError
	if !errors.As(err, &wev) || wev.Stream != x || wev.Actual != 1 {
		t.Fatalf("stale head: %v", err)
	}
	// a has never seen y's head: cold reads, in one batch.
	res, err := a.AppendMulti(ctx,
		eventstore.StreamAppend{Stream: y, Expected: eventstore.Exact(0), Events: []eventstore.EventData{ev("s.x", 1)}},
		eventstore.StreamAppend{Stream: x, Expected: eventstore.Exact(1), Events: []eventstore.EventData{ev("s.x", 2)}},
		eventstore.StreamAppend{Stream: cat + "-z", Expected: eventstore.Any, Events: []eventstore.EventData{ev("s.x", 0)}},
	)
	if err != nil || res[0].Version != 1 || res[1].Version != 2 || res[2].Version != 0 {
		t.Fatalf("cold heads: %+v %v", res, err)
	}
	for _, st := range []string{x, y, cat + "-z"} {
		rep, err := eventstore.VerifyChains(ctx, b, st, nil)
		if err != nil || rep.Broken != nil {
			t.Fatalf("chain of %s: %+v %v", st, rep.Broken, err)
		}
	}
}
