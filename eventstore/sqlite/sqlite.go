// Package sqlite is the embedded event store: one SQLite file (modernc.org/sqlite, pure Go)
// in WAL mode. SQLite has one writer at a time, so global positions (the rowid) are
// assigned and committed in the same order and readers can never observe a gap.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	_ "modernc.org/sqlite" // database/sql driver "sqlite"

	"github.com/orderengine/orderengine/eventstore"
)

// Options configure the store. The zero value is usable.
type Options struct {
	Limits eventstore.Limits
	Logger *slog.Logger
	// Synchronous is SQLite's synchronous pragma: "NORMAL" (default) makes an acknowledged
	// append survive a crash of the process (kill -9); "FULL" also survives power loss at
	// the cost of an fsync per commit.
	Synchronous string
	// PollInterval bounds how long a subscriber waits to see appends made by another
	// process on the same file (default 100ms); appends in this process wake it at once.
	PollInterval time.Duration
	// Now is the clock for recorded times (default time.Now).
	Now func() time.Time
}

// Store is the SQLite event store.
type Store struct {
	write  *sql.DB // one connection: SQLite has a single writer
	read   *sql.DB
	opt    Options
	notify eventstore.Notifier
	mu     sync.Mutex // serializes appends in this process, so none waits on SQLITE_BUSY
	closed chan struct{}
	once   sync.Once
	// stmts caches prepared statements by SQL text: parsing dominates small statements.
	stmts sync.Map // map[string]*sql.Stmt
}

// stmt returns db's prepared statement for query, preparing it once.
func (s *Store) stmt(ctx context.Context, db *sql.DB, query string) (*sql.Stmt, error) {
	key := query
	if db == s.write {
		key = "w:" + query
	}
	if st, ok := s.stmts.Load(key); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := s.stmts.LoadOrStore(key, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

// txStmt is a write statement prepared at Open, bound to tx.
func (s *Store) txStmt(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	st, ok := s.stmts.Load("w:" + query)
	if !ok {
		return nil, fmt.Errorf("statement not prepared: %s", query)
	}
	return tx.StmtContext(ctx, st.(*sql.Stmt)), nil
}

var (
	_ eventstore.Store         = (*Store)(nil)
	_ eventstore.MultiAppender = (*Store)(nil)
	_ eventstore.StreamDeleter = (*Store)(nil)
)

const schema = `
CREATE TABLE IF NOT EXISTS streams (
	stream_id TEXT PRIMARY KEY,
	version   INTEGER NOT NULL,
	last_hash BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
	position    INTEGER PRIMARY KEY,
	stream_id   TEXT NOT NULL,
	version     INTEGER NOT NULL,
	event_id    BLOB NOT NULL,
	type        TEXT NOT NULL,
	data        BLOB NOT NULL,
	metadata    BLOB NOT NULL,
	recorded_at INTEGER NOT NULL,
	UNIQUE (stream_id, version)
);
CREATE INDEX IF NOT EXISTS events_type ON events (type, position);
`

// Open opens (creating if needed) the event store in the SQLite file at path.
func Open(ctx context.Context, path string, opt Options) (*Store, error) {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	sync := strings.ToUpper(opt.Synchronous)
	switch sync {
	case "":
		sync = "NORMAL"
	case "NORMAL", "FULL", "EXTRA":
	default:
		return nil, fmt.Errorf("sqlite event store: synchronous must be NORMAL, FULL or EXTRA, not %q", opt.Synchronous)
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous("+sync+")")
	q.Set("_txlock", "immediate")
	dsn := "file:" + path + "?" + q.Encode()

	write, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite event store: open %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	write.SetConnMaxIdleTime(0)
	if _, err := write.ExecContext(ctx, schema); err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlite event store: create schema in %s: %w", path, err)
	}
	read, err := sql.Open("sqlite", dsn)
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlite event store: open %s: %w", path, err)
	}
	read.SetMaxOpenConns(8)
	read.SetMaxIdleConns(8)
	s := &Store{write: write, read: read, opt: opt, closed: make(chan struct{})}
	// The write statements are prepared now: the writer has a single connection, which an
	// append's transaction holds, so they could not be prepared during one.
	for _, q := range []string{sqlSelectHead, sqlInsertEvent, sqlUpsertStream} {
		if _, err := s.stmt(ctx, write, q); err != nil {
			s.Close()
			return nil, fmt.Errorf("sqlite event store: prepare: %w", err)
		}
	}
	return s, nil
}

const (
	sqlSelectHead   = `SELECT version, last_hash FROM streams WHERE stream_id = ?`
	sqlInsertEvent  = `INSERT INTO events (stream_id, version, event_id, type, data, metadata, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?)`
	sqlUpsertStream = `INSERT INTO streams (stream_id, version, last_hash) VALUES (?, ?, ?)
		ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version, last_hash = excluded.last_hash`
)

// Close closes the database.
func (s *Store) Close() error {
	var err error
	s.once.Do(func() {
		close(s.closed)
		s.notify.Notify()
		s.stmts.Range(func(_, v any) bool {
			v.(*sql.Stmt).Close()
			return true
		})
		err = errors.Join(s.read.Close(), s.write.Close())
	})
	return err
}

// DB is the write handle, for tests and tools that need to reach behind the store.
func (s *Store) DB() *sql.DB { return s.write }

func (s *Store) isClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

// Append implements eventstore.Store.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	if err := eventstore.Validate(s.opt.Limits, stream, events); err != nil {
		return eventstore.AppendResult{}, err
	}
	if s.isClosed() {
		return eventstore.AppendResult{}, eventstore.ErrClosed
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	res, written, err := s.appendTx(ctx, stream, expected, events)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	if written {
		s.notify.Notify()
	}
	return res, nil
}

