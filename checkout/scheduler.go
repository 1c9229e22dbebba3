package checkout

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// errAborted stops a drive without a retry (a test's simulated crash).
var errAborted = errors.New("checkout: drive aborted")

// park, returned by a drive as its wait, means "nothing to do until woken".
const park = -1

// scheduler drives checkouts in the background: at most one drive per order at a time
// (a kick during a drive runs it again afterwards), at most `workers` at once, with
// backoff after errors and delayed wake-ups.
type scheduler struct {
	ctx    context.Context
	cancel context.CancelFunc
	sem    chan struct{}
	drive  func(ctx context.Context, orderID string) (time.Duration, error)
	log    *slog.Logger

	mu       sync.Mutex
	state    map[string]int // 1: queued or running; 2: run again afterwards
	timers   map[string]*time.Timer
	attempts map[string]int
	stopped  bool
	wg       sync.WaitGroup
}

func newScheduler(workers int, drive func(context.Context, string) (time.Duration, error), log *slog.Logger) *scheduler {
	ctx, cancel := context.WithCancel(context.Background())
	return &scheduler{ctx: ctx, cancel: cancel, sem: make(chan struct{}, workers), drive: drive, log: log,
		state: map[string]int{}, timers: map[string]*time.Timer{}, attempts: map[string]int{}}
}

// kick schedules a drive of orderID now. After stop nothing runs any more; the
// checkout's state is stored, so the next Run's resume drives it.
func (s *scheduler) kick(orderID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		s.log.Info("checkout not driven: the saga has stopped; the next run resumes it", "order", orderID)
		return
	}
	if t, ok := s.timers[orderID]; ok {
		t.Stop()
		delete(s.timers, orderID)
	}
	if s.state[orderID] > 0 {
		s.state[orderID] = 2
		return
	}
	s.state[orderID] = 1
	s.wg.Add(1)
	go s.run(orderID)
}

// kickAfter schedules a drive after d (an earlier pending wake-up wins).
func (s *scheduler) kickAfter(orderID string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	if _, ok := s.timers[orderID]; ok {
		return
	}
	s.timers[orderID] = time.AfterFunc(d, func() {
		s.mu.Lock()
		delete(s.timers, orderID)
		s.mu.Unlock()
		s.kick(orderID)
	})
}

func (s *scheduler) run(orderID string) {
	defer s.wg.Done()
	select {
	case s.sem <- struct{}{}:
	case <-s.ctx.Done():
		s.mu.Lock()
		delete(s.state, orderID)
		s.mu.Unlock()
		return
	}
	var wait time.Duration
	var err error
	for {
		wait, err = s.drive(s.ctx, orderID)
		s.mu.Lock()
		if s.state[orderID] == 2 && s.ctx.Err() == nil && !errors.Is(err, errAborted) {
			s.state[orderID] = 1
			s.mu.Unlock()
			continue
		}
		delete(s.state, orderID)
		s.mu.Unlock()
		break
	}
	<-s.sem
	switch {
	case s.ctx.Err() != nil || errors.Is(err, errAborted):
	case err != nil:
		s.mu.Lock()
		s.attempts[orderID]++
		n := s.attempts[orderID]
		s.mu.Unlock()
		backoff := min(25*time.Millisecond<<min(n, 8), 5*time.Second)
		s.log.Warn("checkout step failed; retrying", "order", orderID, "attempt", n, "in", backoff, "err", err)
		s.kickAfter(orderID, backoff)
	default:
		s.mu.Lock()
		delete(s.attempts, orderID)
		s.mu.Unlock()
		if wait > 0 {
			s.kickAfter(orderID, wait)
		}
	}
}

// stop cancels running drives (their current step is abandoned, to be resumed by the
// next Run) and waits for them.
func (s *scheduler) stop() {
	s.mu.Lock()
	s.stopped = true
	for id, t := range s.timers {
		t.Stop()
		delete(s.timers, id)
	}
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}
