package postgres

import "sync"

// headCache remembers, per stream, the highest version this process has seen and that
// event's chain hash. An entry can be stale — the stream has moved on, or was deleted (and
// perhaps recreated) by DeleteStream — so appends use it only as the condition of a
// conditional write on the head row, which fails harmlessly when the entry is stale.
type headCache struct {
	mu  sync.Mutex
	max int
	m   map[string]cachedHead
}

type cachedHead struct {
	version uint64
	hash    [32]byte
}

// newHeadCache returns a cache of at most size streams; size < 0 disables it.
func newHeadCache(size int) *headCache {
	if size < 0 {
		return &headCache{}
	}
	return &headCache{max: size, m: make(map[string]cachedHead, min(size, 1024))}
}

// get returns the chain hash of stream's event version if that is the newest known.
func (c *headCache) get(stream string, version uint64) ([32]byte, bool) {
	if c.max <= 0 {
		return [32]byte{}, false
	}
	c.mu.Lock()
	h, ok := c.m[stream]
	c.mu.Unlock()
	if !ok || h.version != version {
		return [32]byte{}, false
	}
	return h.hash, true
}

// put records that stream's event version has chain hash hash.
func (c *headCache) put(stream string, version uint64, hash [32]byte) {
	if c.max <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if h, ok := c.m[stream]; ok {
		if h.version < version {
			c.m[stream] = cachedHead{version, hash}
		}
		return
	}
	if len(c.m) >= c.max {
		// Evict an arbitrary eighth (map iteration order is random enough for a hint).
		n := c.max/8 + 1
		for k := range c.m {
			delete(c.m, k)
			if n--; n == 0 {
				break
			}
		}
	}
	c.m[stream] = cachedHead{version, hash}
}

func (c *headCache) forget(stream string) {
	if c.max <= 0 {
		return
	}
	c.mu.Lock()
	delete(c.m, stream)
	c.mu.Unlock()
}
