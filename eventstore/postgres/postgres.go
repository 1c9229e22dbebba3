// Package postgres is the PostgreSQL event store (pgx/v5 with pgxpool).
//
// Global positions are derived from transaction ids so that readers of $all never skip an
// event whose transaction commits late: position = xid<<20 | ordinal within the append,
// and $all is only read below the horizon pg_snapshot_xmin(pg_current_snapshot())<<20,
// under which every transaction has finished. See docs/eventstore.md, section
// "PostgreSQL: positions and the gap problem".
package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderengine/orderengine/eventstore"
)

// DefaultSchema is the schema the store's tables live in when Options.Schema is empty.
// A dedicated schema keeps the generic table names (streams, events) out of "public".
const DefaultSchema = "orderengine"

const (
	// ordinalBits is how many low bits of a position hold the event's ordinal within its
	// append; the high bits hold the appending transaction's id.
	ordinalBits = 20
	maxOrdinal  = 1<<ordinalBits - 1

	defaultMaxConns     = 16
	defaultPollInterval = 100 * time.Millisecond
	defaultHeadCache    = 1 << 16
	// notifyEvery is the shortest gap between two cross-process NOTIFYs.
	notifyEvery = 5 * time.Millisecond
	// defaultHorizonWait bounds how long ReadAll and Head wait for transactions older than
	// the newest committed event to finish (see Options.HorizonWait).
	defaultHorizonWait = 2 * time.Second
)

// Options configure the store. The zero value is usable.
type Options struct {
	// Schema holds the store's tables; default DefaultSchema ("orderengine"). It is
	// created by Open (and Migrate) when missing.
	Schema string
	// Limits bound appends. MaxEventsPerAppend may not exceed 1<<20 - 1 (positions keep
	// the ordinal within an append in 20 bits).
	Limits eventstore.Limits
	// Logger receives the store's diagnostics; nil discards them.
	Logger *slog.Logger
	// PollInterval is the longest a caught-up subscriber waits before re-reading the log
	// (default 100ms). Appends in this process wake subscribers at once, and appends in
	// other processes do too through LISTEN/NOTIFY unless DisableNotify is set.
	PollInterval time.Duration
	// MaxConns is the pool size (default 16, or pool_max_conns from the URL).
	MaxConns int32
	// DisableNotify turns off the cross-process wake-ups (one coalesced NOTIFY at most every
	// 5ms after appends, and one LISTEN connection while anyone subscribes). Subscribers
	// then see other processes' appends within PollInterval.
	DisableNotify bool
	// HeadCache is how many streams' last (version, chain hash) the store remembers so
	// that an append with an exact expected version takes one round trip (default 65536;
	// negative disables). The cache is only a hint: the write is conditional on it.
	HeadCache int
	// HorizonWait bounds how long ReadAll and Head wait, when the log has committed events
	// above the visibility horizon, for the older transactions holding it back to finish
	// (default 2s). It gives read-your-writes for $all while other transactions are in
	// flight; a transaction open longer than this makes them return what is visible.
	HorizonWait time.Duration
}

// Store is the PostgreSQL event store. It is safe for concurrent use.
type Store struct {
	pool    *pgxpool.Pool
	schema  string
	channel string
	limits  eventstore.Limits
	log     *slog.Logger
	opt     Options
	q       queries
	heads   *headCache

	notifier eventstore.Notifier
	kick     chan struct{} // wakes the NOTIFY sender
	bgCtx    context.Context
	bgStop   context.CancelFunc
	bg       sync.WaitGroup
	listen   sync.Once
	closed   atomic.Bool
	close    sync.Once
}

var _ eventstore.Store = (*Store)(nil)

