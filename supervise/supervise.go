// Package supervise runs an instance's background components (bus forwarder, projection
// runners, the checkout saga, …), restarts them after transient failures with capped
// exponential backoff and jitter, and keeps each one's health for readiness:
//
//   - ok: working;
//   - retrying: failing since a moment, with its last error; still ready until the
//     failure lasts longer than Options.UnreadyAfter;
//   - failed: gave up (a Permanent error, or retrying longer than Options.FailAfter).
//
// A component either runs under the supervisor (Go) or reports its own health (Register,
// for parts that retry internally, such as the saga or a projection runner). Check answers
// whether the instance is ready; Handler serves it as /readyz. Run returns once a
// component has failed permanently, so that serve exits non-zero and an orchestrator
// restarts the process: never a silent stop.
package supervise

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"sync"
	"time"
)

// State of a component.
type State string

const (
	StateStarting State = "starting"
	StateOK       State = "ok"
	StateStandby  State = "standby" // another replica holds the component's lease
	StateRetrying State = "retrying"
	StateFailed   State = "failed"
	StateStopped  State = "stopped"
)

// Status is a component's health at one moment.
type Status struct {
	Name  string `json:"name"`
	State State  `json:"state"`
	// Since is when the component entered State (for retrying: when the failure began).
	Since     time.Time `json:"since,omitzero"`
	LastError string    `json:"lastError,omitempty"`
	Attempts  int       `json:"attempts,omitempty"`
	// Ready is false when this component makes the instance not ready.
	Ready bool `json:"ready"`
	// Detail is component-specific (a projection's lag, a saga's backlog, …).
	Detail any `json:"detail,omitempty"`
}

// Options tune a Supervisor. The zero value is usable.
type Options struct {
	// UnreadyAfter is how long a component may keep failing before the instance is
	// reported not ready (default 10s).
	UnreadyAfter time.Duration
	// FailAfter is how long a component may keep failing before it counts as failed
	// for good and Run returns (default 0: never, it keeps retrying).
	FailAfter time.Duration
	// MinBackoff and MaxBackoff bound the restart delay (defaults 100ms and 10s); it
	// doubles per consecutive failure, with ±20 % jitter so replicas do not retry in step.
	MinBackoff, MaxBackoff time.Duration
	Logger                 *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.UnreadyAfter <= 0 {
		o.UnreadyAfter = 10 * time.Second
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 100 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 10 * time.Second
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = o.MinBackoff
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Backoff is the delay before attempt n (1-based) from min doubling up to max, with ±20 %
// jitter.
func Backoff(n int, minD, maxD time.Duration) time.Duration {
	d := minD
	for i := 1; i < n && d < maxD; i++ {
		d *= 2
	}
	d = min(d, maxD)
	jitter := time.Duration(float64(d) * 0.2 * (2*rand.Float64() - 1))
	return max(d+jitter, 0)
}

// ErrPermanent marks an error no retry can fix; see Permanent.
var ErrPermanent = errors.New("permanent failure")

// Permanent wraps err so that the supervisor stops the component and Run returns.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrPermanent, err)
}

// Supervisor runs components and tracks their health.
type Supervisor struct {
	opt Options

	mu     sync.Mutex
	comps  map[string]*Health
	probes map[string]func(context.Context) Status
	// since remembers when a probe's current state began, for probes that do not say.
	since map[string]probeMark
	order []string
	fatal chan error
	wg    sync.WaitGroup
}

// New returns a Supervisor.
func New(opt Options) *Supervisor {
	return &Supervisor{opt: opt.withDefaults(), comps: map[string]*Health{}, probes: map[string]func(context.Context) Status{},
		since: map[string]probeMark{}, fatal: make(chan error, 1)}
}

// Health is one component's state; the component (or the supervisor on its behalf)
// reports through it. Its methods are safe for concurrent use.
type Health struct {
	s    *Supervisor
	name string

	mu       sync.Mutex
	state    State
	since    time.Time
	lastErr  string
	attempts int
	detail   func() any
}

// Register adds a component that reports its own health (e.g. one that retries
// internally) and returns its Health, in state starting. Registering a name again
// returns the existing Health.
func (s *Supervisor) Register(name string) *Health {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h, ok := s.comps[name]; ok {
		return h
	}
	h := &Health{s: s, name: name, state: StateStarting, since: s.opt.Now()}
	s.comps[name] = h
	s.order = append(s.order, name)
	return h
}

// Probe adds a component whose status is read when readiness is checked (the event
// store's reachability, a projection runner's own status, a saga's Health method).
func (s *Supervisor) Probe(name string, probe func(context.Context) Status) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.probes[name]; !ok {
		s.order = append(s.order, name)
	}
	s.probes[name] = probe
}

