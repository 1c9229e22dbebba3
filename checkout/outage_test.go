package checkout

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/eventstore/sqlite"
	"github.com/orderengine/orderengine/payment"
)

var errOutage = errors.New("store unreachable (test outage)")

// outageStore fails every call while down, and fails subscriptions for good once they
// saw an outage (as a subscription whose connection died does).
type outageStore struct {
	eventstore.Store
	down atomic.Bool
}

func (s *outageStore) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	if s.down.Load() {
		return eventstore.AppendResult{}, errOutage
	}
	return s.Store.Append(ctx, stream, expected, events...)
}

func (s *outageStore) ReadStream(ctx context.Context, stream string, dir eventstore.Direction, from uint64, limit int) ([]eventstore.RecordedEvent, error) {
	if s.down.Load() {
		return nil, errOutage
	}
	return s.Store.ReadStream(ctx, stream, dir, from, limit)
}

func (s *outageStore) ReadAll(ctx context.Context, from uint64, limit int, filter eventstore.Filter) ([]eventstore.RecordedEvent, error) {
	if s.down.Load() {
		return nil, errOutage
	}
	return s.Store.ReadAll(ctx, from, limit, filter)
}

func (s *outageStore) SubscribeAll(ctx context.Context, from uint64, filter eventstore.Filter) (eventstore.Subscription, error) {
	if s.down.Load() {
		return nil, errOutage
	}
	sub, err := s.Store.SubscribeAll(ctx, from, filter)
	if err != nil {
		return nil, err
	}
	return &outageSub{Subscription: sub, s: s}, nil
}

type outageSub struct {
	eventstore.Subscription
	s      *outageStore
	failed bool
}

func (o *outageSub) Next(ctx context.Context) (eventstore.RecordedEvent, error) {
	for {
		if o.failed || o.s.down.Load() {
			o.failed = true
			return eventstore.RecordedEvent{}, errOutage
		}
		// Poll the outage flag while waiting, so a blocked Next notices it.
		nctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		rec, err := o.Subscription.Next(nctx)
		cancel()
		if err == nil || ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) {
			return rec, err
		}
	}
}

// TestSagaSurvivesAStoreOutage takes the store away for a while: Run must not return,
// Health must report the fault during it and nil after, and checkouts placed before,
// during the recovery and after it must all end terminal without restarting anything.
func TestSagaSurvivesAStoreOutage(t *testing.T) {
	base, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "events.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := &outageStore{Store: base}
	e := newEnvOn(t, s, "memory", payment.SimulatorConfig{}, func(c *Config) {
		c.RetryMin, c.RetryMax = 10*time.Millisecond, 100*time.Millisecond
	})
	e.product("OUT-1", 1000, 100)
	before := e.mustOrder(payment.TokenVisa, item{"OUT-1", 1})
	e.wait(before)
	co := e.checkout()
	deadline := time.Now().Add(10 * time.Second)
	for co.Health() != nil && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if err := co.Health(); err != nil {
		t.Fatalf("before the outage: %v", err)
	}

	s.down.Store(true)
	// A forwarder that retries by itself (bus.Forwarder does) hides the outage from Run;
	// when it does surface, Health names it.
	deadline = time.Now().Add(time.Second)
	for co.Health() == nil && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if herr := co.Health(); herr != nil && !errors.Is(herr, errOutage) {
		t.Fatalf("during the outage Health = %v, want the outage", herr)
	}
	time.Sleep(300 * time.Millisecond) // several failed reads or restarts
	s.down.Store(false)

	after := e.mustOrder(payment.TokenVisa, item{"OUT-1", 2})
	if st := e.wait(after); st.Outcome != OutcomeConfirmed {
		t.Fatalf("order after the outage: %+v (health %v)", st, co.Health())
	}
	if err := co.Health(); err != nil {
		t.Fatalf("after the outage: %v", err)
	}
	e.noLeaks("OUT-1")
}