// Open connects to the database at url (a postgres:// URL or key=value connection string
// as understood by pgx), creates the schema when missing and returns the store.
func Open(ctx context.Context, url string, opt Options) (*Store, error) {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Schema == "" {
		opt.Schema = DefaultSchema
	}
	if opt.PollInterval <= 0 {
		opt.PollInterval = defaultPollInterval
	}
	if opt.HeadCache == 0 {
		opt.HeadCache = defaultHeadCache
	}
	if opt.HorizonWait <= 0 {
		opt.HorizonWait = defaultHorizonWait
	}
	if opt.Limits.MaxEventsPerAppend > maxOrdinal {
		return nil, fmt.Errorf("postgres event store: MaxEventsPerAppend %d is over the limit of %d", opt.Limits.MaxEventsPerAppend, maxOrdinal)
	}
	if opt.Limits.MaxEventsPerAppend <= 0 {
		opt.Limits.MaxEventsPerAppend = eventstore.DefaultMaxEventsPerAppend
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres event store: parse connection string: %w", err)
	}
	switch {
	case opt.MaxConns > 0:
		cfg.MaxConns = opt.MaxConns
	case !strings.Contains(url, "pool_max_conns"):
		cfg.MaxConns = defaultMaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres event store: connect: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres event store: connect to %s: %w", cfg.ConnConfig.Host, err)
	}
	if err := Migrate(ctx, pool, opt.Schema); err != nil {
		pool.Close()
		return nil, err
	}
	s := &Store{
		pool:    pool,
		schema:  opt.Schema,
		channel: channelName(opt.Schema),
		limits:  opt.Limits,
		log:     opt.Logger.With("component", "eventstore.postgres", "schema", opt.Schema),
		opt:     opt,
		q:       newQueries(opt.Schema),
		heads:   newHeadCache(opt.HeadCache),
		kick:    make(chan struct{}, 1),
	}
	s.bgCtx, s.bgStop = context.WithCancel(context.Background())
	if !opt.DisableNotify {
		s.bg.Add(1)
		go s.sendNotifications()
	}
	return s, nil
}

// Pool is the store's connection pool (for tests, benchmarks and tooling).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Schema is the schema holding the store's tables.
func (s *Store) Schema() string { return s.schema }

// Close stops the store's background work, ends its subscriptions and closes the pool.
func (s *Store) Close() error {
	s.close.Do(func() {
		s.closed.Store(true)
		s.bgStop()
		s.notifier.Notify()
		s.bg.Wait()
		s.pool.Close()
	})
	return nil
}

// channelName is the LISTEN/NOTIFY channel of a schema (at most 63 bytes, an identifier's
// limit).
func channelName(schema string) string {
	name := "orderengine_events." + schema
	if len(name) > 63 {
		sum := sha256.Sum256([]byte(schema))
		name = "orderengine_events." + hex.EncodeToString(sum[:16])
	}
	return name
}

// fail wraps a driver error at the boundary of operation op.
func (s *Store) fail(op string, err error) error {
	if s.closed.Load() {
		return fmt.Errorf("postgres event store: %s: %w", op, eventstore.ErrClosed)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P01" { // undefined_table
		return fmt.Errorf("postgres event store: %s: schema %q is missing its tables (run orderengine migrate): %w", op, s.schema, err)
	}
	return fmt.Errorf("postgres event store: %s: %w", op, err)
}

// sendNotifications wakes subscribers in other processes: after appends it sends one
// NOTIFY, at most every notifyEvery, in its own transaction (a NOTIFY inside an append's
// transaction would serialize the commits of all appends on the notification queue lock).
func (s *Store) sendNotifications() {
	defer s.bg.Done()
	ctx := s.bgCtx
	t := time.NewTimer(notifyEvery)
	t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
		}
		if _, err := s.pool.Exec(ctx, "SELECT pg_notify($1, '')", s.channel); err != nil && ctx.Err() == nil {
			s.log.Warn("notify subscribers", "err", err)
		}
		t.Reset(notifyEvery)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// appended wakes subscribers after a successful append.
func (s *Store) appended() {
	s.notifier.Notify()
	if !s.opt.DisableNotify {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
}

// startListener starts, once, the goroutine that LISTENs for other processes' appends.
func (s *Store) startListener() {
	if s.opt.DisableNotify {
		return
	}
	s.listen.Do(func() {
		s.bg.Add(1)
		go s.listenLoop()
	})
}

func (s *Store) listenLoop() {
	defer s.bg.Done()
	ctx := s.bgCtx
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := s.listenOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("listen for appends of other processes; subscribers fall back to polling", "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

func (s *Store) listenOnce(ctx context.Context) error {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{s.channel}.Sanitize()); err != nil {
		return err
	}
	// Appends may have happened while not listening.
	s.notifier.Notify()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		s.notifier.Notify()
	}
}
