package projections

import (
	"context"
	"errors"
	"time"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/eventstore"
)

// feed reads a subscription in its own goroutine, decoding ahead of the applier.
type feed struct {
	ch      chan feedItem
	cancel  context.CancelFunc
	done    chan struct{}
	sub     eventstore.Subscription
	pending *feedItem
}

type feedItem struct {
	ev  Event
	err error
}

var errIdle = errors.New("no events")

func startFeed(ctx context.Context, sub eventstore.Subscription, reg *domain.Registry, buf int) *feed {
	ctx, cancel := context.WithCancel(ctx)
	f := &feed{ch: make(chan feedItem, buf), cancel: cancel, done: make(chan struct{}), sub: sub}
	go func() {
		defer close(f.done)
		for {
			rec, err := sub.Next(ctx)
			var it feedItem
			if err != nil {
				it.err = err
			} else {
				it.ev = decodeEvent(reg, rec)
			}
			select {
			case f.ch <- it:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return f
}

func (f *feed) stop() {
	f.cancel()
	_ = f.sub.Close()
	<-f.done
}

// empty reports whether nothing is buffered.
func (f *feed) empty() bool { return f.pending == nil && len(f.ch) == 0 }

// collect returns up to max events: it waits up to idle for the first (errIdle when none
// comes), then takes what is already buffered. An event that failed to decode is returned
// alone so that the failure names it.
func (f *feed) collect(ctx context.Context, max int, idle time.Duration) ([]Event, error) {
	var first feedItem
	if f.pending != nil {
		first, f.pending = *f.pending, nil
	} else {
		t := time.NewTimer(idle)
		select {
		case first = <-f.ch:
			t.Stop()
		case <-t.C:
			return nil, errIdle
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
	}
	if first.err != nil {
		f.pending = &first // sticky: the subscription has ended
		return nil, first.err
	}
	batch := []Event{first.ev}
	if first.ev.decodeErr != nil {
		return batch, nil
	}
	for len(batch) < max {
		select {
		case it := <-f.ch:
			if it.err != nil || it.ev.decodeErr != nil {
				f.pending = &it
				return batch, nil
			}
			batch = append(batch, it.ev)
		default:
			return batch, nil
		}
	}
	return batch, nil
}

// feedBuffer is how many decoded events a feed holds ahead of the applier.
func feedBuffer(batch int) int { return min(2*batch, 8192) }

// dedupe drops events at or before the cursor and any that do not advance (redelivery).
func dedupe(batch []Event, cursor uint64) []Event {
	out := batch[:0]
	for _, e := range batch {
		if e.Position > cursor {
			out = append(out, e)
			cursor = e.Position
		}
	}
	return out
}
