package idempotency_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/eventstore/postgres"
	"github.com/orderengine/orderengine/eventstore/sqlite"
	"github.com/orderengine/orderengine/idempotency"
)

// clock is a settable test clock.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func sqliteStore(t *testing.T) eventstore.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "events.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

const defaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// postgresStore opens a store in a schema of the test's own, dropped at the end; it skips
// the test when no database is reachable, unless CI is set.
func postgresStore(t *testing.T) eventstore.Store {
	t.Helper()
	url := os.Getenv("ORDERENGINE_TEST_POSTGRES_URL")
	if url == "" {
		url = defaultPostgresURL
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "oetest_idem_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	s, err := postgres.Open(ctx, url, postgres.Options{Schema: schema})
	if err != nil {
		msg := fmt.Sprintf("PostgreSQL is not reachable at %s (%v); set ORDERENGINE_TEST_POSTGRES_URL", url, err)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg + "; skipping")
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := s.Pool().Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Logf("drop schema %s: %v", schema, err)
		}
		s.Close()
	})
	return s
}

func TestSQLite(t *testing.T)   { runSuite(t, sqliteStore) }
func TestPostgres(t *testing.T) { runSuite(t, postgresStore) }

type fixture struct {
	ctx   context.Context
	es    eventstore.Store
	clock *clock
	store *idempotency.Store
}

