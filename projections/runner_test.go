package projections_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/projections"
	"github.com/orderengine/orderengine/projections/projectionstest"
	"github.com/orderengine/orderengine/projections/readmodel"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 240*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func fastOptions() projections.RunnerOptions {
	return projections.RunnerOptions{Registry: domain.NewDomainRegistry(), IdleCheck: 20 * time.Millisecond, Backoff: time.Millisecond,
		MaxBackoff: 10 * time.Millisecond, LeaseRetry: 20 * time.Millisecond, LeaseCheck: 50 * time.Millisecond}
}

// startRunners runs a runner per projection until the test ends (or stop is called).
func startRunners(t *testing.T, db *projections.DB, store eventstore.Store, opt projections.RunnerOptions, ps ...projections.Projection) (rs []*projections.Runner, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, p := range ps {
		r, err := projections.NewRunner(db, store, p, opt)
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = r.Run(ctx)
		}()
	}
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	return rs, stop
}

// cleanPass builds every read model from store in one uninterrupted pass on a fresh
// database and returns the tables' counts and hashes.
func cleanPass(t *testing.T, backend string, store eventstore.Store) map[string]map[string]projections.TableDiff {
	t.Helper()
	db := projectionstest.DB(t, backend)
	opt := fastOptions()
	opt.BatchSize = 5000
	rs, stop := startRunners(t, db, store, opt, readmodel.All()...)
	projectionstest.WaitCaughtUp(t, store, 30*time.Second, rs...)
	stop()
	return hashes(t, db)
}

func hashes(t *testing.T, db *projections.DB) map[string]map[string]projections.TableDiff {
	t.Helper()
	out := map[string]map[string]projections.TableDiff{}
	for _, p := range readmodel.All() {
		h, err := db.TableHashes(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		out[p.Name()] = h
	}
	return out
}

func sameHashes(t *testing.T, what string, got, want map[string]map[string]projections.TableDiff) {
	t.Helper()
	for name, tables := range want {
		for table, w := range tables {
			g := got[name][table]
			if g.LiveRows != w.LiveRows || g.LiveHash != w.LiveHash {
				t.Errorf("%s: %s.%s has %d rows (hash %.12s), want %d rows (hash %.12s)", what, name, table, g.LiveRows, g.LiveHash, w.LiveRows, w.LiveHash)
			}
			if w.LiveRows == 0 {
				t.Errorf("%s: %s.%s is empty", what, name, table)
			}
		}
	}
}

// consumed counts the events of the log a projection consumes and the last one's position.
func consumed(t *testing.T, store eventstore.Store, p projections.Projection) (int64, uint64) {
	t.Helper()
	var n int64
	var last uint64
	for from := uint64(0); ; {
		page, err := store.ReadAll(context.Background(), from, 1000, p.Filter())
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page {
			n++
			last = e.Position
		}
		if len(page) < 1000 {
			return n, last
		}
		from = page[len(page)-1].Position
	}
}

// checkExactlyOnce checks that each projection's live generation applied every consumed
// event exactly once and that its checkpoint is the head of the log.
func checkExactlyOnce(t *testing.T, db *projections.DB, store eventstore.Store, ps ...projections.Projection) {
	t.Helper()
	if len(ps) == 0 {
		ps = readmodel.All()
	}
	ctx := context.Background()
	head, err := store.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		info, err := db.Info(ctx, p.Name())
		if err != nil {
			t.Fatal(err)
		}
		n, last := consumed(t, store, p)
		if info.Events != n {
			t.Errorf("%s applied %d events, the log has %d for it", p.Name(), info.Events, n)
		}
		if info.Position != head || last > info.Position {
			t.Errorf("%s checkpoint %d, want the head %d (its last event is at %d)", p.Name(), info.Position, head, last)
		}
		if info.Failure != nil {
			t.Errorf("%s has a failure recorded: %+v", p.Name(), info.Failure)
		}
	}
}

