package domain

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
)

// Upcaster rewrites the JSON of an event from one schema version to the next.
type Upcaster func(data []byte) ([]byte, error)

type registration struct {
	name      string
	version   int
	typ       reflect.Type
	upcasters map[int]Upcaster // from version v to v+1
}

// Registry maps stable event names and schema versions to Go types. It is safe for
// concurrent use.
type Registry struct {
	mu     sync.RWMutex
	byName map[string]*registration
	byType map[reflect.Type]*registration
}

// NewRegistry returns an empty registry; NewDomainRegistry returns one with every domain event.
func NewRegistry() *Registry {
	return &Registry{byName: map[string]*registration{}, byType: map[reflect.Type]*registration{}}
}

// validEventName accepts "<category>.<name>" in lower snake case, e.g. "cart.item_added".
func validEventName(name string) bool {
	dot := -1
	for i, r := range name {
		switch {
		case r == '.' && dot < 0 && i > 0:
			dot = i
		case r >= 'a' && r <= 'z', r == '_' && i > 0, r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return dot > 0 && dot < len(name)-1 && len(name) <= 128
}

// Register records prototype's struct type under name at the current schema version.
// The name must equal prototype.EventType() so encoding cannot drift from registration.
func (r *Registry) Register(name string, version int, prototype Event) error {
	t := reflect.TypeOf(prototype)
	switch {
	case !validEventName(name):
		return fmt.Errorf("register %q: event names are lower-case \"<category>.<name>\"", name)
	case version < 1:
		return fmt.Errorf("register %q: schema version must be ≥ 1", name)
	case t == nil || t.Kind() != reflect.Struct:
		return fmt.Errorf("register %q: prototype must be a struct value", name)
	case prototype.EventType() != name:
		return fmt.Errorf("register %q: prototype's EventType() is %q", name, prototype.EventType())
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.byName[name]; dup {
		return fmt.Errorf("register %q: name already registered", name)
	}
	if other, dup := r.byType[t]; dup {
		return fmt.Errorf("register %q: type already registered as %q", name, other.name)
	}
	reg := &registration{name: name, version: version, typ: t, upcasters: map[int]Upcaster{}}
	r.byName[name] = reg
	r.byType[t] = reg
	return nil
}

// RegisterUpcaster adds the step that turns version from of event name into from+1.
func (r *Registry) RegisterUpcaster(name string, from int, up Upcaster) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	reg, ok := r.byName[name]
	switch {
	case !ok:
		return fmt.Errorf("upcaster for %q: %w", name, ErrUnknownEvent)
	case from < 1 || from >= reg.version:
		return fmt.Errorf("upcaster for %q: from version %d is not below the current version %d", name, from, reg.version)
	case reg.upcasters[from] != nil:
		return fmt.Errorf("upcaster for %q from version %d already registered", name, from)
	}
	reg.upcasters[from] = up
	return nil
}

// Encode returns an event's stable name, current schema version and JSON.
func (r *Registry) Encode(e Event) (name string, version int, data []byte, err error) {
	r.mu.RLock()
	reg, ok := r.byType[reflect.TypeOf(e)]
	r.mu.RUnlock()
	if !ok {
		return "", 0, nil, fmt.Errorf("%w: Go type %T is not registered", ErrUnknownEvent, e)
	}
	data, err = json.Marshal(e)
	if err != nil {
		return "", 0, nil, fmt.Errorf("encode %s: %w", reg.name, err)
	}
	return reg.name, reg.version, data, nil
}

// Decode turns stored JSON back into the registered struct (a value, not a pointer),
// upcasting older schema versions step by step. Unknown fields are ignored.
func (r *Registry) Decode(name string, version int, data []byte) (Event, error) {
	r.mu.RLock()
	reg, ok := r.byName[name]
	r.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownEvent, name)
	}
	if version < 1 || version > reg.version {
		return nil, fmt.Errorf("%w: %q schema version %d (this build knows 1–%d)", ErrUnknownEvent, name, version, reg.version)
	}
	for v := version; v < reg.version; v++ {
		r.mu.RLock()
		up := reg.upcasters[v]
		r.mu.RUnlock()
		if up == nil {
			return nil, fmt.Errorf("%w: no upcaster for %q from schema version %d", ErrUnknownEvent, name, v)
		}
		var err error
		if data, err = up(data); err != nil {
			return nil, fmt.Errorf("upcast %q from version %d: %w", name, v, err)
		}
	}
	if !bytes.HasPrefix(bytes.TrimSpace(data), []byte("{")) {
		return nil, fmt.Errorf("decode %q: data is not a JSON object", name)
	}
	ptr := reflect.New(reg.typ)
	if err := json.Unmarshal(data, ptr.Interface()); err != nil {
		return nil, fmt.Errorf("decode %q: %w", name, err)
	}
	return ptr.Elem().Interface().(Event), nil
}

// Names lists the registered event names, sorted.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return sortedKeys(r.byName)
}

// Version returns the current schema version of an event name.
func (r *Registry) Version(name string) (int, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	reg, ok := r.byName[name]
	if !ok {
		return 0, false
	}
	return reg.version, true
}

// RegisterAll registers each event under its EventType at schema version 1 and reports
// every failure at once.
func (r *Registry) RegisterAll(events ...Event) error {
	var errs []error
	for _, e := range events {
		if err := r.Register(e.EventType(), 1, e); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Knows reports whether e's type is registered under e.EventType(), so a component can
// check at construction that the registry it was given decodes what it writes.
func (r *Registry) Knows(e Event) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	reg, ok := r.byName[e.EventType()]
	return ok && reg.typ == reflect.TypeOf(e)
}

// Prototype returns a zero value of the event type registered under name.
func (r *Registry) Prototype(name string) (Event, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	reg, ok := r.byName[name]
	if !ok {
		return nil, false
	}
	return reflect.Zero(reg.typ).Interface().(Event), true
}

// NewDomainRegistry returns a registry holding every event of this package, with upcasters.
func NewDomainRegistry() *Registry {
	r := NewRegistry()
	for _, et := range domainEvents {
		if err := r.Register(et.proto.EventType(), et.version, et.proto); err != nil {
			panic(err) // a programming error in the table below, caught by every test run
		}
	}
	for _, u := range domainUpcasters {
		if err := r.RegisterUpcaster(u.name, u.from, u.up); err != nil {
			panic(err)
		}
	}
	return r
}

var defaultRegistry = NewDomainRegistry()

// EncodeEvent encodes with the domain registry.
func EncodeEvent(e Event) (name string, version int, data []byte, err error) {
	return defaultRegistry.Encode(e)
}

// DecodeEvent decodes with the domain registry.
func DecodeEvent(name string, version int, data []byte) (Event, error) {
	return defaultRegistry.Decode(name, version, data)
}

// EventNames lists every domain event name, sorted.
func EventNames() []string { return defaultRegistry.Names() }

type eventType struct {
	version int
	proto   Event
}

type upcasterEntry struct {
	name string
	from int
	up   Upcaster
}
