package idempotency_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/idempotency"
)

func TestSweepDeletesExpiredRecords(t *testing.T) {
	for name, open := range map[string]func(*testing.T) eventstore.Store{"sqlite": sqliteStore, "postgres": postgresStore} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			es := open(t)
			clk := newClock()
			s := idempotency.New(es, idempotency.Options{TTL: time.Hour, Lease: time.Minute, Now: clk.Now})
			req := idempotency.HashRequest("POST", "/v1/orders", []byte(`{}`))
			claim := func(key string) *idempotency.Claim {
				t.Helper()
				o, err := s.Begin(ctx, "alice", key, req)
				if err != nil || !o.Proceed() {
					t.Fatalf("claim %s: %+v %v", key, o, err)
				}
				return o.Claim
			}
			exists := func(key string) bool {
				t.Helper()
				_, err := es.ReadStream(ctx, idempotency.StreamName("alice", key), eventstore.Forward, 0, 1)
				if err != nil && !errors.Is(err, eventstore.ErrStreamNotFound) {
					t.Fatal(err)
				}
				return err == nil
			}

			a := claim("a") // t0: completed
			if err := s.Complete(ctx, a, 201, nil, []byte(`{"id":1}`)); err != nil {
				t.Fatal(err)
			}
			claim("d") // t0: expired before it is claimed again at t0+70m
			clk.Advance(50 * time.Minute)
			claim("b") // t0+50m
			clk.Advance(20 * time.Minute)
			claim("d")                   // t0+70m: a new record on d's stream
			clk.Advance(5 * time.Minute) // t0+75m: a expired, b and d's new record not

			next, n, err := s.Sweep(ctx, es, eventstore.Start)
			if err != nil || n != 1 {
				t.Fatalf("first sweep: deleted %d, %v; want a only", n, err)
			}
			if exists("a") || !exists("b") || !exists("d") {
				t.Fatalf("after the first sweep: a %v, b %v, d %v; want only a gone", exists("a"), exists("b"), exists("d"))
			}
			// The key is free again: a new claim starts a new record.
			claim("a")

			clk.Advance(3 * time.Hour)
			next, n, err = s.Sweep(ctx, es, next)
			if err != nil || n != 3 || exists("a") || exists("b") || exists("d") {
				t.Fatalf("second sweep: deleted %d, %v; a %v, b %v, d %v", n, err, exists("a"), exists("b"), exists("d"))
			}
			if _, n, err := s.Sweep(ctx, es, next); err != nil || n != 0 {
				t.Fatalf("empty sweep: %d %v", n, err)
			}
			// Other categories are untouched.
			if _, err := es.Append(ctx, "order-1", eventstore.NoStream, eventstore.EventData{ID: [16]byte{1}, Type: "x.y", Data: []byte(`{}`)}); err != nil {
				t.Fatal(err)
			}
			if _, _, err := s.Sweep(ctx, es, eventstore.Start); err != nil {
				t.Fatal(err)
			}
			if _, err := es.ReadStream(ctx, "order-1", eventstore.Forward, 0, 1); err != nil {
				t.Fatalf("sweep touched another category: %v", err)
			}
			rep, err := eventstore.VerifyChains(ctx, es, "", nil)
			if err != nil || rep.Broken != nil {
				t.Fatalf("audit after sweeps: %+v %v", rep.Broken, err)
			}
		})
	}
}

// readOnly hides the store's deletion.
type readOnly struct{ eventstore.Store }

func TestSweepNeedsDeletion(t *testing.T) {
	es := readOnly{sqliteStore(t)}
	s := idempotency.New(es, idempotency.Options{})
	if _, _, err := s.Sweep(context.Background(), es, eventstore.Start); !errors.Is(err, idempotency.ErrSweepUnsupported) {
		t.Fatalf("sweep on a store without deletion: %v", err)
	}
}