// killer cancels the runner's context inside Apply now and then: the transaction then
// never commits, like a crash after the writes.
type killer struct {
	projections.Projection
	kill func() bool
}

func (k killer) Apply(ctx context.Context, tx *projections.Tx, batch []projections.Event) error {
	if err := k.Projection.Apply(ctx, tx, batch); err != nil {
		return err
	}
	k.kill()
	return nil
}

// TestRedelivery delivers events 1–3 times (and repeats older ones) while every runner is
// killed and restarted 50 times at random points; the read models must equal a clean pass.
func TestRedelivery(t *testing.T) {
	t.Parallel()
	for _, backend := range projectionstest.Backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			store := projectionstest.EventStore(t)
			if _, err := projectionstest.Shop(ctx, store, 11, 30, 150); err != nil {
				t.Fatal(err)
			}
			want := cleanPass(t, backend, store)
			db := projectionstest.DB(t, backend)
			var wg sync.WaitGroup
			for i, p := range readmodel.All() {
				wg.Add(1)
				go func() {
					defer wg.Done()
					chaos := projectionstest.NewChaos(store, uint64(100+i))
					kills := 0
					for run := 0; kills < 50 && run < 1000; run++ {
						runCtx, cancel := context.WithCancel(ctx)
						var delivered atomic.Int64
						target := int64(1 + chaos.IntN(40))
						killed := atomic.Bool{}
						kill := func() bool {
							if killed.CompareAndSwap(false, true) {
								cancel()
								return true
							}
							return false
						}
						chaos.OnDeliver(func() {
							if delivered.Add(1) == target {
								kill()
							}
						})
						kp := killer{Projection: p, kill: func() bool { return chaos.IntN(10) == 0 && kill() }}
						opt := fastOptions()
						opt.BatchSize = 1 + chaos.IntN(60)
						r, err := projections.NewRunner(db, chaos, kp, opt)
						if err != nil {
							t.Error(err)
							return
						}
						done := make(chan error, 1)
						go func() { done <- r.Run(runCtx) }()
						for waiting := true; waiting; {
							select {
							case err := <-done:
								if err != nil {
									t.Errorf("%s run %d: %v", p.Name(), run, err)
								}
								waiting = false
							case <-time.After(5 * time.Millisecond):
								if r.Status().State == projections.StateCaughtUp {
									cancel()
								}
							}
						}
						cancel()
						if killed.Load() {
							kills++
						}
					}
					if kills < 50 {
						t.Errorf("%s: only %d kills", p.Name(), kills)
					}
					chaos.OnDeliver(nil)
				}()
			}
			wg.Wait()
			// Finish with chaotic redelivery but no kills.
			chaos := projectionstest.NewChaos(store, 999)
			rs, stop := startRunners(t, db, chaos, fastOptions(), readmodel.All()...)
			projectionstest.WaitCaughtUp(t, store, 30*time.Second, rs...)
			stop()
			if chaos.Duplicates == 0 {
				t.Error("no event was redelivered")
			}
			sameHashes(t, "after redelivery and restarts", hashes(t, db), want)
			checkExactlyOnce(t, db, store)
		})
	}
}

