package eventstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// Notifier wakes waiters when new events may be visible. The zero value is ready to use.
type Notifier struct {
	mu sync.Mutex
	ch chan struct{}
}

// C returns a channel closed at the next Notify.
func (n *Notifier) C() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch == nil {
		n.ch = make(chan struct{})
	}
	return n.ch
}

// Notify wakes everyone waiting on a channel from C.
func (n *Notifier) Notify() {
	n.mu.Lock()
	if n.ch != nil {
		close(n.ch)
		n.ch = nil
	}
	n.mu.Unlock()
}

// PageReader reads up to limit events matching filter after position from. It returns
// the events and the position up to which the log has been scanned and is complete
// (at least the last event's position), so that a filtered reader skips what it read past.
type PageReader func(ctx context.Context, from uint64, limit int, filter Filter) (events []RecordedEvent, scanned uint64, err error)

// PollingOptions tune a polling subscription.
type PollingOptions struct {
	// PageSize is how many events one read fetches (default 500).
	PageSize int
	// Interval is the longest wait between reads when no notification arrives (default
	// 100ms); notifications from appends in this process wake readers at once.
	Interval time.Duration
	// RetryMin and RetryMax bound the wait before re-reading after a failed read
	// (defaults 100ms and 5s): it doubles per consecutive failure, with jitter.
	RetryMin, RetryMax time.Duration
}

// NewPollingSubscription serves SubscribeAll for adapters whose log is a table: it reads
// pages after from and, once caught up, waits for a notification or the poll interval.
func NewPollingSubscription(ctx context.Context, read PageReader, n *Notifier, from uint64, filter Filter, opt PollingOptions) Subscription {
	if opt.PageSize <= 0 {
		opt.PageSize = 500
	}
	if opt.Interval <= 0 {
		opt.Interval = 100 * time.Millisecond
	}
	if opt.RetryMin <= 0 {
		opt.RetryMin = 100 * time.Millisecond
	}
	if opt.RetryMax < opt.RetryMin {
		opt.RetryMax = max(5*time.Second, opt.RetryMin)
	}
	ctx, cancel := context.WithCancel(ctx)
	return &pollingSub{ctx: ctx, cancel: cancel, read: read, n: n, pos: from, filter: filter, opt: opt}
}

type pollingSub struct {
	ctx    context.Context
	cancel context.CancelFunc
	read   PageReader
	n      *Notifier
	pos    uint64
	filter Filter
	opt    PollingOptions
	buf    []RecordedEvent
	err    error
	// failures counts consecutive failed reads; the next read waits a backoff first.
	failures int
	retryAt  time.Time
}

func (s *pollingSub) Next(ctx context.Context) (RecordedEvent, error) {
	for {
		if s.err != nil {
			return RecordedEvent{}, s.err
		}
		if s.ctx.Err() != nil {
			// Closed, or the context given to SubscribeAll ended.
			s.err = ErrClosed
			return RecordedEvent{}, s.err
		}
		if err := ctx.Err(); err != nil {
			return RecordedEvent{}, err
		}
		if len(s.buf) > 0 {
			e := s.buf[0]
			s.buf = s.buf[1:]
			return e, nil
		}
		// Take the wake-up channel before reading so that an append landing between the
		// read and the wait is not missed.
		if d := time.Until(s.retryAt); s.failures > 0 && d > 0 {
			// Backing off after a failed read; a caller's short deadline does not reset it.
			if err := s.pause(ctx, d); err != nil {
				return RecordedEvent{}, err
			}
			continue
		}
		var wake <-chan struct{}
		if s.n != nil {
			wake = s.n.C()
		}
		page, scanned, err := s.read(ctx, s.pos, s.opt.PageSize, s.filter)
		if err != nil {
			if ctx.Err() != nil {
				return RecordedEvent{}, ctx.Err()
			}
			if s.ctx.Err() != nil {
				continue
			}
			// A read failure (the database restarting, a connection cut) does not end the
			// subscription: it is reported, and the next call reads again from the last
			// delivered position after a backoff.
			s.failures++
			s.retryAt = time.Now().Add(retryDelay(s.failures, s.opt.RetryMin, s.opt.RetryMax))
			return RecordedEvent{}, &InterruptedError{Attempt: s.failures, Err: err}
		}
		s.failures = 0
		if len(page) > 0 {
			s.buf = page
			s.pos = page[len(page)-1].Position
		}
		if scanned > s.pos {
			s.pos = scanned
		}
		if len(page) > 0 {
			continue
		}
		t := time.NewTimer(s.opt.Interval)
		select {
		case <-wake:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return RecordedEvent{}, ctx.Err()
		case <-s.ctx.Done():
		}
		t.Stop()
	}
}

// pause waits d unless ctx or the subscription ends first.
func (s *pollingSub) pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.ctx.Done():
	}
	return nil
}

// retryDelay is minD doubled per failure up to maxD, with ±20 % jitter so that
// subscribers do not hammer a recovering database in step.
func retryDelay(failures int, minD, maxD time.Duration) time.Duration {
	d := minD
	for i := 1; i < failures && d < maxD; i++ {
		d *= 2
	}
	d = min(d, maxD)
	return d + time.Duration(float64(d)*0.2*(2*rand.Float64()-1))
}

// ErrInterrupted is wrapped by the error Next returns when a read failed but the
// subscription stays usable: calling Next again resumes after the last delivered event.
var ErrInterrupted = errors.New("subscription interrupted")

// InterruptedError is a transient subscription read failure (see ErrInterrupted).
type InterruptedError struct {
	// Attempt counts consecutive failed reads.
	Attempt int
	Err     error
}

func (e *InterruptedError) Error() string {
	return fmt.Sprintf("subscription interrupted (attempt %d): %v", e.Attempt, e.Err)
}

// Is makes errors.Is(err, ErrInterrupted) true.
func (e *InterruptedError) Is(target error) bool { return target == ErrInterrupted }

func (e *InterruptedError) Unwrap() error { return e.Err }

func (s *pollingSub) Close() error {
	s.cancel()
	return nil
}