func runSuite(t *testing.T, open func(*testing.T) eventstore.Store) {
	setup := func(t *testing.T) fixture {
		es := open(t)
		c := newClock()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		t.Cleanup(cancel)
		return fixture{ctx: ctx, es: es, clock: c, store: idempotency.New(es, idempotency.Options{Now: c.Now})}
	}
	hashA := idempotency.HashRequest("POST", "/v1/carts", []byte(`{"currency":"EUR"}`))
	hashB := idempotency.HashRequest("POST", "/v1/carts", []byte(`{"currency":"USD"}`))
	const scope = "alice POST /v1/carts"

	t.Run("SequentialReplay", func(t *testing.T) {
		f := setup(t)
		out, err := f.store.Begin(f.ctx, scope, "k1", hashA)
		if err != nil || !out.Proceed() || out.Claim.TookOver {
			t.Fatalf("first Begin: %+v %v", out, err)
		}
		h := http.Header{}
		h.Set("Content-Type", "application/json")
		h.Set("Location", "/v1/carts/c1")
		h.Set("ETag", `"0"`)
		h.Set("Orderengine-Position", "42")
		h.Set("Set-Cookie", "not=stored")
		if err := f.store.Complete(f.ctx, out.Claim, 201, h, []byte(`{"id":"c1"}`)); err != nil {
			t.Fatal(err)
		}
		if err := f.store.Complete(f.ctx, out.Claim, 201, h, []byte(`{"id":"c1"}`)); err != nil {
			t.Fatalf("repeated Complete: %v", err)
		}
		for i := 0; i < 10; i++ {
			f.clock.Advance(time.Minute)
			again, err := f.store.Begin(f.ctx, scope, "k1", hashA)
			if err != nil || again.Replay == nil {
				t.Fatalf("replay %d: %+v %v", i, again, err)
			}
			r := again.Replay
			if r.Status != 201 || string(r.Body) != `{"id":"c1"}` || r.Header.Get("Location") != "/v1/carts/c1" ||
				r.Header.Get("ETag") != `"0"` || r.Header.Get("Orderengine-Position") != "42" ||
				r.Header.Get("Content-Type") != "application/json" || r.Header.Get("Set-Cookie") != "" {
				t.Fatalf("replayed %+v", r)
			}
		}
		// the same key in another scope is another record
		other, err := f.store.Begin(f.ctx, "bob POST /v1/carts", "k1", hashA)
		if err != nil || !other.Proceed() {
			t.Fatalf("other scope: %+v %v", other, err)
		}
	})

	t.Run("ConcurrentBegin", func(t *testing.T) {
		f := setup(t)
		const n = 10
		var wg sync.WaitGroup
		var proceed, inFlight atomic.Int32
		claims := make(chan *idempotency.Claim, n)
		errs := make(chan error, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out, err := f.store.Begin(f.ctx, scope, "k-conc", hashA)
				switch {
				case errors.Is(err, idempotency.ErrInFlight):
					inFlight.Add(1)
				case err != nil:
					errs <- err
				case out.Proceed():
					proceed.Add(1)
					claims <- out.Claim
				default:
					errs <- fmt.Errorf("unexpected replay %+v", out.Replay)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if proceed.Load() != 1 || inFlight.Load() != n-1 {
			t.Fatalf("%d proceeded, %d in flight; want 1 and %d", proceed.Load(), inFlight.Load(), n-1)
		}
		if err := f.store.Complete(f.ctx, <-claims, 200, nil, []byte("ok")); err != nil {
			t.Fatal(err)
		}
		// once complete, concurrent duplicates replay
		var wg2 sync.WaitGroup
		for i := 0; i < n; i++ {
			wg2.Add(1)
			go func() {
				defer wg2.Done()
				out, err := f.store.Begin(f.ctx, scope, "k-conc", hashA)
				if err != nil || out.Replay == nil || string(out.Replay.Body) != "ok" {
					t.Errorf("after completion: %+v %v", out, err)
				}
			}()
		}
		wg2.Wait()
	})

	t.Run("Mismatch", func(t *testing.T) {
		f := setup(t)
		out, err := f.store.Begin(f.ctx, scope, "k-mis", hashA)
		if err != nil || !out.Proceed() {
			t.Fatal(out, err)
		}
		if _, err := f.store.Begin(f.ctx, scope, "k-mis", hashB); !errors.Is(err, idempotency.ErrMismatch) {
			t.Fatalf("in flight, other body: %v", err)
		}
		if err := f.store.Complete(f.ctx, out.Claim, 200, nil, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := f.store.Begin(f.ctx, scope, "k-mis", hashB); !errors.Is(err, idempotency.ErrMismatch) {
			t.Fatalf("completed, other body: %v", err)
		}
	})

	t.Run("Expiry", func(t *testing.T) {
		f := setup(t)
		out, err := f.store.Begin(f.ctx, scope, "k-exp", hashA)
		if err != nil || !out.Proceed() {
			t.Fatal(out, err)
		}
		if err := f.store.Complete(f.ctx, out.Claim, 201, nil, []byte("first")); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(24*time.Hour - time.Second)
		if out, err := f.store.Begin(f.ctx, scope, "k-exp", hashA); err != nil || out.Replay == nil {
			t.Fatalf("just before expiry: %+v %v", out, err)
		}
		f.clock.Advance(time.Second)
		out, err = f.store.Begin(f.ctx, scope, "k-exp", hashB) // expired: any request may use it
		if err != nil || !out.Proceed() || out.Claim.TookOver {
			t.Fatalf("after expiry: %+v %v", out, err)
		}
		if err := f.store.Complete(f.ctx, out.Claim, 200, nil, []byte("second")); err != nil {
			t.Fatal(err)
		}
		if out, err := f.store.Begin(f.ctx, scope, "k-exp", hashB); err != nil || string(out.Replay.Body) != "second" {
			t.Fatalf("replay of the new record: %+v %v", out, err)
		}
	})

	t.Run("AbandonedLeaseTakeover", func(t *testing.T) {
		f := setup(t)
		// Without heartbeats the lease alone tells an abandoned claim (see HolderDied).
		f.store = idempotency.New(f.es, idempotency.Options{Now: f.clock.Now, Heartbeat: -1})
		crashed, err := f.store.Begin(f.ctx, scope, "k-lease", hashA)
		if err != nil || !crashed.Proceed() {
			t.Fatal(crashed, err)
		}
		f.clock.Advance(2*time.Minute - time.Second)
		if _, err := f.store.Begin(f.ctx, scope, "k-lease", hashA); !errors.Is(err, idempotency.ErrInFlight) {
			t.Fatalf("within the lease: %v", err)
		}
		if _, err := f.store.Begin(f.ctx, scope, "k-lease", hashB); !errors.Is(err, idempotency.ErrMismatch) {
			t.Fatalf("abandoned claim, other body: %v", err)
		}
		f.clock.Advance(time.Second)
		const n = 8
		var wg sync.WaitGroup
		var won atomic.Int32
		var winner atomic.Pointer[idempotency.Claim]
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out, err := f.store.Begin(f.ctx, scope, "k-lease", hashA)
				switch {
				case errors.Is(err, idempotency.ErrInFlight):
				case err != nil:
					t.Error(err)
				case out.Proceed():
					if !out.Claim.TookOver {
						t.Error("takeover not flagged")
					}
					won.Add(1)
					winner.Store(out.Claim)
				}
			}()
		}
		wg.Wait()
		if won.Load() != 1 {
			t.Fatalf("%d takers won, want 1", won.Load())
		}
		if err := f.store.Complete(f.ctx, crashed.Claim, 200, nil, []byte("late")); !errors.Is(err, idempotency.ErrLeaseLost) {
			t.Fatalf("the crashed request's late Complete: %v", err)
		}
		if err := f.store.Complete(f.ctx, winner.Load(), 201, nil, []byte("taker")); err != nil {
			t.Fatal(err)
		}
		if out, err := f.store.Begin(f.ctx, scope, "k-lease", hashA); err != nil || string(out.Replay.Body) != "taker" {
			t.Fatalf("replay: %+v %v", out, err)
		}
	})

	t.Run("ReleaseRetriedAfterOutage", func(t *testing.T) {
		f := setup(t)
		es := &downStore{EventStore: f.es}
		store := idempotency.New(es, idempotency.Options{Now: f.clock.Now})
		t.Cleanup(func() { store.Close() })
		out, err := store.Begin(f.ctx, scope, "k-outage", hashA)
		if err != nil || !out.Proceed() {
			t.Fatal(out, err)
		}
		// The request fails because the store went away; so does its release.
		es.down.Store(true)
		if err := store.Complete(f.ctx, out.Claim, 503, nil, nil); err == nil {
			t.Fatal("release succeeded with the store down")
		}
		es.down.Store(false)
		// Once the store is back the key is freed within moments, not after the lease.
		deadline := time.Now().Add(5 * time.Second)
		for {
			again, err := store.Begin(f.ctx, scope, "k-outage", hashA)
			if err == nil && again.Proceed() {
				break
			}
			if !errors.Is(err, idempotency.ErrInFlight) || time.Now().After(deadline) {
				t.Fatalf("key still held after the outage: %+v %v", again, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})

	t.Run("HolderDied", func(t *testing.T) {
		f := setup(t)
		const beat = 100 * time.Millisecond
		holder := idempotency.New(f.es, idempotency.Options{Heartbeat: beat})
		other := idempotency.New(f.es, idempotency.Options{Heartbeat: beat})
		t.Cleanup(func() { other.Close() })
		out, err := holder.Begin(f.ctx, scope, "k-holder", hashA)
		if err != nil || !out.Proceed() {
			t.Fatal(out, err)
		}
		// While the holder lives its heartbeats keep the key, well past 3 heartbeats.
		for range 6 {
			time.Sleep(beat)
			if _, err := other.Begin(f.ctx, scope, "k-holder", hashA); !errors.Is(err, idempotency.ErrInFlight) {
				t.Fatalf("live holder's key taken: %v", err)
			}
		}
		holder.Close() // the holder's process dies: no more heartbeats, no release
		died := time.Now()
		for {
			again, err := other.Begin(f.ctx, scope, "k-holder", hashA)
			if err == nil && again.Proceed() {
				if !again.Claim.TookOver {
					t.Fatal("takeover not flagged")
				}
				if err := other.Complete(f.ctx, again.Claim, 201, nil, []byte("retried")); err != nil {
					t.Fatal(err)
				}
				break
			}
			if !errors.Is(err, idempotency.ErrInFlight) || time.Since(died) > 2*time.Second {
				t.Fatalf("dead holder's key still held after %s: %v", time.Since(died), err)
			}
			time.Sleep(10 * time.Millisecond)
		}
		if err := holder.Complete(f.ctx, out.Claim, 200, nil, []byte("late")); !errors.Is(err, idempotency.ErrLeaseLost) {
			t.Fatalf("the dead holder's late Complete: %v", err)
		}
	})

	t.Run("ServerErrorsAreNotStored", func(t *testing.T) {
		f := setup(t)
		for _, status := range []int{500, 503, 429} {
			key := fmt.Sprintf("k-%d", status)
			out, err := f.store.Begin(f.ctx, scope, key, hashA)
			if err != nil || !out.Proceed() {
				t.Fatal(out, err)
			}
			if err := f.store.Complete(f.ctx, out.Claim, status, nil, []byte("oops")); err != nil {
				t.Fatal(err)
			}
			// released at once: the client may retry, even with another body
			out, err = f.store.Begin(f.ctx, scope, key, hashB)
			if err != nil || !out.Proceed() {
				t.Fatalf("%d: retry after release: %+v %v", status, out, err)
			}
		}
	})

	t.Run("Release", func(t *testing.T) {
		f := setup(t)
		out, _ := f.store.Begin(f.ctx, scope, "k-rel", hashA)
		if err := f.store.Release(f.ctx, out.Claim); err != nil {
			t.Fatal(err)
		}
		if err := f.store.Release(f.ctx, out.Claim); err != nil {
			t.Fatalf("repeated Release: %v", err)
		}
		if out, err := f.store.Begin(f.ctx, scope, "k-rel", hashA); err != nil || !out.Proceed() {
			t.Fatalf("after release: %+v %v", out, err)
		}
	})

	t.Run("InvalidKeys", func(t *testing.T) {
		f := setup(t)
		for _, key := range []string{"", strings.Repeat("k", 256), "tab\there", "nul\x00"} {
			_, err := f.store.Begin(f.ctx, scope, key, hashA)
			var ve *domain.ValidationError
			if !errors.Is(err, idempotency.ErrInvalidKey) || !errors.Is(err, domain.ErrValidation) || !errors.As(err, &ve) {
				t.Errorf("key %q: %v", key, err)
			}
		}
		if out, err := f.store.Begin(f.ctx, scope, strings.Repeat("k", 255), hashA); err != nil || !out.Proceed() {
			t.Fatalf("255-character key: %v", err)
		}
	})

	t.Run("TooLargeBody", func(t *testing.T) {
		f := setup(t)
		small := idempotency.New(f.es, idempotency.Options{Now: f.clock.Now, MaxBodyBytes: 8})
		out, _ := small.Begin(f.ctx, scope, "k-big", hashA)
		if err := small.Complete(f.ctx, out.Claim, 200, nil, []byte("0123456789")); !errors.Is(err, idempotency.ErrResponseTooLarge) {
			t.Fatalf("large body: %v", err)
		}
		if out, err := small.Begin(f.ctx, scope, "k-big", hashA); err != nil || !out.Proceed() {
			t.Fatalf("released after a large body: %+v %v", out, err)
		}
	})
}

func TestStreamNameIsValid(t *testing.T) {
	name := idempotency.StreamName("alice POST /v1/orders", strings.Repeat("x", 255))
	if err := eventstore.ValidateStreamName(name); err != nil {
		t.Fatal(err)
	}
	if idempotency.EventKey("a", "bc") == idempotency.EventKey("ab", "c") {
		t.Fatal("scope and key run together")
	}
}

// downStore fails every call while down, as an unreachable database does.
type downStore struct {
	idempotency.EventStore
	down atomic.Bool
}

var errDown = errors.New("store unreachable (test outage)")

func (d *downStore) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	if d.down.Load() {
		return eventstore.AppendResult{}, errDown
	}
	return d.EventStore.Append(ctx, stream, expected, events...)
}

func (d *downStore) ReadStream(ctx context.Context, stream string, dir eventstore.Direction, from uint64, limit int) ([]eventstore.RecordedEvent, error) {
	if d.down.Load() {
		return nil, errDown
	}
	return d.EventStore.ReadStream(ctx, stream, dir, from, limit)
}
