package kurrentdb

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/orderengine/orderengine/eventstore"
)

// subscriptionBuffer is how many converted events a subscription reads ahead.
const subscriptionBuffer = 256

// serverFilter chooses the filter the server applies to a $all subscription. The server
// takes one filter, on stream names or on event types, by prefix or regex: a stream
// prefix is used when there is one, else the event types (as prefixes), else a filter
// that drops system event types. Whatever the server lets through is filtered again
// exactly on the client (Filter.Match, system events), so prefix matches of longer type
// names and the criterion the server did not apply are handled there.
func serverFilter(f eventstore.Filter) *esdb.SubscriptionFilter {
	switch {
	case f.StreamPrefix != "":
		return &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Prefixes: []string{f.StreamPrefix}}
	case len(f.EventTypes) > 0:
		return &esdb.SubscriptionFilter{Type: esdb.EventFilterType, Prefixes: append([]string(nil), f.EventTypes...)}
	default:
		return esdb.ExcludeSystemEventsFilter()
	}
}

// SubscribeAll delivers the events of $all after position from (exclusive) that match
// filter, history then live, in $all order, from a server-side catch-up subscription.
func (s *Store) SubscribeAll(ctx context.Context, from uint64, filter eventstore.Filter) (eventstore.Subscription, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()

	subCtx, cancel := context.WithCancel(ctx)
	raw, err := s.client.SubscribeToAll(subCtx, esdb.SubscribeToAllOptions{
		From:   allPosition(from),
		Filter: serverFilter(filter),
	})
	if err != nil {
		cancel()
		return nil, translate(ctx, "subscribe to $all", err, false)
	}
	sub := &subscription{
		store:  s,
		raw:    raw,
		ctx:    subCtx,
		cancel: cancel,
		sel:    &selector{filter: filter, last: from},
		ch:     make(chan item, subscriptionBuffer),
		done:   make(chan struct{}),
	}
	s.subsMu.Lock()
	s.subs[sub] = struct{}{}
	s.subsMu.Unlock()
	sub.wg.Add(1)
	go sub.pump()
	return sub, nil
}

// selector decides which events a subscription hands on.
type selector struct {
	filter eventstore.Filter
	last   uint64 // position of the last event seen
}

// accept reports whether ev is handed on: after the start position (exclusive) and after
// every event seen before (so that nothing is delivered twice or out of order), not a
// system event, and matching the filter exactly.
func (s *selector) accept(ev *esdb.RecordedEvent) bool {
	pos := positionOf(ev.Position)
	if pos <= s.last {
		return false
	}
	s.last = pos
	return !isSystem(ev.StreamID, ev.EventType) && s.filter.Match(ev.StreamID, ev.EventType)
}

type item struct {
	ev  eventstore.RecordedEvent
	err error
}

type subscription struct {
	store  *Store
	raw    *esdb.Subscription
	ctx    context.Context // ends when SubscribeAll's context ends or on Close
	cancel context.CancelFunc
	sel    *selector // used by pump only

	ch        chan item
	done      chan struct{} // closed by Close
	closeOnce sync.Once
	wg        sync.WaitGroup

	mu  sync.Mutex
	err error // sticky error of Next
}

// pump receives from the server and hands matching events to Next. Checkpoints,
// caught-up and fell-behind notifications are not events and are skipped.
func (s *subscription) pump() {
	defer s.wg.Done()
	defer s.store.forget(s)
	for {
		msg := s.raw.Recv()
		switch {
		case msg.EventAppeared != nil:
			ev := msg.EventAppeared.Event
			if ev == nil {
				continue
			}
			if !s.sel.accept(ev) {
				continue
			}
			select {
			case s.ch <- item{ev: toRecorded(ev)}:
			case <-s.done:
				return
			case <-s.ctx.Done():
				return
			}
		case msg.SubscriptionDropped != nil:
			err := msg.SubscriptionDropped.Error
			if err == nil {
				err = errors.New("subscription dropped")
			}
			select {
			case s.ch <- item{err: err}:
			case <-s.done:
			case <-s.ctx.Done():
			}
			return
		}
	}
}

// Next blocks until an event arrives, ctx is done, or the subscription fails or is closed.
func (s *subscription) Next(ctx context.Context) (eventstore.RecordedEvent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return eventstore.RecordedEvent{}, s.err
	}
	if s.ended() {
		s.err = eventstore.ErrClosed
		return eventstore.RecordedEvent{}, s.err
	}
	if err := ctx.Err(); err != nil {
		return eventstore.RecordedEvent{}, err
	}
	select {
	case it := <-s.ch:
		if it.err == nil {
			return it.ev, nil
		}
		if s.ended() {
			// Dropped because it was closed or SubscribeAll's context ended.
			s.err = eventstore.ErrClosed
		} else {
			s.err = translate(context.Background(), "subscription to $all dropped", it.err, false)
			s.store.log.Warn("kurrentdb: subscription dropped", "err", it.err)
		}
		return eventstore.RecordedEvent{}, s.err
	case <-s.done:
		s.err = eventstore.ErrClosed
	case <-s.ctx.Done():
		s.err = eventstore.ErrClosed
	case <-ctx.Done():
		return eventstore.RecordedEvent{}, ctx.Err()
	}
	return eventstore.RecordedEvent{}, s.err
}

// ended reports Close or the end of SubscribeAll's context.
func (s *subscription) ended() bool {
	select {
	case <-s.done:
		return true
	case <-s.ctx.Done():
		return true
	default:
		return false
	}
}

// Close ends the subscription and waits for its reader to stop.
func (s *subscription) Close() error {
	s.closeOnce.Do(func() {
		close(s.done)
		s.cancel()
		_ = s.raw.Close()
		s.wg.Wait()
	})
	return nil
}

var _ eventstore.Subscription = (*subscription)(nil)

// String names the subscription in logs.
func (s *subscription) String() string {
	return fmt.Sprintf("kurrentdb $all subscription %s", s.raw.Id())
}