// TestRebuild rebuilds every projection while its live runner serves and events keep
// arriving, then again on a quiet log: both must switch to a generation identical to the
// live one and to a clean pass.
func TestRebuild(t *testing.T) {
	t.Parallel()
	for _, backend := range projectionstest.Backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			store := projectionstest.EventStore(t)
			seeder, err := projectionstest.Shop(ctx, store, 21, 20, 60)
			if err != nil {
				t.Fatal(err)
			}
			db := projectionstest.DB(t, backend)
			rs, stop := startRunners(t, db, store, fastOptions(), readmodel.All()...)
			projectionstest.WaitCaughtUp(t, store, 30*time.Second, rs...)

			// Keep appending while rebuilding.
			appendCtx, stopAppends := context.WithCancel(ctx)
			appended := make(chan error, 1)
			go func() {
				for appendCtx.Err() == nil {
					if err := seeder.PlaceOrders(ctx, 1, 5); err != nil {
						appended <- err
						return
					}
					time.Sleep(20 * time.Millisecond)
				}
				appended <- nil
			}()
			reader := readmodel.NewReader(db, readmodel.ReaderOptions{})
			for _, p := range readmodel.All() {
				var progress []projections.Progress
				rep, err := projections.Rebuild(ctx, db, store, p, projections.RebuildOptions{Registry: domain.NewDomainRegistry(),
					BatchSize: 100, ProgressEvery: time.Nanosecond,
					Progress: func(pr projections.Progress) { progress = append(progress, pr) },
				})
				if err != nil {
					t.Fatalf("rebuild %s: %v", p.Name(), err)
				}
				if !rep.Switched || !rep.Comparable || rep.Differs || rep.NewGeneration != 2 || rep.OldGeneration != 1 {
					t.Errorf("rebuild %s while live: %+v", p.Name(), rep)
				}
				last := progress[len(progress)-1]
				if len(progress) < 3 || last.Phase != "done" || last.Events != rep.Events || rep.Events == 0 {
					t.Errorf("rebuild %s progress: %d reports, last %+v, report %+v", p.Name(), len(progress), last, rep)
				}
			}
			if _, err := reader.Products(ctx, readmodel.ProductQuery{}); err != nil {
				t.Fatal(err)
			}
			stopAppends()
			if err := <-appended; err != nil {
				t.Fatal(err)
			}
			projectionstest.WaitCaughtUp(t, store, 30*time.Second, rs...)
			for _, r := range rs {
				for deadline := time.Now().Add(5 * time.Second); r.Status().Generation != 2 && time.Now().Before(deadline); {
					time.Sleep(5 * time.Millisecond)
				}
				if st := r.Status(); st.Generation != 2 {
					t.Errorf("%s runner is on generation %d after the switch", st.Name, st.Generation)
				}
			}
			stop()
			live := hashes(t, db)
			sameHashes(t, "after rebuild while live", live, cleanPass(t, backend, store))
			checkExactlyOnce(t, db, store)

			// Rebuilding the same log again gives the same read models.
			for _, p := range readmodel.All() {
				rep, err := projections.Rebuild(ctx, db, store, p, projections.RebuildOptions{Registry: domain.NewDomainRegistry()})
				if err != nil {
					t.Fatal(err)
				}
				if !rep.Switched || !rep.Comparable || rep.Differs || rep.NewGeneration != 3 {
					t.Errorf("second rebuild of %s: %+v", p.Name(), rep)
				}
			}
			sameHashes(t, "after a second rebuild", hashes(t, db), live)

			// A dry run compares and keeps the live generation.
			rep, err := projections.Rebuild(ctx, db, store, readmodel.Orders{}, projections.RebuildOptions{Registry: domain.NewDomainRegistry(), DryRun: true})
			if err != nil || rep.Switched || rep.Differs {
				t.Fatalf("dry run: %+v, %v", rep, err)
			}
			if info, _ := db.Info(ctx, "orders"); info.Generation != 3 || info.Building != 0 {
				t.Errorf("after a dry run: %+v", info)
			}
		})
	}
}

