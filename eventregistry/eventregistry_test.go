package eventregistry_test

import (
	"testing"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/eventregistry"
)

func TestNewKnowsEveryEvent(t *testing.T) {
	r := eventregistry.New()
	for _, e := range eventregistry.Events() {
		if !r.Knows(e) {
			t.Errorf("%s (%T) missing", e.EventType(), e)
		}
	}
	for _, name := range domain.EventNames() {
		if _, ok := r.Prototype(name); !ok {
			t.Errorf("domain event %s missing", name)
		}
	}
	// Each call builds a fresh registry: nothing is shared or mutated behind a caller.
	if eventregistry.New() == r {
		t.Fatal("New returned a shared registry")
	}
	if got, want := len(r.Names()), len(domain.EventNames())+len(eventregistry.Events()); got != want {
		t.Fatalf("%d names, want %d", got, want)
	}
}
