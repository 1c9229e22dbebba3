package kurrentdb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"google.golang.org/grpc/codes"

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
// When the server drops the subscription for a reason that may pass (a lost connection,
// a node shutting down, a follower refusing it, an election), it is resubscribed from the
// last position seen, so nothing is lost or repeated; other drops end it with an error.
func (s *Store) SubscribeAll(ctx context.Context, from uint64, filter eventstore.Filter) (eventstore.Subscription, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()

	subCtx, cancel := context.WithCancel(ctx)
	raw, err := s.subscribeRaw(subCtx, from, filter)
	if err != nil {
		cancel()
		return nil, translate(ctx, "subscribe to $all", err, false)
	}
	sub := &subscription{
		store:  s,
		raw:    raw,
		ctx:    subCtx,
		cancel: cancel,
		filter: filter,
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

// subscribeRaw opens a client subscription after from, on the leader, repeating the call
// when a follower or a node that is not ready refuses it.
func (s *Store) subscribeRaw(ctx context.Context, from uint64, filter eventstore.Filter) (*esdb.Subscription, error) {
	for attempt := 1; ; attempt++ {
		raw, err := s.client.SubscribeToAll(leaderOnly(ctx), esdb.SubscribeToAllOptions{
			From:   allPosition(from),
			Filter: serverFilter(filter),
		})
		if err == nil || !s.retryRead(ctx, "subscribe to $all", err, attempt) {
			return raw, err
		}
	}
}

// maxResubscribes bounds the resubscriptions in a row that deliver nothing before a drop
// is reported to Next.
const maxResubscribes = 10

// resumable reports a subscription drop after which a new subscription may work. Denied
// access, bad requests and the like are final; the server ends a subscription on shutdown
// (SubscriptionDropReason.Unsubscribed) and the connection drops when a node dies.
func resumable(err error) bool {
	if err == nil || isNotLeader(err) || errors.Is(err, io.EOF) {
		return true
	}
	if code, ok := errorCode(err); ok {
		switch code {
		case esdb.ErrorCodeAccessDenied, esdb.ErrorCodeUnauthenticated, esdb.ErrorCodeResourceNotFound,
			esdb.ErrorCodeUnsupportedFeature, esdb.ErrorCodeStreamDeleted, esdb.ErrorCodeConnectionClosed:
			return false
		}
	}
	switch codeOf(err) {
	case codes.PermissionDenied, codes.Unauthenticated, codes.InvalidArgument, codes.NotFound,
		codes.FailedPrecondition, codes.Unimplemented, codes.OutOfRange, codes.Canceled:
		return false
	}
	return true
}

// resubscribeDelay is the pause before resubscription attempt n (1-based): 50 ms doubling
// up to 2 s.
func resubscribeDelay(n int) time.Duration {
	return min(50*time.Millisecond<<min(n-1, 6), 2*time.Second)
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
	ctx    context.Context // ends when SubscribeAll's context ends or on Close
	cancel context.CancelFunc
	filter eventstore.Filter
	sel    *selector // used by pump only

	rawMu sync.Mutex
	raw   *esdb.Subscription // replaced by pump on resubscription

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
	drops := 0
	for {
		s.rawMu.Lock()
		raw := s.raw
		s.rawMu.Unlock()
		msg := raw.Recv()
		switch {
		case msg.EventAppeared != nil:
			drops = 0
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
		case msg.CaughtUp != nil:
			drops = 0
		case msg.SubscriptionDropped != nil:
			err := msg.SubscriptionDropped.Error
			if err == nil {
				err = errors.New("subscription dropped")
			}
			if !s.ended() && resumable(err) && drops < maxResubscribes {
				drops++
				if s.resubscribe(err, drops) {
					continue
				}
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

// resubscribe replaces a dropped subscription with one from the last position seen,
// trying until it works, the subscription ends, or maxResubscribes attempts in a row have
// failed. A follower's refusal reaches a subscription as a raw status, which does not make
// the client reconnect; a leader-only read does, and the client then names the leader.
func (s *subscription) resubscribe(cause error, drops int) bool {
	for ; drops <= maxResubscribes; drops++ {
		s.store.log.Warn("kurrentdb: subscription to $all dropped, resubscribing", "after", s.sel.last, "attempt", drops, "err", cause)
		t := time.NewTimer(resubscribeDelay(drops))
		select {
		case <-t.C:
		case <-s.ctx.Done():
			t.Stop()
			return false
		}
		if isNotLeader(cause) {
			_, _ = s.store.readAllPage(s.ctx, esdb.Backwards, esdb.End{}, 1)
		}
		raw, err := s.store.subscribeRaw(s.ctx, s.sel.last, s.filter)
		if err == nil {
			s.rawMu.Lock()
			old := s.raw
			s.raw = raw
			s.rawMu.Unlock()
			_ = old.Close()
			return true
		}
		if s.ctx.Err() != nil || !resumable(err) {
			return false
		}
		cause = err
	}
	return false
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
		s.rawMu.Lock()
		raw := s.raw
		s.rawMu.Unlock()
		_ = raw.Close()
		s.wg.Wait()
	})
	return nil
}

var _ eventstore.Subscription = (*subscription)(nil)

// String names the subscription in logs.
func (s *subscription) String() string {
	s.rawMu.Lock()
	defer s.rawMu.Unlock()
	return fmt.Sprintf("kurrentdb $all subscription %s", s.raw.Id())
}