// TestFailingEvent: an event that cannot be decoded, and one the projection rejects,
// stop the runner in the failed state naming the event, after the configured attempts.
func TestFailingEvent(t *testing.T) {
	t.Parallel()
	for _, backend := range projectionstest.Backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			store := projectionstest.EventStore(t)
			seeder, err := projectionstest.Shop(ctx, store, 31, 5, 10)
			if err != nil {
				t.Fatal(err)
			}
			// order.placed whose data does not decode.
			bad := eventstore.EventData{ID: uuid.New(), Type: "order.placed", Data: []byte(`{"orderId":5}`), Metadata: []byte(`{"schemaVersion":1}`)}
			res, err := store.Append(ctx, "order-bad", eventstore.NoStream, bad)
			if err != nil {
				t.Fatal(err)
			}
			if err := seeder.PlaceOrders(ctx, 3, 2); err != nil { // events after it must wait
				t.Fatal(err)
			}
			db := projectionstest.DB(t, backend)
			opt := fastOptions()
			opt.MaxAttempts = 3
			r, err := projections.NewRunner(db, store, readmodel.Orders{}, opt)
			if err != nil {
				t.Fatal(err)
			}
			err = r.Run(ctx)
			var fe *projections.FailedError
			if !errors.As(err, &fe) {
				t.Fatalf("Run: %v, want a *FailedError", err)
			}
			f := fe.Failure
			if f.Position != res.Position || f.Stream != "order-bad" || f.Type != "order.placed" || f.EventID != bad.ID.String() || f.Attempts != 3 || f.Error == "" {
				t.Errorf("failure %+v, want position %d of order-bad", f, res.Position)
			}
			st := r.Status()
			if st.State != projections.StateFailed || st.Failure == nil || st.Failure.Position != res.Position || st.Checkpoint >= res.Position {
				t.Errorf("status %+v", st)
			}
			info, err := db.Info(ctx, "orders")
			if err != nil || info.Failure == nil || info.Failure.Position != res.Position || info.Position >= res.Position {
				t.Errorf("recorded %+v, %v", info, err)
			}
			if sts, err := projections.Inspect(ctx, db, store); err != nil || len(sts) != 1 || sts[0].State != projections.StateFailed ||
				sts[0].Failure == nil || sts[0].Lag == 0 {
				t.Errorf("Inspect: %+v, %v", sts, err)
			}
			// Orders before the bad event are there; none after it.
			page, err := readmodel.NewReader(db, readmodel.ReaderOptions{}).Orders(ctx, readmodel.OrderQuery{Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range page.Items {
				if o.Position > res.Position {
					t.Errorf("order %s at %d was applied after the failed event", o.ID, o.Position)
				}
			}
			if len(page.Items) == 0 {
				t.Error("no order before the failed event was applied")
			}

			// An event the projection rejects (an order that was never placed).
			store2 := projectionstest.EventStore(t)
			s2 := projectionstest.NewSeeder(store2, 1)
			if err := s2.Append(ctx, "order-ghost", domain.OrderConfirmed{OrderID: "ghost", At: projectionstest.SeedStart}); err != nil {
				t.Fatal(err)
			}
			db2 := projectionstest.DB(t, backend)
			r2, _ := projections.NewRunner(db2, store2, readmodel.Orders{}, opt)
			err = r2.Run(ctx)
			if !errors.As(err, &fe) || fe.Failure.Stream != "order-ghost" || fe.Failure.Type != "order.confirmed" || fe.Failure.Attempts != 3 {
				t.Errorf("Run: %v", err)
			}
		})
	}
}

// TestFenceWithoutLease runs two runners per projection with no lease at all: the
// checkpoint fence alone must keep every event applied once.
func TestFenceWithoutLease(t *testing.T) {
	t.Parallel()
	for _, backend := range projectionstest.Backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			store := projectionstest.EventStore(t)
			seeder, err := projectionstest.Shop(ctx, store, 41, 20, 60)
			if err != nil {
				t.Fatal(err)
			}
			url := projectionstest.URL(t, backend)
			db1, db2 := projectionstest.Open(t, url), projectionstest.Open(t, url)
			var all []*projections.Runner
			for _, db := range []*projections.DB{db1, db2} {
				for _, p := range readmodel.All() {
					opt := fastOptions()
					opt.BatchSize = 7
					r, err := projections.NewRunner(db, store, p, opt)
					if err != nil {
						t.Fatal(err)
					}
					projections.SetNoLease(r)
					all = append(all, r)
				}
			}
			rctx, cancel := context.WithCancel(ctx)
			var wg sync.WaitGroup
			for _, r := range all {
				wg.Add(1)
				go func() { defer wg.Done(); _ = r.Run(rctx) }()
			}
			if err := seeder.PlaceOrders(ctx, 40, 5); err != nil {
				t.Fatal(err)
			}
			projectionstest.WaitCaughtUp(t, store, 90*time.Second, all...)
			cancel()
			wg.Wait()
			sameHashes(t, "two runners without a lease", hashes(t, db1), cleanPass(t, backend, store))
			checkExactlyOnce(t, db1, store)
		})
	}
}

