package lease_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orderengine/orderengine/lease"
)

func TestLocalIsExclusiveUntilReleased(t *testing.T) {
	ctx := context.Background()
	l := lease.NewLocal()
	a, err := l.TryAcquire(ctx, "forwarder-bus")
	if err != nil || a == nil {
		t.Fatalf("first: %v %v", a, err)
	}
	if b, err := l.TryAcquire(ctx, "forwarder-bus"); b != nil || err != nil {
		t.Fatalf("second holder got the lease: %v %v", b, err)
	}
	if o, _ := l.TryAcquire(ctx, "sweeper"); o == nil {
		t.Fatal("another name is free")
	}
	a.Release()
	a.Release()
	if b, _ := l.TryAcquire(ctx, "forwarder-bus"); b == nil {
		t.Fatal("free after release")
	}
}

// TestHoldRunsOneHolderAtATime: two Hold loops on one lease: fn never runs in both at
// once, and when the holder's work ends the other takes over.
func TestHoldRunsOneHolderAtATime(t *testing.T) {
	l := lease.NewLocal()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var inside, maxInside, runs atomic.Int32
	work := func(ctx context.Context) error {
		n := inside.Add(1)
		defer inside.Add(-1)
		if n > maxInside.Load() {
			maxInside.Store(n)
		}
		runs.Add(1)
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
		return nil
	}
	done := make(chan error, 2)
	for range 2 {
		go func() {
			done <- lease.Hold(ctx, l, "sweeper", lease.HoldOptions{Retry: 5 * time.Millisecond}, work)
		}()
	}
	for runs.Load() < 10 {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if maxInside.Load() != 1 {
		t.Fatalf("%d holders at once", maxInside.Load())
	}
}

func TestHoldReturnsWorkErrors(t *testing.T) {
	boom := errors.New("boom")
	err := lease.Hold(context.Background(), lease.NewLocal(), "x", lease.HoldOptions{}, func(context.Context) error { return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("Hold = %v", err)
	}
}
