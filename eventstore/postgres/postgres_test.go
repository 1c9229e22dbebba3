package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/eventstore/eventstoretest"
	"github.com/orderengine/orderengine/eventstore/postgres"
)

const defaultTestURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

func testURL() string {
	if u := os.Getenv("ORDERENGINE_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return defaultTestURL
}

// adminPool connects to the test database, or skips the test (fails it in CI) when no
// database is reachable.
func adminPool(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, testURL())
	if err == nil {
		if err = pool.Ping(ctx); err != nil {
			pool.Close()
		}
	}
	if err != nil {
		msg := fmt.Sprintf("PostgreSQL is not reachable at %s (%v); set ORDERENGINE_TEST_POSTGRES_URL to a test database", testURL(), err)
		if os.Getenv("CI") != "" {
			tb.Fatal(msg)
		}
		tb.Skip(msg + "; skipping the PostgreSQL tests")
	}
	tb.Cleanup(pool.Close)
	return pool
}

// freshSchema returns the name of a schema of the test's own, dropped when the test ends.
func freshSchema(tb testing.TB) (string, *pgxpool.Pool) {
	tb.Helper()
	admin := adminPool(tb)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "oetest_" + hex.EncodeToString(b[:])
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			tb.Logf("drop schema %s: %v", schema, err)
		}
	})
	return schema, admin
}