// TestTwoRunnersOnePostgres runs two instances (separate connection pools, as two
// processes would) against one PostgreSQL: one holds each lease, the other stands by and
// takes over when the holder stops or its lease connection dies.
func TestTwoRunnersOnePostgres(t *testing.T) {
	t.Parallel()
	projectionstest.RequirePostgres(t)
	ctx := testCtx(t)
	store := projectionstest.EventStore(t)
	seeder, err := projectionstest.Shop(ctx, store, 51, 20, 40)
	if err != nil {
		t.Fatal(err)
	}
	url := projectionstest.URL(t, "postgres")
	db1, db2 := projectionstest.Open(t, url), projectionstest.Open(t, url)
	opt := fastOptions()
	rs1, stop1 := startRunners(t, db1, store, opt, readmodel.All()...)
	time.Sleep(50 * time.Millisecond) // let the first instance take the leases
	rs2, stop2 := startRunners(t, db2, store, opt, readmodel.All()...)
	if err := seeder.PlaceOrders(ctx, 30, 5); err != nil {
		t.Fatal(err)
	}
	projectionstest.WaitCaughtUp(t, store, 30*time.Second, rs1...)
	for i := range rs1 {
		if st := rs2[i].Status(); st.State != projections.StateStandby || st.Applied != 0 {
			t.Errorf("second instance of %s: %+v", st.Name, st)
		}
	}
	sts, err := projections.Inspect(ctx, db2, store)
	if err != nil || len(sts) != 3 {
		t.Fatalf("Inspect: %+v, %v", sts, err)
	}
	for _, st := range sts {
		if st.State != projections.StateCaughtUp || st.Lag != 0 {
			t.Errorf("Inspect while running: %+v", st)
		}
	}

	// The holder's lease connections die: it must stop writing; one instance (usually the
	// other) takes each lease.
	var killed int64
	for _, p := range readmodel.All() {
		key := projections.LockKey(db1, p.Name())
		err := db1.SQL().QueryRowContext(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_locks
			WHERE locktype = 'advisory' AND granted AND ((classid::bigint << 32) | objid::bigint) = $1`, key).Scan(&killed)
		if err != nil || killed != 1 {
			t.Fatalf("terminate lease of %s: %d, %v", p.Name(), killed, err)
		}
	}
	if err := seeder.PlaceOrders(ctx, 30, 5); err != nil {
		t.Fatal(err)
	}
	head, _ := store.Head(ctx)
	for i := range rs1 {
		for deadline := time.Now().Add(30 * time.Second); ; {
			a, b := rs1[i].Status(), rs2[i].Status()
			if (a.State == projections.StateCaughtUp && a.Checkpoint == head && b.State == projections.StateStandby) ||
				(b.State == projections.StateCaughtUp && b.Checkpoint == head && a.State == projections.StateStandby) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after the lease died: %+v / %+v", a, b)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	// The first instance stops: the second takes every lease.
	stop1()
	if err := seeder.PlaceOrders(ctx, 30, 5); err != nil {
		t.Fatal(err)
	}
	projectionstest.WaitCaughtUp(t, store, 30*time.Second, rs2...)
	for i := range rs2 {
		if st := rs2[i].Status(); st.Applied == 0 {
			t.Errorf("second instance of %s did not take over: %+v", st.Name, st)
		}
	}
	stop2()
	// The lease connections close just after Run returns; give a loaded machine a moment.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		sts, _ = projections.Inspect(ctx, db1, store)
		stopped := true
		for _, st := range sts {
			stopped = stopped && st.State == projections.StateStopped
		}
		if stopped || time.Now().After(deadline) {
			break
		}
	}
	for _, st := range sts {
		if st.State != projections.StateStopped {
			t.Errorf("Inspect after both stopped: %+v", st)
		}
	}
	sameHashes(t, "two instances with failover", hashes(t, db1), cleanPass(t, "postgres", store))
	checkExactlyOnce(t, db1, store)
}

func TestStatusLag(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	store := projectionstest.EventStore(t)
	if _, err := projectionstest.Shop(ctx, store, 61, 5, 10); err != nil {
		t.Fatal(err)
	}
	db := projectionstest.DB(t, "sqlite")
	now := time.Now().Add(time.Hour)
	opt := fastOptions()
	opt.Now = func() time.Time { return now }
	r, err := projections.NewRunner(db, store, readmodel.Catalog{}, opt)
	if err != nil {
		t.Fatal(err)
	}
	if st := r.Status(); st.State != projections.StateStopped || st.Name != "catalog" {
		t.Errorf("before Run: %+v", st)
	}
	_, stop := startRunners(t, db, store, opt, readmodel.Orders{})
	defer stop()
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- r.Run(rctx) }()
	projectionstest.WaitCaughtUp(t, store, 10*time.Second, r)
	head, _ := store.Head(ctx)
	if st := r.Status(); st.Lag != 0 || st.LagSeconds != 0 || st.Head != head || st.Checkpoint != head || st.Generation != 1 {
		t.Errorf("caught up: %+v", st)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st := r.Status(); st.State != projections.StateStopped {
		t.Errorf("after Run: %+v", st)
	}
	infos, err := db.Projections(ctx)
	if err != nil || len(infos) != 2 || infos[0].Name != "catalog" || infos[0].Position != head {
		t.Errorf("Projections: %+v, %v", infos, err)
	}
	ok, pos, err := db.WaitPosition(ctx, "catalog", head, time.Second)
	if !ok || pos != head || err != nil {
		t.Errorf("WaitPosition: %v %d %v", ok, pos, err)
	}
	ok, _, err = db.WaitPosition(ctx, "catalog", head+1, 20*time.Millisecond)
	if ok || err != nil {
		t.Errorf("WaitPosition past the head: %v %v", ok, err)
	}
}

// versioned changes a projection's schema version.
type versioned struct {
	projections.Projection
	v int
}

func (v versioned) Version() int { return v.v }

// TestSchemaVersionChange: a runner whose projection has a newer schema version than the
// live generation rebuilds it (while the old one serves) and carries on; an older build
// leaves a newer live generation alone.
func TestSchemaVersionChange(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	store := projectionstest.EventStore(t)
	seeder, err := projectionstest.Shop(ctx, store, 71, 10, 20)
	if err != nil {
		t.Fatal(err)
	}
	db := projectionstest.DB(t, "sqlite")
	rs, stop := startRunners(t, db, store, fastOptions(), readmodel.Orders{})
	projectionstest.WaitCaughtUp(t, store, 10*time.Second, rs...)
	stop()
	h, err := db.TableHashes(ctx, readmodel.Orders{})
	if err != nil {
		t.Fatal(err)
	}
	before := h

	newer := readmodel.Orders{}.Version() + 1
	rs, stop = startRunners(t, db, store, fastOptions(), versioned{readmodel.Orders{}, newer})
	if err := seeder.PlaceOrders(ctx, 5, 3); err != nil {
		t.Fatal(err)
	}
	projectionstest.WaitCaughtUp(t, store, 10*time.Second, rs...)
	stop()
	info, err := db.Info(ctx, "orders")
	if err != nil || info.Generation != 2 || info.Version != newer {
		t.Fatalf("after the version change: %+v, %v", info, err)
	}
	if after, _ := db.TableHashes(ctx, readmodel.Orders{}); after["orders"].LiveRows <= before["orders"].LiveRows {
		t.Errorf("orders before %+v, after %+v", before, after)
	}
	checkExactlyOnce(t, db, store, readmodel.Orders{})

	// An older build refuses to run against the newer generation (and retries).
	r, _ := projections.NewRunner(db, store, readmodel.Orders{}, fastOptions())
	rctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if err := r.Run(rctx); err != nil {
		t.Fatal(err)
	}
	if st := r.Status(); st.LastError == "" || st.Applied != 0 {
		t.Errorf("old build: %+v", st)
	}
}

// TestReset: a reset swaps in an empty generation; the running runner follows it and
// rebuilds the read model in place.
func TestReset(t *testing.T) {
	t.Parallel()
	for _, backend := range projectionstest.Backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			store := projectionstest.EventStore(t)
			if _, err := projectionstest.Shop(ctx, store, 81, 10, 30); err != nil {
				t.Fatal(err)
			}
			db := projectionstest.DB(t, backend)
			rs, stop := startRunners(t, db, store, fastOptions(), readmodel.All()...)
			projectionstest.WaitCaughtUp(t, store, 10*time.Second, rs...)
			want := hashes(t, db)
			gen, err := projections.Reset(ctx, db, readmodel.Inventory{})
			if err != nil || gen != 2 {
				t.Fatalf("Reset: %d, %v", gen, err)
			}
			for deadline := time.Now().Add(10 * time.Second); rs[2].Status().Generation != 2; {
				if time.Now().After(deadline) {
					t.Fatalf("runner did not follow the reset: %+v", rs[2].Status())
				}
				time.Sleep(5 * time.Millisecond)
			}
			projectionstest.WaitCaughtUp(t, store, 10*time.Second, rs...)
			stop()
			sameHashes(t, "after reset", hashes(t, db), want)
			checkExactlyOnce(t, db, store)
		})
	}
}

func TestRebuildRefusesAConcurrentOne(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	store := projectionstest.EventStore(t)
	if _, err := projectionstest.Shop(ctx, store, 91, 5, 10); err != nil {
		t.Fatal(err)
	}
	db := projectionstest.DB(t, "sqlite")
	started, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	done := make(chan error, 1)
	go func() {
		_, err := projections.Rebuild(ctx, db, store, readmodel.Orders{}, projections.RebuildOptions{Registry: domain.NewDomainRegistry(), Progress: func(projections.Progress) {
			once.Do(func() { close(started); <-release })
		}, ProgressEvery: time.Nanosecond})
		done <- err
	}()
	<-started
	if _, err := projections.Rebuild(ctx, db, store, readmodel.Orders{}, projections.RebuildOptions{Registry: domain.NewDomainRegistry()}); !errors.Is(err, projections.ErrRebuildRunning) {
		t.Errorf("concurrent rebuild: %v", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestRegistryIsRequired: runners and rebuilds decode with the registry the program
// gives them, never one of their own.
func TestRegistryIsRequired(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	store := projectionstest.EventStore(t)
	db := projectionstest.DB(t, "sqlite")
	if _, err := projections.NewRunner(db, store, readmodel.Orders{}, projections.RunnerOptions{}); err == nil || !strings.Contains(err.Error(), "Registry") {
		t.Errorf("runner without a registry: %v", err)
	}
	if _, err := projections.Rebuild(ctx, db, store, readmodel.Orders{}, projections.RebuildOptions{}); err == nil || !strings.Contains(err.Error(), "Registry") {
		t.Errorf("rebuild without a registry: %v", err)
	}
}