// SetDetail attaches a function whose result is reported as the component's detail.
func (h *Health) SetDetail(fn func() any) {
	h.mu.Lock()
	h.detail = fn
	h.mu.Unlock()
}

// OK reports that the component works (again).
func (h *Health) OK() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.state == StateFailed {
		return
	}
	if h.state == StateRetrying {
		h.s.opt.Logger.Info("component recovered", "component", h.name, "after", h.s.opt.Now().Sub(h.since).Round(time.Millisecond).String(), "attempts", h.attempts)
	}
	if h.state != StateOK {
		h.state, h.since = StateOK, h.s.opt.Now()
	}
	h.lastErr, h.attempts = "", 0
}

// Standby reports that another replica does the component's work.
func (h *Health) Standby() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.state != StateStandby && h.state != StateFailed {
		h.state, h.since = StateStandby, h.s.opt.Now()
	}
	h.lastErr, h.attempts = "", 0
}

// Retrying reports a transient failure; the first one of a run of failures sets Since.
// It returns the number of consecutive failures so far.
func (h *Health) Retrying(err error) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.state == StateFailed {
		return h.attempts
	}
	if h.state != StateRetrying {
		h.state, h.since = StateRetrying, h.s.opt.Now()
	}
	h.attempts++
	if err != nil {
		h.lastErr = err.Error()
	}
	return h.attempts
}

// Fail reports a permanent failure: the instance is not ready and Run returns err.
func (h *Health) Fail(err error) {
	h.mu.Lock()
	if h.state == StateFailed {
		h.mu.Unlock()
		return
	}
	h.state, h.since = StateFailed, h.s.opt.Now()
	if err != nil {
		h.lastErr = err.Error()
	}
	h.mu.Unlock()
	h.s.opt.Logger.Error("component failed", "component", h.name, "err", err)
	select {
	case h.s.fatal <- fmt.Errorf("%s: %w", h.name, err):
	default:
	}
}

func (h *Health) setStopped() {
	h.mu.Lock()
	if h.state != StateFailed {
		h.state, h.since = StateStopped, h.s.opt.Now()
	}
	h.mu.Unlock()
}

// Status is the component's current health.
func (h *Health) Status() Status {
	h.mu.Lock()
	st := Status{Name: h.name, State: h.state, Since: h.since, LastError: h.lastErr, Attempts: h.attempts}
	detail := h.detail
	h.mu.Unlock()
	if detail != nil {
		st.Detail = detail()
	}
	st.Ready = h.s.ready(st)
	return st
}

// ready applies the readiness rules to a status.
func (s *Supervisor) ready(st Status) bool {
	switch st.State {
	case StateFailed:
		return false
	case StateRetrying:
		return s.opt.Now().Sub(st.Since) < s.opt.UnreadyAfter
	}
	return true
}