func openStore(tb testing.TB, schema string, opt postgres.Options) *postgres.Store {
	tb.Helper()
	opt.Schema = schema
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := postgres.Open(ctx, testURL(), opt)
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

func newStore(tb testing.TB, opt postgres.Options) *postgres.Store {
	tb.Helper()
	schema, _ := freshSchema(tb)
	return openStore(tb, schema, opt)
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestConformance(t *testing.T) {
	adminPool(t) // skip (or fail, in CI) once when no database is reachable
	eventstoretest.Run(t, eventstoretest.Harness{
		New: func(t *testing.T) eventstore.Store {
			schema, _ := freshSchema(t)
			opt := postgres.Options{Schema: schema}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			s, err := postgres.Open(ctx, testURL(), opt)
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			return s
		},
		Corrupt: func(t *testing.T, s eventstore.Store, stream string, version uint64) {
			ps := s.(*postgres.Store)
			tag, err := ps.Pool().Exec(context.Background(),
				"UPDATE "+pgx.Identifier{ps.Schema(), "events"}.Sanitize()+
					" SET data = set_byte(data, 1, get_byte(data, 1) # 1) WHERE stream_id = $1 AND version = $2",
				stream, int64(version))
			if err != nil || tag.RowsAffected() != 1 {
				t.Fatalf("corrupt %s v%d: %v (%d rows)", stream, version, err, tag.RowsAffected())
			}
		},
	})
}

// TestLateCommitIsNotSkipped is the gap problem itself: an append whose transaction took
// its position first but commits last must still reach a subscriber, before the events
// positioned after it.
func TestLateCommitIsNotSkipped(t *testing.T) {
	ctx := testCtx(t)
	s := newStore(t, postgres.Options{PollInterval: 10 * time.Millisecond, HorizonWait: 200 * time.Millisecond})
	cat := eventstoretest.Category()
	filter := eventstore.Filter{StreamPrefix: cat + "-"}
	sub, err := s.SubscribeAll(ctx, eventstore.Start, filter)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	// The early append takes its xid, hence its position, and holds its transaction open.
	tx, err := s.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	early := eventstoretest.NewEvent("gap.early", 0)
	ra, err := postgres.AppendInTx(ctx, s, tx, cat+"-early", eventstore.NoStream, early)
	if err != nil {
		t.Fatal(err)
	}
	// The late append gets a higher position and commits first.
	late := eventstoretest.NewEvent("gap.late", 1)
	rb, err := s.Append(ctx, cat+"-late", eventstore.NoStream, late)
	if err != nil {
		t.Fatal(err)
	}
	if ra.Position >= rb.Position {
		t.Fatalf("early append at %d, late append at %d: want early < late", ra.Position, rb.Position)
	}
	// The late event is committed and readable from its stream …
	if evs, err := s.ReadStream(ctx, cat+"-late", eventstore.Forward, 0, 10); err != nil || len(evs) != 1 {
		t.Fatalf("read committed stream: %d events, %v", len(evs), err)
	}
	// … and a naive reader of the log by position would deliver it now and then never
	// look below it again: the gap is real.
	var naive []int64
	rows, err := s.Pool().Query(ctx, "SELECT position FROM "+pgx.Identifier{s.Schema(), "events"}.Sanitize()+
		" WHERE starts_with(stream_id, $1) ORDER BY position", cat+"-")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var p int64
		if err := rows.Scan(&p); err != nil {
			t.Fatal(err)
		}
		naive = append(naive, p)
	}
	if rows.Err() != nil || len(naive) != 1 || uint64(naive[0]) != rb.Position {
		t.Fatalf("naive read saw positions %v (%v), want only the late one %d", naive, rows.Err(), rb.Position)
	}

	// The store's readers must hold it back while the early transaction is open.
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	if e, err := sub.Next(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("subscriber delivered %s at %d (err %v) while an earlier position was uncommitted", e.Type, e.Position, err)
	}
	cancel()
	if evs, err := s.ReadAll(ctx, eventstore.Start, 10, filter); err != nil || len(evs) != 0 {
		t.Fatalf("ReadAll returned %d events (%v) while an earlier position was uncommitted", len(evs), err)
	}
	if head, err := s.Head(ctx); err != nil || head >= ra.Position {
		t.Fatalf("head %d (%v) at or past the uncommitted position %d", head, err, ra.Position)
	}

	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	for i, want := range []eventstore.AppendResult{ra, rb} {
		e, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if e.Position != want.Position {
			t.Fatalf("event %d at position %d (%s), want %d", i, e.Position, e.Type, want.Position)
		}
	}
	evs, err := s.ReadAll(ctx, eventstore.Start, 10, filter)
	if err != nil || len(evs) != 2 || evs[0].ID != early.ID || evs[1].ID != late.ID {
		t.Fatalf("ReadAll after commit: %d events, %v", len(evs), err)
	}
	if head, err := s.Head(ctx); err != nil || head < rb.Position {
		t.Fatalf("head %d (%v) before the late append %d", head, err, rb.Position)
	}
}

// TestLateCommitsUnderLoad: many transactions append, linger a random while and then
// commit or roll back, in an order unrelated to their positions; a tailing subscriber
// sees exactly the committed events, in position order.
func TestLateCommitsUnderLoad(t *testing.T) {
	ctx := testCtx(t)
	s := newStore(t, postgres.Options{PollInterval: 5 * time.Millisecond})
	cat := eventstoretest.Category()
	filter := eventstore.Filter{StreamPrefix: cat + "-"}
	sub, err := s.SubscribeAll(ctx, eventstore.Start, filter)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	const workers, each = 8, 40
	const total = workers * each * 4 / 5 * 2 // every fifth transaction rolls back
	// The subscriber tails the log while the transactions run.
	type got struct {
		evs []eventstore.RecordedEvent
		err error
	}
	done := make(chan got, 1)
	go func() {
		var g got
		for len(g.evs) < total {
			e, err := sub.Next(ctx)
			if err != nil {
				g.err = err
				break
			}
			g.evs = append(g.evs, e)
		}
		done <- g
	}()

	var mu sync.Mutex
	committed := map[[16]byte]uint64{}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				tx, err := s.Pool().Begin(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				evs := []eventstore.EventData{eventstoretest.NewEvent("load.x", i), eventstoretest.NewEvent("load.y", i)}
				res, err := postgres.AppendInTx(ctx, s, tx, fmt.Sprintf("%s-%d-%d", cat, w, i), eventstore.NoStream, evs...)
				if err != nil {
					_ = tx.Rollback(ctx)
					t.Error(err)
					return
				}
				n, _ := rand.Int(rand.Reader, big.NewInt(15))
				time.Sleep(time.Duration(n.Int64()) * time.Millisecond)
				if i%5 == 4 {
					_ = tx.Rollback(ctx)
					continue
				}
				mu.Lock() // before the commit: the subscriber may see the events at once
				committed[evs[0].ID] = res.Position - 1
				committed[evs[1].ID] = res.Position
				mu.Unlock()
				if err := tx.Commit(ctx); err != nil {
					t.Error(err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	g := <-done
	if g.err != nil {
		t.Fatalf("subscriber after %d of %d events: %v", len(g.evs), total, g.err)
	}
	if len(committed) != total {
		t.Fatalf("%d events committed, want %d", len(committed), total)
	}
	var last uint64
	for _, e := range g.evs {
		pos, ok := committed[e.ID]
		if !ok {
			t.Fatalf("delivered an event that was rolled back or delivered twice: %s at %d", e.ID, e.Position)
		}
		if pos != e.Position || e.Position <= last {
			t.Fatalf("event at %d (appended at %d) after %d", e.Position, pos, last)
		}
		delete(committed, e.ID)
		last = e.Position
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if e, err := sub.Next(short); err == nil {
		t.Fatalf("extra event %s at %d", e.ID, e.Position)
	}
}

// TestCrossProcessWakeUp: a subscriber on one store sees another store's append at once
// (LISTEN/NOTIFY), long before its poll interval.
func TestCrossProcessWakeUp(t *testing.T) {
	ctx := testCtx(t)
	schema, _ := freshSchema(t)
	writer := openStore(t, schema, postgres.Options{})
	reader := openStore(t, schema, postgres.Options{PollInterval: time.Hour})
	cat := eventstoretest.Category()
	sub, err := reader.SubscribeAll(ctx, eventstore.Start, eventstore.Filter{StreamPrefix: cat + "-"})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	for i := 0; i < 3; i++ {
		res, err := writer.Append(ctx, cat+"-1", eventstore.Any, eventstoretest.NewEvent("wake.x", i))
		if err != nil {
			t.Fatal(err)
		}
		wait, cancel := context.WithTimeout(ctx, 10*time.Second)
		e, err := sub.Next(wait)
		cancel()
		if err != nil || e.Position != res.Position {
			t.Fatalf("append %d not delivered across stores: %v", i, err)
		}
	}
}

// TestStaleHeadCache: a store whose cached head is stale (another store appended since)
// still reports conflicts correctly and appends at the right version.
func TestStaleHeadCache(t *testing.T) {
	ctx := testCtx(t)
	schema, _ := freshSchema(t)
	a := openStore(t, schema, postgres.Options{})
	b := openStore(t, schema, postgres.Options{})
	stream := eventstoretest.Category() + "-1"
	if _, err := a.Append(ctx, stream, eventstore.NoStream, eventstoretest.NewEvent("c.x", 0), eventstoretest.NewEvent("c.x", 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.ReadStream(ctx, stream, eventstore.Forward, 0, 10); err != nil { // b caches v1
		t.Fatal(err)
	}
	if _, err := a.Append(ctx, stream, eventstore.Exact(1), eventstoretest.NewEvent("c.x", 2)); err != nil {
		t.Fatal(err)
	}
	_, err := b.Append(ctx, stream, eventstore.Exact(1), eventstoretest.NewEvent("c.x", 3))
	var wev *eventstore.WrongExpectedVersionError
	if !errors.As(err, &wev) || wev.Actual != 2 || !wev.StreamExists {
		t.Fatalf("stale append: %v", err)
	}
	res, err := b.Append(ctx, stream, eventstore.Exact(2), eventstoretest.NewEvent("c.x", 3))
	if err != nil || res.Version != 3 {
		t.Fatalf("append after conflict: %+v %v", res, err)
	}
	if _, err := a.Append(ctx, stream, eventstore.Exact(3), eventstoretest.NewEvent("c.x", 4)); err != nil {
		t.Fatalf("a's cache is stale too: %v", err)
	}
	rep, err := eventstore.VerifyChains(ctx, a, stream, nil)
	if err != nil || rep.Broken != nil || rep.Events != 5 {
		t.Fatalf("chain: %+v %v", rep, err)
	}
}

// TestAnyIdempotency: Any recognizes a re-append of events near the head, and refuses one
// that repeats only some stored IDs.
func TestAnyIdempotency(t *testing.T) {
	ctx := testCtx(t)
	s := newStore(t, postgres.Options{})
	stream := eventstoretest.Category() + "-1"
	x, y, z := eventstoretest.NewEvent("i.x", 0), eventstoretest.NewEvent("i.x", 1), eventstoretest.NewEvent("i.x", 2)
	r1, err := s.Append(ctx, stream, eventstore.Any, x, y)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, stream, eventstore.Any, z); err != nil {
		t.Fatal(err)
	}
	if again, err := s.Append(ctx, stream, eventstore.StreamExists, x, y); err != nil || again != r1 {
		t.Fatalf("re-append with StreamExists: %+v %v, want %+v", again, err, r1)
	}
	if _, err := s.Append(ctx, stream, eventstore.Any, y, eventstoretest.NewEvent("i.x", 3)); !errors.Is(err, eventstore.ErrInvalidEvent) {
		t.Fatalf("partial re-append: %v, want ErrInvalidEvent", err)
	}
	if evs, _ := s.ReadStream(ctx, stream, eventstore.Forward, 0, 100); len(evs) != 3 {
		t.Fatalf("stream holds %d events, want 3", len(evs))
	}
}

func TestMigrateIsIdempotentAndConcurrent(t *testing.T) {
	ctx := testCtx(t)
	schema, admin := freshSchema(t)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- postgres.Migrate(ctx, admin, schema)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := postgres.Migrate(ctx, admin, schema); err != nil {
		t.Fatal(err)
	}
	var n, v int
	err := admin.QueryRow(ctx, "SELECT count(*), max(version) FROM "+pgx.Identifier{schema, "schema_version"}.Sanitize()).Scan(&n, &v)
	if err != nil || n != 1 || v != 1 {
		t.Fatalf("schema_version: %d rows, version %d, %v", n, v, err)
	}
}

func TestOpenRejectsOversizedAppendLimit(t *testing.T) {
	schema, _ := freshSchema(t)
	_, err := postgres.Open(context.Background(), testURL(), postgres.Options{Schema: schema, Limits: eventstore.Limits{MaxEventsPerAppend: 1 << 20}})
	if err == nil {
		t.Fatal("Open accepted MaxEventsPerAppend of 1<<20")
	}
}

func TestClosedStore(t *testing.T) {
	ctx := testCtx(t)
	s := newStore(t, postgres.Options{})
	stream := eventstoretest.Category() + "-1"
	sub, err := s.SubscribeAll(ctx, eventstore.Start, eventstore.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, stream, eventstore.Any, eventstoretest.NewEvent("x.y", 0)); !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
	if _, err := s.ReadAll(ctx, 0, 10, eventstore.Filter{}); !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("read after close: %v", err)
	}
	if _, err := sub.Next(ctx); err == nil {
		t.Fatal("subscription survived Close")
	}
}
