package webhooks

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
)

// Lease is the right to deliver: one replica holds it, the others wait. Acquire blocks
// until the lease is held or ctx ends; lost is closed if the holder can no longer vouch
// for it (its database connection failed), and release gives it back.
type Lease interface {
	Acquire(ctx context.Context) (lost <-chan struct{}, release func(), err error)
}

// LocalLease is a lease within one process: the embedded (SQLite) tier, where one process
// owns the database file.
type LocalLease struct{ ch chan struct{} }

// NewLocalLease returns a free local lease.
func NewLocalLease() *LocalLease { return &LocalLease{ch: make(chan struct{}, 1)} }

// Acquire implements Lease.
func (l *LocalLease) Acquire(ctx context.Context) (<-chan struct{}, func(), error) {
	select {
	case l.ch <- struct{}{}:
		return nil, func() { <-l.ch }, nil
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
}

// PostgresLease is a session advisory lock on a dedicated connection: held while the
// connection lives, so a crashed or partitioned holder loses it and another replica takes
// over.
type PostgresLease struct {
	// URL of the PostgreSQL database (any database the replicas share).
	URL string
	// Name of the lease (default "webhooks").
	Name string
	// Retry is how often a waiting replica tries (default 2 s); Check how often the holder
	// checks its connection (default 2 s).
	Retry, Check time.Duration
	Logger       *slog.Logger
}

func (l *PostgresLease) key() int64 {
	h := fnv.New64a()
	name := l.Name
	if name == "" {
		name = "webhooks"
	}
	h.Write([]byte("orderengine:lease:" + name))
	return int64(h.Sum64())
}

// Acquire implements Lease.
func (l *PostgresLease) Acquire(ctx context.Context) (<-chan struct{}, func(), error) {
	retry, check := l.Retry, l.Check
	if retry <= 0 {
		retry = 2 * time.Second
	}
	if check <= 0 {
		check = 2 * time.Second
	}
	log := l.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for {
		conn, err := pgx.Connect(ctx, l.URL)
		if err == nil {
			var ok bool
			err = conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, l.key()).Scan(&ok)
			if err == nil && ok {
				return l.hold(conn, check, log)
			}
			conn.Close(context.WithoutCancel(ctx))
		}
		if err != nil && ctx.Err() == nil {
			log.Warn("webhooks lease: cannot reach PostgreSQL", "err", err)
		}
		if !sleep(ctx, retry) {
			return nil, nil, ctx.Err()
		}
	}
}

func (l *PostgresLease) hold(conn *pgx.Conn, check time.Duration, log *slog.Logger) (<-chan struct{}, func(), error) {
	lost := make(chan struct{})
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
				ctx, cancel := context.WithTimeout(context.Background(), check)
				err := conn.Ping(ctx)
				cancel()
				if err != nil {
					log.Warn("webhooks lease lost", "err", err)
					close(lost)
					return
				}
			}
		}
	}()
	release := func() {
		close(stop)
		<-done
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _ = conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, l.key())
		_ = conn.Close(ctx)
	}
	return lost, release, nil
}

// errLeaseURL is returned for an empty URL.
var errLeaseURL = errors.New("webhooks: PostgresLease.URL is empty")

// Validate checks the configuration.
func (l *PostgresLease) Validate() error {
	if l.URL == "" {
		return errLeaseURL
	}
	if _, err := pgx.ParseConfig(l.URL); err != nil {
		return fmt.Errorf("webhooks lease: %w", err)
	}
	return nil
}
