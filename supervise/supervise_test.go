package supervise_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orderengine/orderengine/supervise"
)

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestGoRestartsAfterTransientErrorsAndReportsReadiness(t *testing.T) {
	s := supervise.New(supervise.Options{UnreadyAfter: 50 * time.Millisecond, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var calls atomic.Int32
	var healthy atomic.Bool
	s.Go(ctx, "forwarder", func(ctx context.Context, h *supervise.Health) error {
		calls.Add(1)
		if !healthy.Load() {
			return errors.New("connection refused")
		}
		h.OK()
		<-ctx.Done()
		return nil
	})
	runErr := make(chan error, 1)
	go func() { runErr <- s.Run(ctx) }()

	waitFor(t, "retries", func() bool { return calls.Load() >= 3 })
	rep := s.Check(ctx)
	if st := rep.Components[0]; st.State != supervise.StateRetrying || st.LastError != "connection refused" || st.Attempts < 2 {
		t.Fatalf("status while failing: %+v", st)
	}
	// Past the window the instance is not ready and the component is named.
	waitFor(t, "not ready", func() bool { return !s.Check(ctx).Ready })
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	res, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Detail     string             `json:"detail"`
		Failing    []string           `json:"failing"`
		Components []supervise.Status `json:"components"`
	}
	_ = json.NewDecoder(res.Body).Decode(&body)
	res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body.Detail, "forwarder") || len(body.Failing) != 1 || len(body.Components) != 1 {
		t.Fatalf("readyz while failing: %d %+v", res.StatusCode, body)
	}

	healthy.Store(true)
	waitFor(t, "recovery", func() bool { return s.Check(ctx).Ready })
	res, err = http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("readyz after recovery: %d", res.StatusCode)
	}
	if st := s.Check(ctx).Components[0]; st.State != supervise.StateOK || st.LastError != "" {
		t.Fatalf("status after recovery: %+v", st)
	}
	cancel()
	if err := <-runErr; err != nil {
		t.Fatalf("Run after cancel: %v", err)
	}
	if st := s.Check(context.Background()).Components[0]; st.State != supervise.StateStopped {
		t.Fatalf("state after stop: %s", st.State)
	}
}

func TestPermanentFailureEndsRun(t *testing.T) {
	s := supervise.New(supervise.Options{MinBackoff: time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.Go(ctx, "saga", func(ctx context.Context, h *supervise.Health) error {
		return supervise.Permanent(errors.New("schema missing"))
	})
	err := s.Run(ctx)
	if !errors.Is(err, supervise.ErrPermanent) || !strings.Contains(err.Error(), "saga") {
		t.Fatalf("Run = %v, want the saga's permanent failure", err)
	}
	if rep := s.Check(ctx); rep.Ready || rep.Failing[0] != "saga" {
		t.Fatalf("report: %+v", rep)
	}
}

func TestFailAfterTurnsLongRetriesIntoFailure(t *testing.T) {
	s := supervise.New(supervise.Options{FailAfter: 30 * time.Millisecond, MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.Go(ctx, "bus", func(ctx context.Context, h *supervise.Health) error { return errors.New("nats down") })
	if err := s.Run(ctx); err == nil || !strings.Contains(err.Error(), "nats down") {
		t.Fatalf("Run = %v", err)
	}
}

func TestNilReturnIsNotASilentStop(t *testing.T) {
	s := supervise.New(supervise.Options{MinBackoff: time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var calls atomic.Int32
	s.Go(ctx, "runner", func(ctx context.Context, h *supervise.Health) error { calls.Add(1); return nil })
	waitFor(t, "restart", func() bool { return calls.Load() >= 2 })
	cancel()
	s.Wait()
}

func TestProbeAndRegisteredHealth(t *testing.T) {
	now := time.Unix(1000, 0)
	var clock atomic.Int64
	clock.Store(now.UnixNano())
	s := supervise.New(supervise.Options{UnreadyAfter: 10 * time.Second, Now: func() time.Time { return time.Unix(0, clock.Load()) }})
	var storeErr atomic.Value
	storeErr.Store("")
	s.Probe("store", func(context.Context) supervise.Status {
		if e := storeErr.Load().(string); e != "" {
			return supervise.Status{State: supervise.StateRetrying, LastError: e}
		}
		return supervise.Status{State: supervise.StateOK, Detail: map[string]uint64{"head": 7}}
	})
	saga := s.Register("saga")
	saga.OK()
	ctx := context.Background()
	if rep := s.Check(ctx); !rep.Ready || len(rep.Components) != 2 {
		t.Fatalf("healthy: %+v", rep)
	}
	storeErr.Store("dial tcp: connection refused")
	if rep := s.Check(ctx); !rep.Ready {
		t.Fatalf("a fresh store error is inside the window: %+v", rep)
	}
	clock.Add(int64(11 * time.Second))
	saga.Retrying(errors.New("append: conn closed"))
	rep := s.Check(ctx)
	if rep.Ready || len(rep.Failing) != 1 || rep.Failing[0] != "store" {
		t.Fatalf("store down for 11s, saga just started failing: %+v", rep)
	}
	clock.Add(int64(11 * time.Second))
	if rep := s.Check(ctx); len(rep.Failing) != 2 {
		t.Fatalf("both down: %+v", rep)
	}
	storeErr.Store("")
	saga.OK()
	if rep := s.Check(ctx); !rep.Ready {
		t.Fatalf("recovered: %+v", rep)
	}
}
