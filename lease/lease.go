// Package lease gives singleton work (the bus forwarder, a projection, the saga's
// recovery scan and TTL sweeper) to one replica at a time. On PostgreSQL a lease is a
// session advisory lock on a dedicated connection: it goes with the connection when the
// holder dies, so another replica takes over as soon as it next tries. On SQLite the
// process owns the database file, so a lease is a name held in memory.
package lease

import (
	"context"
	"errors"
	"hash/fnv"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Lease is the right to do one piece of singleton work until Lost is closed or it is
// released.
type Lease struct {
	lost    chan struct{}
	release func()
}

// Lost is closed when the lease can no longer be vouched for (its connection failed):
// stop the work, then Release.
func (l *Lease) Lost() <-chan struct{} { return l.lost }

// Release gives the lease up; it is idempotent.
func (l *Lease) Release() { l.release() }

// Locker hands out leases by name. TryAcquire returns (nil, nil) when another holder has
// the lease.
type Locker interface {
	TryAcquire(ctx context.Context, name string) (*Lease, error)
}

// Local is a Locker for one process (SQLite, tests).
type Local struct {
	mu   sync.Mutex
	held map[string]bool
}

// NewLocal returns an in-process Locker.
func NewLocal() *Local { return &Local{held: map[string]bool{}} }

// TryAcquire implements Locker.
func (l *Local) TryAcquire(_ context.Context, name string) (*Lease, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held[name] {
		return nil, nil
	}
	l.held[name] = true
	var once sync.Once
	return &Lease{lost: make(chan struct{}), release: func() {
		once.Do(func() {
			l.mu.Lock()
			delete(l.held, name)
			l.mu.Unlock()
		})
	}}, nil
}

// Postgres is a Locker on PostgreSQL advisory locks.
type Postgres struct {
	cfg       *pgx.ConnConfig
	namespace string
	check     time.Duration
	log       *slog.Logger
}

// PostgresOptions tune a Postgres locker.
type PostgresOptions struct {
	// Namespace is mixed into the lock keys (e.g. the schema), so that engines sharing a
	// database do not exclude each other.
	Namespace string
	// Check is how often the holder pings its lease connection (default 1s): a lost
	// connection is noticed within it.
	Check  time.Duration
	Logger *slog.Logger
}

// NewPostgres returns a Locker that connects with cfg for each lease.
func NewPostgres(cfg *pgx.ConnConfig, opt PostgresOptions) *Postgres {
	if opt.Check <= 0 {
		opt.Check = time.Second
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	return &Postgres{cfg: cfg, namespace: opt.Namespace, check: opt.Check, log: opt.Logger}
}

// Key is the advisory lock key of a lease name in a namespace.
func Key(namespace, name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("orderengine:" + namespace + ":" + name))
	return int64(h.Sum64())
}

// TryAcquire implements Locker.
func (p *Postgres) TryAcquire(ctx context.Context, name string) (*Lease, error) {
	return TryPostgres(ctx, p.cfg, Key(p.namespace, "lease:"+name), p.check, p.log)
}

// TryPostgres takes advisory lock key on a new connection made with cfg, or returns
// (nil, nil) when another session holds it. The connection is pinged every check; the
// lease is lost when a ping fails.
func TryPostgres(ctx context.Context, cfg *pgx.ConnConfig, key int64, check time.Duration, log *slog.Logger) (*Lease, error) {
	conn, err := pgx.ConnectConfig(ctx, cfg.Copy())
	if err != nil {
		return nil, err
	}
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&ok); err != nil || !ok {
		conn.Close(context.Background())
		return nil, err
	}
	l := &Lease{lost: make(chan struct{})}
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
					log.Warn("lease lost", "key", key, "err", err)
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

// ErrLost is the cause of the context Hold gives fn when the lease is lost.
var ErrLost = errors.New("lease lost")

// HoldOptions tune Hold.
type HoldOptions struct {
	// Retry is how often a standby tries to take the lease (default 1s).
	Retry time.Duration
	// OnStandby is called when another holder has the lease (and on errors taking it,
	// with the error); OnAcquired when this process took it.
	OnStandby  func(err error)
	OnAcquired func()
}

// Hold runs fn whenever this process holds the named lease, until ctx ends: it waits
// for the lease, runs fn with a context cancelled (cause ErrLost) when the lease is
// lost, releases it when fn returns and, unless ctx ended, tries again. fn's error is
// returned unless it is only the lease's loss.
func Hold(ctx context.Context, l Locker, name string, opt HoldOptions, fn func(ctx context.Context) error) error {
	if opt.Retry <= 0 {
		opt.Retry = time.Second
	}
	for {
		ls, err := l.TryAcquire(ctx, name)
		if ctx.Err() != nil {
			if ls != nil {
				ls.Release()
			}
			return nil
		}
		if ls == nil {
			if opt.OnStandby != nil {
				opt.OnStandby(err)
			}
			t := time.NewTimer(opt.Retry)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
			continue
		}
		if opt.OnAcquired != nil {
			opt.OnAcquired()
		}
		hctx, cancel := context.WithCancelCause(ctx)
		stop := make(chan struct{})
		go func() {
			select {
			case <-ls.Lost():
				cancel(ErrLost)
			case <-stop:
			}
		}()
		err = fn(hctx)
		close(stop)
		lost := errors.Is(context.Cause(hctx), ErrLost)
		cancel(nil)
		ls.Release()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil && !lost {
			return err
		}
		if lost {
			// Give a healthy replica the first chance at the lease.
			t := time.NewTimer(opt.Retry)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
		}
	}
}