// Go runs fn as component name until ctx ends: when fn returns an error it is restarted
// after a backoff (the state goes to retrying), unless the error is Permanent. fn calls
// h.OK once it works (after a restart that resets the backoff) and may report retries
// of its own through h. A nil return while ctx is live counts as a failure too: a
// background component must not stop silently.
func (s *Supervisor) Go(ctx context.Context, name string, fn func(ctx context.Context, h *Health) error) *Health {
	h := s.Register(name)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer h.setStopped()
		log := s.opt.Logger.With("component", name)
		for {
			err := fn(ctx, h)
			if ctx.Err() != nil {
				return
			}
			if err == nil {
				err = errors.New("stopped unexpectedly")
			}
			if errors.Is(err, ErrPermanent) {
				h.Fail(err)
				return
			}
			n := h.Retrying(err)
			st := h.Status()
			if s.opt.FailAfter > 0 && s.opt.Now().Sub(st.Since) >= s.opt.FailAfter {
				h.Fail(fmt.Errorf("no recovery within %s: %w", s.opt.FailAfter, err))
				return
			}
			wait := Backoff(n, s.opt.MinBackoff, s.opt.MaxBackoff)
			log.Warn("component interrupted; restarting", "err", err, "attempt", n, "in", wait.Round(time.Millisecond).String())
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}()
	return h
}

// Run waits until ctx ends (then for every component started with Go to return) or a
// component fails permanently; it returns that failure. FailAfter is enforced here too
// for components that report their own retries.
func (s *Supervisor) Run(ctx context.Context) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case err := <-s.fatal:
			return err
		case <-ctx.Done():
			s.wg.Wait()
			return nil
		case <-tick.C:
			if s.opt.FailAfter <= 0 {
				continue
			}
			for _, h := range s.healths() {
				st := h.Status()
				if st.State == StateRetrying && s.opt.Now().Sub(st.Since) >= s.opt.FailAfter {
					h.Fail(fmt.Errorf("no recovery within %s: %s", s.opt.FailAfter, st.LastError))
				}
			}
		}
	}
}

// Wait waits for the components started with Go to return (after their context ended).
func (s *Supervisor) Wait() { s.wg.Wait() }

func (s *Supervisor) healths() []*Health {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Health, 0, len(s.comps))
	for _, n := range s.order {
		if h, ok := s.comps[n]; ok {
			out = append(out, h)
		}
	}
	return out
}

// Report is the instance's readiness.
type Report struct {
	Ready bool `json:"ready"`
	// Failing names the components that make the instance not ready.
	Failing    []string `json:"failing,omitempty"`
	Components []Status `json:"components"`
}

// Check evaluates every component (probes get ctx).
func (s *Supervisor) Check(ctx context.Context) Report {
	s.mu.Lock()
	order := append([]string(nil), s.order...)
	comps := make(map[string]*Health, len(s.comps))
	for k, v := range s.comps {
		comps[k] = v
	}
	probes := make(map[string]func(context.Context) Status, len(s.probes))
	for k, v := range s.probes {
		probes[k] = v
	}
	s.mu.Unlock()

	rep := Report{Ready: true, Components: make([]Status, 0, len(order))}
	for _, name := range order {
		var st Status
		if p, ok := probes[name]; ok {
			st = p(ctx)
			st.Name = name
			if st.State == "" {
				st.State = StateOK
			}
			st.Since = s.probeSince(name, st)
			st.Ready = s.ready(st)
		} else {
			st = comps[name].Status()
		}
		if !st.Ready {
			rep.Ready = false
			rep.Failing = append(rep.Failing, name)
		}
		rep.Components = append(rep.Components, st)
	}
	sort.Strings(rep.Failing)
	return rep
}

type probeMark struct {
	state State
	at    time.Time
}

// probeSince is st.Since, or when the probe was first seen in its current state.
func (s *Supervisor) probeSince(name string, st Status) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.since[name]
	if !ok || m.state != st.State {
		m = probeMark{state: st.State, at: s.opt.Now()}
		s.since[name] = m
	}
	if !st.Since.IsZero() {
		return st.Since
	}
	return m.at
}
