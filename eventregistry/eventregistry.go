// Package eventregistry builds the one registry of every event type in the log: the
// domain's aggregates, the command side's bookkeeping (SKU claims), the checkout request
// and the checkout saga, and the bus forwarder's checkpoints. The application builds it
// once (New) and hands it to whoever encodes or decodes events; components check at
// construction that it knows what they write, and nothing registers anything later.
package eventregistry

import (
	"slices"

	"github.com/orderengine/orderengine/bus"
	"github.com/orderengine/orderengine/checkout"
	"github.com/orderengine/orderengine/checkout/request"
	"github.com/orderengine/orderengine/commands"
	"github.com/orderengine/orderengine/domain"
)

// Events lists every event type outside package domain, at schema version 1.
func Events() []domain.Event {
	return slices.Concat(commands.Events(), request.Events(), checkout.Events(), []domain.Event{bus.Checkpoint{}})
}

// New returns a registry holding every event type of the log, with the domain's
// upcasters. Two packages claiming one event name is a programming error that every
// test run catches, so it panics.
func New() *domain.Registry {
	r := domain.NewDomainRegistry()
	if err := r.RegisterAll(Events()...); err != nil {
		panic(err)
	}
	return r
}
