package projections

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// lease is the right to run one projection (or one rebuild). lost is closed when the
// lease can no longer be vouched for (its PostgreSQL connection failed).
type lease struct {
	lost    chan struct{}
	release func()
}

// tryLease takes the named lease if nobody holds it; it returns nil when another holder
// has it. PostgreSQL: pg_try_advisory_lock on a dedicated connection, checked every
// check interval; the lock goes with the connection when the holder dies. SQLite: the
// process owns the database, so the lease is a name held in memory.
func (db *DB) tryLease(ctx context.Context, name string, check time.Duration) (*lease, error) {
	if !db.d.IsPostgres() {
		db.mu.Lock()
		defer db.mu.Unlock()
		if db.leases[name] {
			return nil, nil
		}
		db.leases[name] = true
		var once sync.Once
		return &lease{lost: make(chan struct{}), release: func() {
			once.Do(func() {
				db.mu.Lock()
				delete(db.leases, name)
				db.mu.Unlock()
			})
		}}, nil
	}
	conn, err := pgx.ConnectConfig(ctx, db.pgCfg)
	if err != nil {
		return nil, err
	}
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, db.lockKey("lease:"+name)).Scan(&ok); err != nil || !ok {
		conn.Close(context.Background())
		return nil, err
	}
	l := &lease{lost: make(chan struct{})}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(check)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				pctx, cancel := context.WithTimeout(context.Background(), max(check, time.Second))
				err := conn.Ping(pctx)
				cancel()
				if err != nil {
					db.log.Warn("projection lease lost", "lease", name, "err", err)
					close(l.lost)
					return
				}
			}
		}
	}()
	var once sync.Once
	l.release = func() {
		once.Do(func() {
			close(stop)
			<-done
			conn.Close(context.Background()) // ends the session and with it the lock
		})
	}
	return l, nil
}
