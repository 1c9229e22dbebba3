package domain

import "time"

// Event is a domain event: a plain struct registered in the Registry under the stable name
// that EventType returns (never the Go type name).
type Event interface {
	EventType() string
}

// Command is an instruction to one aggregate instance; AggregateID names its stream id.
type Command interface {
	AggregateID() string
}

// Stream categories; an aggregate's stream is "<category>-<id>".
const (
	CategoryProduct   = "product"
	CategoryCart      = "cart"
	CategoryInventory = "inventory" // id is the SKU
	CategoryOrder     = "order"
	CategoryPayment   = "payment"
	CategoryPromotion = "promotion" // id is the coupon code
)

// Decider bundles an aggregate's pure functions so the command runtime can handle every
// aggregate alike: fold the stream with Fold (starting from the zero state), call Decide,
// append the events at the version read.
type Decider[S any, C Command] struct {
	Category string
	// Decide turns a command into events (possibly none: an idempotent repeat) or an error.
	Decide func(state S, cmd C, now time.Time) ([]Event, error)
	// Evolve applies one event; it never fails and ignores events it does not know.
	Evolve func(state S, event Event) S
	// Fold applies events in order; equal to repeated Evolve, but copies the state once.
	Fold func(state S, events []Event) S
}

// StreamName is the stream of the aggregate with the given id.
func (d Decider[S, C]) StreamName(id string) string { return d.Category + "-" + id }

// aggregate is implemented by every state type: clone deep-copies what apply may mutate,
// apply mutates the receiver in place. Evolve and Fold stay pure by cloning first.
type aggregate[S any] interface {
	*S
	clone() S
	apply(Event)
}

func evolve[S any, P aggregate[S]](s S, e Event) S {
	c := P(&s).clone()
	P(&c).apply(e)
	return c
}

func fold[S any, P aggregate[S]](s S, events []Event) S {
	c := P(&s).clone()
	for _, e := range events {
		P(&c).apply(e)
	}
	return c
}

func newDecider[S any, C Command, P aggregate[S]](category string, decide func(S, C, time.Time) ([]Event, error)) Decider[S, C] {
	return Decider[S, C]{Category: category, Decide: decide, Evolve: evolve[S, P], Fold: fold[S, P]}
}

// cloneMap copies a map (nil stays nil).
func cloneMap[K comparable, V any](m map[K]V) map[K]V {
	if m == nil {
		return nil
	}
	c := make(map[K]V, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// cloneSlice copies a slice (nil stays nil).
func cloneSlice[T any](s []T) []T {
	if s == nil {
		return nil
	}
	return append(make([]T, 0, len(s)), s...)
}
