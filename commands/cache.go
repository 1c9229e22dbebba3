package commands

import (
	"container/list"
	"sync"

	"github.com/google/uuid"
)

// streamCache remembers the folded state of recently used streams, so a command reads
// only the events appended since (by anyone: the store stays the truth) instead of
// re-reading and re-folding a stream's whole history. Hot aggregates such as a popular
// SKU's stock grow with every order; without it each command costs their whole history.
//
// Entries only move forward: states are immutable values (deciders' Fold clones before
// applying), and a stream's event ids, once recorded, stay true, so sharing them is safe.
type streamCache struct {
	mu      sync.Mutex
	max     int
	entries map[string]*list.Element
	lru     list.List // of *cacheEntry, most recent first
}

type cacheEntry struct {
	stream   string
	state    any
	version  uint64
	position uint64
	// ids of every event of the stream up to version; grows only, guarded by the cache's mutex.
	ids map[uuid.UUID]struct{}
}

func newStreamCache(max int) *streamCache {
	if max <= 0 {
		return nil
	}
	return &streamCache{max: max, entries: map[string]*list.Element{}}
}

// get returns a stream's cached state, version and position.
func (c *streamCache) get(stream string) (state any, version, position uint64, ok bool) {
	if c == nil {
		return nil, 0, 0, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[stream]
	if !ok {
		return nil, 0, 0, false
	}
	c.lru.MoveToFront(el)
	e := el.Value.(*cacheEntry)
	return e.state, e.version, e.position, true
}

// has reports whether the stream is known to hold an event with id.
func (c *streamCache) has(stream string, id uuid.UUID) bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[stream]; ok {
		_, found := el.Value.(*cacheEntry).ids[id]
		return found
	}
	return false
}

// put records a stream's state at version, with the ids of the events read since from
// (the version the caller started from, 0 for a full read). A put that is not ahead of
// the entry, or does not continue it, is ignored (or restarts the entry for a full read).
func (c *streamCache) put(stream string, state any, from, version, position uint64, newIDs []uuid.UUID) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[stream]; ok {
		e := el.Value.(*cacheEntry)
		c.lru.MoveToFront(el)
		if version <= e.version {
			return
		}
		if from == 0 {
			e.ids = make(map[uuid.UUID]struct{}, len(newIDs))
		} else if from != e.version+1 {
			return // built on a state other than this entry's
		}
		for _, id := range newIDs {
			e.ids[id] = struct{}{}
		}
		e.state, e.version, e.position = state, version, position
		return
	}
	if from != 0 {
		return // the ids of earlier events are unknown
	}
	e := &cacheEntry{stream: stream, state: state, version: version, position: position, ids: make(map[uuid.UUID]struct{}, len(newIDs))}
	for _, id := range newIDs {
		e.ids[id] = struct{}{}
	}
	c.entries[stream] = c.lru.PushFront(e)
	for c.lru.Len() > c.max {
		old := c.lru.Back()
		c.lru.Remove(old)
		delete(c.entries, old.Value.(*cacheEntry).stream)
	}
}

// clear forgets every entry.
func (c *streamCache) clear() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.entries)
	c.lru.Init()
}
