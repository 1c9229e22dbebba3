package domain

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"
)

// t0 is the "now" of every scenario unless it says otherwise.
var t0 = time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)

// scenario is a given/when/then test of one decider.
type scenario[S any, C Command] struct {
	t     *testing.T
	d     Decider[S, C]
	given []Event
	now   time.Time
}

func given[S any, C Command](t *testing.T, d Decider[S, C], events ...Event) *scenario[S, C] {
	t.Helper()
	return &scenario[S, C]{t: t, d: d, given: events, now: t0}
}

func (s *scenario[S, C]) at(now time.Time) *scenario[S, C] { s.now = now; return s }

type outcome[S any] struct {
	t      *testing.T
	events []Event
	err    error
	state  S // the state after given + the decided events
}

func (s *scenario[S, C]) when(c C) *outcome[S] {
	s.t.Helper()
	state := s.d.Fold(*new(S), s.given)
	events, err := s.d.Decide(state, c, s.now)
	return &outcome[S]{t: s.t, events: events, err: err, state: s.d.Fold(state, events)}
}

// then asserts the exact events, and that each survives an encode/decode round trip.
func (o *outcome[S]) then(want ...Event) *outcome[S] {
	o.t.Helper()
	if o.err != nil {
		o.t.Fatalf("unexpected error: %v", o.err)
	}
	if len(want) == 0 && len(o.events) == 0 {
		return o
	}
	if !reflect.DeepEqual(o.events, want) {
		o.t.Fatalf("events differ\n got: %s\nwant: %s", dump(o.events), dump(want))
	}
	for _, e := range o.events {
		assertRoundTrip(o.t, e)
	}
	return o
}

// thenNothing asserts an idempotent no-op.
func (o *outcome[S]) thenNothing() *outcome[S] {
	o.t.Helper()
	if o.err != nil || len(o.events) != 0 {
		o.t.Fatalf("want no events and no error, got %s, %v", dump(o.events), o.err)
	}
	return o
}

// thenError asserts an error that errors.Is target.
func (o *outcome[S]) thenError(target error) *outcome[S] {
	o.t.Helper()
	if !errors.Is(o.err, target) {
		o.t.Fatalf("want error %v, got %v (events %s)", target, o.err, dump(o.events))
	}
	if len(o.events) != 0 {
		o.t.Fatalf("an error must come with no events, got %s", dump(o.events))
	}
	return o
}

// thenState checks the state after the decided events.
func (o *outcome[S]) thenState(check func(t *testing.T, s S)) *outcome[S] {
	o.t.Helper()
	check(o.t, o.state)
	return o
}

func assertRoundTrip(t *testing.T, e Event) {
	t.Helper()
	name, v, data, err := EncodeEvent(e)
	if err != nil {
		t.Fatalf("encode %T: %v", e, err)
	}
	back, err := DecodeEvent(name, v, data)
	if err != nil {
		t.Fatalf("decode %s: %v", name, err)
	}
	if !reflect.DeepEqual(normalizeEmpty(back), normalizeEmpty(e)) {
		t.Fatalf("%s does not round-trip:\n got %#v\nwant %#v", name, back, e)
	}
}

// normalizeEmpty re-decodes through JSON so nil and empty collections compare equal.
func normalizeEmpty(e Event) any {
	b, _ := json.Marshal(e)
	var m any
	_ = json.Unmarshal(b, &m)
	return m
}

func dump(events []Event) string {
	s := "["
	for i, e := range events {
		if i > 0 {
			s += ", "
		}
		b, _ := json.Marshal(e)
		s += e.EventType() + string(b)
	}
	return s + "]"
}

func eur(minor int64) Money { return MustMoney(minor, "EUR") }
