package storebench

import (
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/orderengine/orderengine/eventstore"
)

// Expectation is what a reader must see: for each stream, the IDs of its events in
// version order (index = 0-based stream version).
type Expectation map[string][]uuid.UUID

// Events is the number of events expected in all streams.
func (x Expectation) Events() int {
	n := 0
	for _, ids := range x {
		n += len(ids)
	}
	return n
}

// Report is the outcome of checking what a reader saw against an Expectation.
type Report struct {
	// Events is the number of events observed.
	Events int
	// Duplicates counts events seen more than once: the same stream version delivered
	// again, or an event ID stored a second time at another version.
	Duplicates int
	// Missing counts expected events never observed.
	Missing int
	// OutOfOrder counts events delivered after a later one: a stream version that is not
	// the next one, or (for a global reader) a position not above the previous event's.
	OutOfOrder int
	// Unexpected counts events nobody expected: an unknown stream, or an ID the run never
	// appended at that place.
	Unexpected int
}

// OK reports whether the reader saw every expected event exactly once, in order.
func (r Report) OK() bool {
	return r.Duplicates == 0 && r.Missing == 0 && r.OutOfOrder == 0 && r.Unexpected == 0
}

// Add merges the counts of another report over disjoint streams.
func (r Report) Add(o Report) Report {
	return Report{
		Events:     r.Events + o.Events,
		Duplicates: r.Duplicates + o.Duplicates,
		Missing:    r.Missing + o.Missing,
		OutOfOrder: r.OutOfOrder + o.OutOfOrder,
		Unexpected: r.Unexpected + o.Unexpected,
	}
}

// String describes the problems found ("" when OK).
func (r Report) String() string {
	var p []string
	add := func(n int, what string) {
		if n > 0 {
			p = append(p, fmt.Sprintf("%d %s", n, what))
		}
	}
	add(r.Missing, "missing")
	add(r.Duplicates, "duplicated")
	add(r.OutOfOrder, "out of order")
	add(r.Unexpected, "unexpected")
	if len(p) == 0 {
		return ""
	}
	return fmt.Sprintf("%s (of %d events seen)", strings.Join(p, ", "), r.Events)
}

type streamState struct {
	ids     []uuid.UUID
	seen    []bool
	next    uint64 // lowest version not yet passed
	lastPos uint64
	hasPos  bool
}

// Checker verifies a sequence of events against an Expectation: every expected event
// exactly once, versions contiguous in each stream, positions increasing in each stream
// and, for a reader of $all, globally. It is not safe for concurrent use.
type Checker struct {
	streams  map[string]*streamState
	global   bool
	lastPos  uint64
	hasPos   bool
	expected int
	distinct int
	rep      Report
}

// NewChecker returns a checker for x. globalOrder requires positions to increase across
// all events (a $all reader); otherwise only within each stream.
func NewChecker(x Expectation, globalOrder bool) *Checker {
	c := &Checker{streams: make(map[string]*streamState, len(x)), global: globalOrder}
	for s, ids := range x {
		c.streams[s] = &streamState{ids: ids, seen: make([]bool, len(ids))}
		c.expected += len(ids)
	}
	return c
}

// Observe checks one event.
func (c *Checker) Observe(e eventstore.RecordedEvent) {
	c.rep.Events++
	st := c.streams[e.Stream]
	if st == nil {
		c.rep.Unexpected++
		return
	}
	v := e.Version
	if v >= uint64(len(st.ids)) || st.ids[v] != e.ID {
		if st.contains(e.ID) {
			c.rep.Duplicates++ // the same event stored again at another version
		} else {
			c.rep.Unexpected++
		}
		return
	}
	if st.seen[v] {
		c.rep.Duplicates++
		return
	}
	st.seen[v] = true
	c.distinct++
	bad := v != st.next
	if v+1 > st.next {
		st.next = v + 1
	}
	if st.hasPos && e.Position <= st.lastPos {
		bad = true
	}
	if e.Position > st.lastPos || !st.hasPos {
		st.lastPos, st.hasPos = e.Position, true
	}
	if c.global {
		if c.hasPos && e.Position <= c.lastPos {
			bad = true
		}
		if e.Position > c.lastPos || !c.hasPos {
			c.lastPos, c.hasPos = e.Position, true
		}
	}
	if bad {
		c.rep.OutOfOrder++
	}
}

func (st *streamState) contains(id uuid.UUID) bool {
	for _, x := range st.ids {
		if x == id {
			return true
		}
	}
	return false
}

// Report returns the counts so far; Missing counts every expected event not yet seen.
func (c *Checker) Report() Report {
	r := c.rep
	r.Missing = c.expected - c.distinct
	return r
}
