package projectionstest

import (
	"context"
	"math/rand/v2"
	"sync"

	"github.com/orderengine/orderengine/eventstore"
)

// Chaos wraps an event store so that subscriptions deliver every event 1–3 times and
// now and then repeat an earlier one, and calls OnDeliver after each delivery (tests use
// it to kill a runner at a random point).
type Chaos struct {
	eventstore.Store

	mu        sync.Mutex
	rnd       *rand.Rand
	onDeliver func()
	// Delivered counts deliveries, Duplicates the extra ones.
	Delivered, Duplicates int
}

// NewChaos wraps store with a deterministic random source.
func NewChaos(store eventstore.Store, seed uint64) *Chaos {
	return &Chaos{Store: store, rnd: rand.New(rand.NewPCG(seed, 0xc4a05))}
}

// OnDeliver sets the hook called after every delivery (nil: none).
func (c *Chaos) OnDeliver(fn func()) {
	c.mu.Lock()
	c.onDeliver = fn
	c.mu.Unlock()
}

// IntN is a random number from the chaos source.
func (c *Chaos) IntN(n int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rnd.IntN(n)
}

// SubscribeAll implements eventstore.Store.
func (c *Chaos) SubscribeAll(ctx context.Context, from uint64, filter eventstore.Filter) (eventstore.Subscription, error) {
	inner, err := c.Store.SubscribeAll(ctx, from, filter)
	if err != nil {
		return nil, err
	}
	return &chaosSub{c: c, inner: inner}, nil
}

type chaosSub struct {
	c      *Chaos
	inner  eventstore.Subscription
	queue  []eventstore.RecordedEvent
	recent []eventstore.RecordedEvent
}

func (s *chaosSub) Next(ctx context.Context) (eventstore.RecordedEvent, error) {
	if len(s.queue) == 0 {
		e, err := s.inner.Next(ctx)
		if err != nil {
			return e, err
		}
		s.c.mu.Lock()
		copies := 1 + s.c.rnd.IntN(3)
		s.queue = append(s.queue, e)
		for i := 1; i < copies; i++ {
			if len(s.recent) > 0 && s.c.rnd.IntN(3) == 0 {
				s.queue = append(s.queue, s.recent[s.c.rnd.IntN(len(s.recent))]) // an older one again
			} else {
				s.queue = append(s.queue, e)
			}
		}
		s.c.Duplicates += copies - 1
		s.c.mu.Unlock()
		s.recent = append(s.recent, e)
		if len(s.recent) > 20 {
			s.recent = s.recent[1:]
		}
	}
	e := s.queue[0]
	s.queue = s.queue[1:]
	s.c.mu.Lock()
	s.c.Delivered++
	hook := s.c.onDeliver
	s.c.mu.Unlock()
	if hook != nil {
		hook()
	}
	return e, nil
}

func (s *chaosSub) Close() error { return s.inner.Close() }
