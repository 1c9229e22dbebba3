package projections

import (
	"context"
	"sync"
	"time"

	sharedlease "github.com/orderengine/orderengine/lease"
)

// tryLease takes the named lease if nobody holds it; it returns nil when another holder
// has it. PostgreSQL: an advisory lock on a dedicated connection (package lease), checked
// every check interval; the lock goes with the connection when the holder dies. SQLite:
// the process owns the database, so the lease is a name held in memory.
func (db *DB) tryLease(ctx context.Context, name string, check time.Duration) (*Lease, error) {
	if !db.d.IsPostgres() {
		db.mu.Lock()
		defer db.mu.Unlock()
		if db.leases[name] {
			return nil, nil
		}
		db.leases[name] = true
		var once sync.Once
		return &Lease{Lost: make(chan struct{}), Release: func() {
			once.Do(func() {
				db.mu.Lock()
				delete(db.leases, name)
				db.mu.Unlock()
			})
		}}, nil
	}
	l, err := sharedlease.TryPostgres(ctx, db.pgCfg, db.lockKey("lease:"+name), check, db.log)
	if l == nil || err != nil {
		return nil, err
	}
	return &Lease{Lost: l.Lost(), Release: l.Release}, nil
}
