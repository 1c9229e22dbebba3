package eventstoretest

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/orderengine/orderengine/eventstore"
)

func runDelete(t *testing.T, h Harness) {
	t.Run("DeleteStream", func(t *testing.T) {
		t.Run("Semantics", func(t *testing.T) { testDelete(t, h) })
		t.Run("RacingAppend", func(t *testing.T) { testDeleteRace(t, h) })
	})
}

func deleterOrSkip(t *testing.T, s eventstore.Store) eventstore.StreamDeleter {
	t.Helper()
	d, ok := s.(eventstore.StreamDeleter)
	if !ok {
		t.Skip("adapter cannot delete streams")
	}
	return d
}

func testDelete(t *testing.T, h Harness) {
	s, ctx := open(t, h)
	d := deleterOrSkip(t, s)
	cat := Category()
	gone, kept := cat+"-gone", cat+"-kept"
	mustAppend(t, ctx, s, kept, eventstore.NoStream, events("d.x", 2)...)
	mustAppend(t, ctx, s, gone, eventstore.NoStream, events("d.x", 3)...)
	mustAppend(t, ctx, s, kept, eventstore.Exact(1), events("d.x", 1)...)

	for _, exp := range []eventstore.ExpectedVersion{eventstore.Exact(1), eventstore.Exact(3)} {
		err := d.DeleteStream(ctx, gone, exp)
		wantWrongVersion(t, err, true, 2)
	}
	if got := len(readAllOfStream(t, ctx, s, gone)); got != 3 {
		t.Fatalf("a rejected delete removed events: %d left", got)
	}
	if err := d.DeleteStream(ctx, gone, eventstore.NoStream); !errors.Is(err, eventstore.ErrInvalidEvent) {
		t.Fatalf("delete expecting no stream: %v", err)
	}
	if err := d.DeleteStream(ctx, "$"+gone, eventstore.Any); !errors.Is(err, eventstore.ErrInvalidEvent) {
		t.Fatalf("delete of a bad name: %v", err)
	}
	if err := d.DeleteStream(ctx, gone, eventstore.Exact(2)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadStream(ctx, gone, eventstore.Forward, 0, 10); !errors.Is(err, eventstore.ErrStreamNotFound) {
		t.Fatalf("read of a deleted stream: %v", err)
	}
	all, err := s.ReadAll(ctx, eventstore.Start, 100, eventstore.Filter{StreamPrefix: cat + "-"})
	if err != nil || len(all) != 3 {
		t.Fatalf("$all after the delete: %d events (%v), want the 3 of %s", len(all), err, kept)
	}
	for _, e := range all {
		if e.Stream != kept {
			t.Fatalf("$all still holds %s v%d", e.Stream, e.Version)
		}
	}
	if err := d.DeleteStream(ctx, gone, eventstore.Any); !errors.Is(err, eventstore.ErrStreamNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	wantWrongVersion(t, d.DeleteStream(ctx, gone, eventstore.StreamExists), false, 0)
	// The stream starts again at version 0 with a chain of its own; the rest verifies.
	if r := mustAppend(t, ctx, s, gone, eventstore.NoStream, events("d.y", 2)...); r.Version != 1 {
		t.Fatalf("recreated stream at version %d", r.Version)
	}
	for _, st := range []string{gone, kept} {
		rep, err := eventstore.VerifyChains(ctx, s, st, nil)
		if err != nil || rep.Broken != nil {
			t.Fatalf("chain of %s: %+v %v", st, rep.Broken, err)
		}
	}
	rep, err := eventstore.VerifyChains(ctx, s, "", nil)
	if err != nil || rep.Broken != nil {
		t.Fatalf("audit of the whole log after a delete: %+v %v", rep.Broken, err)
	}
}

// testDeleteRace: a delete and an append at the same expected version race; exactly one
// wins, and the loser changes nothing.
func testDeleteRace(t *testing.T, h Harness) {
	s, ctx := open(t, h)
	d := deleterOrSkip(t, s)
	cat := Category()
	for i := range 20 {
		stream := fmt.Sprintf("%s-%d", cat, i)
		mustAppend(t, ctx, s, stream, eventstore.NoStream, events("r.x", 2)...)
		var delErr, appErr error
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); delErr = d.DeleteStream(ctx, stream, eventstore.Exact(1)) }()
		go func() {
			defer wg.Done()
			_, appErr = s.Append(ctx, stream, eventstore.Exact(1), NewEvent("r.y", 0))
		}()
		wg.Wait()
		evs, readErr := s.ReadStream(ctx, stream, eventstore.Forward, 0, 10)
		switch {
		case delErr == nil && appErr == nil:
			t.Fatalf("round %d: both the delete and the append at version 1 succeeded", i)
		case delErr == nil:
			if !errors.Is(appErr, eventstore.ErrWrongExpectedVersion) || !errors.Is(readErr, eventstore.ErrStreamNotFound) {
				t.Fatalf("round %d: delete won; append %v, read %d events %v", i, appErr, len(evs), readErr)
			}
		case appErr == nil:
			if !errors.Is(delErr, eventstore.ErrWrongExpectedVersion) || readErr != nil || len(evs) != 3 {
				t.Fatalf("round %d: append won; delete %v, read %d events %v", i, delErr, len(evs), readErr)
			}
		default:
			t.Fatalf("round %d: both failed: delete %v, append %v", i, delErr, appErr)
		}
	}
}