func (s *Store) appendTx(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events []eventstore.EventData) (res eventstore.AppendResult, written bool, err error) {
	rs, written, err := s.appendParts(ctx, []eventstore.StreamAppend{{Stream: stream, Expected: expected, Events: events}})
	if err != nil {
		return res, false, err
	}
	return rs[0], written, nil
}

// AppendMulti implements eventstore.MultiAppender: every part in one transaction, so the
// events of all parts take consecutive rowids (positions) and commit together.
func (s *Store) AppendMulti(ctx context.Context, parts ...eventstore.StreamAppend) ([]eventstore.AppendResult, error) {
	if err := eventstore.ValidateMulti(s.opt.Limits, parts); err != nil {
		return nil, err
	}
	if s.isClosed() {
		return nil, eventstore.ErrClosed
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	res, written, err := s.appendParts(ctx, parts)
	if err != nil {
		return nil, err
	}
	if written {
		s.notify.Notify()
	}
	return res, nil
}

// appendParts appends every part in one transaction, or nothing if any part fails. A part
// already stored where it would go (an idempotent retry) writes nothing and reports the
// original result.
func (s *Store) appendParts(ctx context.Context, parts []eventstore.StreamAppend) (res []eventstore.AppendResult, written bool, err error) {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, false, fmt.Errorf("sqlite event store: begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	head, err := s.txStmt(ctx, tx, sqlSelectHead)
	if err != nil {
		return nil, false, fmt.Errorf("sqlite event store: prepare: %w", err)
	}
	insert, err := s.txStmt(ctx, tx, sqlInsertEvent)
	if err != nil {
		return nil, false, fmt.Errorf("sqlite event store: prepare insert: %w", err)
	}
	upsert, err := s.txStmt(ctx, tx, sqlUpsertStream)
	if err != nil {
		return nil, false, fmt.Errorf("sqlite event store: prepare: %w", err)
	}
	now := s.opt.Now().UnixNano()
	res = make([]eventstore.AppendResult, len(parts))
	for i, p := range parts {
		r, w, err := s.appendPart(ctx, tx, head, insert, upsert, now, p.Stream, p.Expected, p.Events)
		if err != nil {
			return nil, false, err
		}
		res[i], written = r, written || w
	}
	if err := tx.Commit(); err != nil {
		return nil, false, fmt.Errorf("sqlite event store: commit: %w", err)
	}
	return res, written, nil
}

func (s *Store) appendPart(ctx context.Context, tx *sql.Tx, head, insert, upsert *sql.Stmt, now int64, stream string, expected eventstore.ExpectedVersion, events []eventstore.EventData) (res eventstore.AppendResult, written bool, err error) {
	var (
		version  int64
		lastHash []byte
		exists   = true
	)
	err = head.QueryRowContext(ctx, stream).Scan(&version, &lastHash)
	if errors.Is(err, sql.ErrNoRows) {
		exists, err = false, nil
	}
	if err != nil {
		return res, false, fmt.Errorf("sqlite event store: read %s: %w", stream, err)
	}
	holds := expected.Check(exists, uint64(version))
	if !holds || ((expected.IsAny() || expected.IsStreamExists()) && exists) {
		// A retry of an append that already landed is a no-op returning the first result.
		if r, ok, ierr := s.alreadyAppended(ctx, tx, stream, expected, events); ierr != nil {
			return res, false, ierr
		} else if ok {
			return r, false, nil
		}
		if !holds {
			return res, false, &eventstore.WrongExpectedVersionError{Stream: stream, Expected: expected, Actual: uint64(version), StreamExists: exists}
		}
	}
	var prev [32]byte
	copy(prev[:], lastHash)
	prepared := eventstore.Chain(prev, events)
	next := int64(0)
	if exists {
		next = version + 1
	}
	var pos int64
	for i, e := range prepared {
		r, err := insert.ExecContext(ctx, stream, next+int64(i), e.ID[:], e.Type, e.Data, e.Metadata, now)
		if err != nil {
			return res, false, fmt.Errorf("sqlite event store: insert into %s: %w", stream, err)
		}
		if pos, err = r.LastInsertId(); err != nil {
			return res, false, fmt.Errorf("sqlite event store: insert into %s: %w", stream, err)
		}
	}
	last := next + int64(len(prepared)) - 1
	hash := prepared[len(prepared)-1].Hash
	if _, err := upsert.ExecContext(ctx, stream, last, hash[:]); err != nil {
		return res, false, fmt.Errorf("sqlite event store: update %s: %w", stream, err)
	}
	return eventstore.AppendResult{Version: uint64(last), Position: uint64(pos)}, true, nil
}

// DeleteStream implements eventstore.StreamDeleter in one write transaction.
func (s *Store) DeleteStream(ctx context.Context, stream string, expected eventstore.ExpectedVersion) (err error) {
	if err := eventstore.ValidateDelete(stream, expected); err != nil {
		return err
	}
	if s.isClosed() {
		return eventstore.ErrClosed
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite event store: begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	var version int64
	var hash []byte
	exists := true
	head, err := s.txStmt(ctx, tx, sqlSelectHead)
	if err != nil {
		return fmt.Errorf("sqlite event store: prepare: %w", err)
	}
	err = head.QueryRowContext(ctx, stream).Scan(&version, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		exists, err = false, nil
	}
	if err != nil {
		return fmt.Errorf("sqlite event store: read %s: %w", stream, err)
	}
	switch {
	case !exists && expected.IsAny():
		return fmt.Errorf("%w: %s", eventstore.ErrStreamNotFound, stream)
	case !expected.Check(exists, uint64(version)):
		return &eventstore.WrongExpectedVersionError{Stream: stream, Expected: expected, Actual: uint64(version), StreamExists: exists}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM events WHERE stream_id = ?`, stream); err != nil {
		return fmt.Errorf("sqlite event store: delete %s: %w", stream, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM streams WHERE stream_id = ?`, stream); err != nil {
		return fmt.Errorf("sqlite event store: delete %s: %w", stream, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite event store: commit: %w", err)
	}
	return nil
}

// alreadyAppended reports whether events are already stored, in order and contiguously,
// where this append would have put them (right after expected), or anywhere in the stream
// for Any and StreamExists.
func (s *Store) alreadyAppended(ctx context.Context, tx *sql.Tx, stream string, expected eventstore.ExpectedVersion, events []eventstore.EventData) (eventstore.AppendResult, bool, error) {
	var first int64
	switch {
	case expected.IsNoStream():
		first = 0
	case expected.IsAny(), expected.IsStreamExists():
		err := tx.QueryRowContext(ctx, `SELECT version FROM events WHERE stream_id = ? AND event_id = ?`, stream, events[0].ID[:]).Scan(&first)
		if errors.Is(err, sql.ErrNoRows) {
			return eventstore.AppendResult{}, false, nil
		}
		if err != nil {
			return eventstore.AppendResult{}, false, fmt.Errorf("sqlite event store: idempotency check: %w", err)
		}
	default:
		n, _ := expected.Exact()
		first = int64(n) + 1
	}
	rows, err := tx.QueryContext(ctx, `SELECT event_id, version, position FROM events WHERE stream_id = ? AND version >= ? ORDER BY version LIMIT ?`, stream, first, len(events))
	if err != nil {
		return eventstore.AppendResult{}, false, fmt.Errorf("sqlite event store: idempotency check: %w", err)
	}
	defer rows.Close()
	var res eventstore.AppendResult
	i := 0
	for ; rows.Next(); i++ {
		var id []byte
		var version, pos int64
		if err := rows.Scan(&id, &version, &pos); err != nil {
			return res, false, fmt.Errorf("sqlite event store: idempotency check: %w", err)
		}
		if uuid.UUID(id) != events[i].ID {
			return res, false, nil
		}
		res = eventstore.AppendResult{Version: uint64(version), Position: uint64(pos)}
	}
	if err := rows.Err(); err != nil {
		return res, false, fmt.Errorf("sqlite event store: idempotency check: %w", err)
	}
	return res, i == len(events), nil
}

const selectEvents = `SELECT position, stream_id, version, event_id, type, data, metadata, recorded_at FROM events `

func scanEvents(rows *sql.Rows, limit int) ([]eventstore.RecordedEvent, error) {
	defer rows.Close()
	out := make([]eventstore.RecordedEvent, 0, min(limit, 512))
	for rows.Next() {
		var (
			e        eventstore.RecordedEvent
			id       []byte
			recorded int64
		)
		if err := rows.Scan(&e.Position, &e.Stream, &e.Version, &id, &e.Type, &e.Data, &e.Metadata, &recorded); err != nil {
			return nil, fmt.Errorf("sqlite event store: scan: %w", err)
		}
		copy(e.ID[:], id)
		e.RecordedAt = time.Unix(0, recorded)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite event store: read: %w", err)
	}
	return out, nil
}

// ReadStream implements eventstore.Store.
func (s *Store) ReadStream(ctx context.Context, stream string, dir eventstore.Direction, from uint64, limit int) ([]eventstore.RecordedEvent, error) {
	if s.isClosed() {
		return nil, eventstore.ErrClosed
	}
	if limit <= 0 {
		return nil, fmt.Errorf("%w: read limit must be positive", eventstore.ErrInvalidEvent)
	}
	if from > 1<<62 {
		from = 1 << 62 // SQLite integers are signed
	}
	q := selectEvents + `WHERE stream_id = ? AND version >= ? ORDER BY version LIMIT ?`
	if dir == eventstore.Backward {
		q = selectEvents + `WHERE stream_id = ? AND version <= ? ORDER BY version DESC LIMIT ?`
	}
	st, err := s.stmt(ctx, s.read, q)
	if err != nil {
		return nil, fmt.Errorf("sqlite event store: read %s: %w", stream, err)
	}
	rows, err := st.QueryContext(ctx, stream, int64(from), limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite event store: read %s: %w", stream, err)
	}
	evs, err := scanEvents(rows, limit)
	if err != nil {
		return nil, err
	}
	if len(evs) == 0 {
		var one int
		err := s.read.QueryRowContext(ctx, `SELECT 1 FROM streams WHERE stream_id = ?`, stream).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("%w: %s", eventstore.ErrStreamNotFound, stream)
		}
		if err != nil {
			return nil, fmt.Errorf("sqlite event store: read %s: %w", stream, err)
		}
	}
	return evs, nil
}

// ReadAll implements eventstore.Store.
func (s *Store) ReadAll(ctx context.Context, from uint64, limit int, filter eventstore.Filter) ([]eventstore.RecordedEvent, error) {
	evs, _, err := s.readPage(ctx, from, limit, filter)
	return evs, err
}

func (s *Store) readPage(ctx context.Context, from uint64, limit int, filter eventstore.Filter) ([]eventstore.RecordedEvent, uint64, error) {
	if s.isClosed() {
		return nil, 0, eventstore.ErrClosed
	}
	if limit <= 0 {
		return nil, 0, fmt.Errorf("%w: read limit must be positive", eventstore.ErrInvalidEvent)
	}
	where := []string{"position > ?"}
	args := []any{int64(from)}
	if filter.StreamPrefix != "" {
		// Range on the prefix instead of LIKE, whose wildcards would need escaping.
		where = append(where, "stream_id >= ? AND stream_id < ?")
		args = append(args, filter.StreamPrefix, filter.StreamPrefix+"\U0010FFFF")
	}
	if len(filter.EventTypes) > 0 {
		where = append(where, "type IN (?"+strings.Repeat(",?", len(filter.EventTypes)-1)+")")
		for _, t := range filter.EventTypes {
			args = append(args, t)
		}
	}
	// Read the head first, in the same snapshot, so "scanned up to" is exact.
	tx, err := s.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite event store: read all: %w", err)
	}
	defer tx.Rollback()
	var head int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(position), 0) FROM events`).Scan(&head); err != nil {
		return nil, 0, fmt.Errorf("sqlite event store: read all: %w", err)
	}
	args = append(args, limit)
	rows, err := tx.QueryContext(ctx, selectEvents+"WHERE "+strings.Join(where, " AND ")+" ORDER BY position LIMIT ?", args...)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite event store: read all: %w", err)
	}
	evs, err := scanEvents(rows, limit)
	if err != nil {
		return nil, 0, err
	}
	scanned := uint64(head)
	if len(evs) == limit {
		scanned = evs[len(evs)-1].Position
	}
	return evs, scanned, nil
}

// SubscribeAll implements eventstore.Store.
func (s *Store) SubscribeAll(ctx context.Context, from uint64, filter eventstore.Filter) (eventstore.Subscription, error) {
	if s.isClosed() {
		return nil, eventstore.ErrClosed
	}
	return eventstore.NewPollingSubscription(ctx, s.readPage, &s.notify, from, filter,
		eventstore.PollingOptions{Interval: s.opt.PollInterval}), nil
}

// Head implements eventstore.Store.
func (s *Store) Head(ctx context.Context) (uint64, error) {
	if s.isClosed() {
		return 0, eventstore.ErrClosed
	}
	var head int64
	if err := s.read.QueryRowContext(ctx, `SELECT COALESCE(MAX(position), 0) FROM events`).Scan(&head); err != nil {
		return 0, fmt.Errorf("sqlite event store: head: %w", err)
	}
	return uint64(head), nil
}
