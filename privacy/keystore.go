package privacy

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// SQLiteKeys is the key table in the SQLite events database ("subject_keys"). Destroy
// overwrites the key (secure_delete) and checkpoints the WAL, so the wrapped key's bytes
// leave the database file and its WAL.
type SQLiteKeys struct{ db *sql.DB }

// NewSQLiteKeys creates the table in db (the event store's, see sqlite.Store.DB).
func NewSQLiteKeys(ctx context.Context, db *sql.DB) (*SQLiteKeys, error) {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS subject_keys (
		subject    TEXT PRIMARY KEY,
		wrapped    BLOB,
		created_at TEXT NOT NULL,
		erased_at  TEXT
	)`); err != nil {
		return nil, fmt.Errorf("privacy: create subject_keys: %w", err)
	}
	return &SQLiteKeys{db: db}, nil
}

// Get implements KeyStore.
func (s *SQLiteKeys) Get(ctx context.Context, subject string) ([]byte, error) {
	var w []byte
	err := s.db.QueryRowContext(ctx, `SELECT wrapped FROM subject_keys WHERE subject = ?`, subject).Scan(&w)
	return keyOrErr(w, err)
}

// Create implements KeyStore.
func (s *SQLiteKeys) Create(ctx context.Context, subject string, wrapped []byte) ([]byte, error) {
	if _, err := s.db.ExecContext(ctx, `INSERT INTO subject_keys (subject, wrapped, created_at) VALUES (?, ?, ?) ON CONFLICT (subject) DO NOTHING`,
		subject, wrapped, time.Now().UTC().Format(time.RFC3339Nano)); err != nil {
		return nil, fmt.Errorf("privacy: store a key: %w", err)
	}
	return s.Get(ctx, subject)
}

// Destroy implements KeyStore.
func (s *SQLiteKeys) Destroy(ctx context.Context, subject string) (bool, error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return false, fmt.Errorf("privacy: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `PRAGMA secure_delete = ON`); err != nil {
		return false, fmt.Errorf("privacy: %w", err)
	}
	res, err := conn.ExecContext(ctx, `INSERT INTO subject_keys (subject, wrapped, created_at, erased_at) VALUES (?, NULL, ?, ?)
		ON CONFLICT (subject) DO UPDATE SET wrapped = NULL, erased_at = excluded.erased_at WHERE subject_keys.erased_at IS NULL`,
		subject, time.Now().UTC().Format(time.RFC3339Nano), time.Now().UTC().Format(time.RFC3339Nano))
	if err != nil {
		return false, fmt.Errorf("privacy: destroy a key: %w", err)
	}
	n, _ := res.RowsAffected()
	// The old page image may still sit in the WAL: copy back and truncate it. Readers may
	// hold it a moment (busy): then the next checkpoint does it.
	if _, err := conn.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return false, fmt.Errorf("privacy: checkpoint: %w", err)
	}
	return n > 0, nil
}

func keyOrErr(w []byte, err error) ([]byte, error) {
	switch {
	case errors.Is(err, sql.ErrNoRows), errors.Is(err, pgx.ErrNoRows):
		return nil, ErrNoKey
	case err != nil:
		return nil, fmt.Errorf("privacy: read a key: %w", err)
	case w == nil:
		return nil, ErrErased
	}
	return w, nil
}

// PostgresKeys is the key table in the PostgreSQL event store's schema. Destroy vacuums
// the table so the old row version does not linger in its pages.
type PostgresKeys struct {
	pool  *pgxpool.Pool
	table string
}

// NewPostgresKeys creates schema.subject_keys (schema: the event store's, see
// postgres.Store.Schema).
func NewPostgresKeys(ctx context.Context, pool *pgxpool.Pool, schema string) (*PostgresKeys, error) {
	table := pgx.Identifier{schema, "subject_keys"}.Sanitize()
	if _, err := pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+table+` (
		subject    text PRIMARY KEY,
		wrapped    bytea,
		created_at timestamptz NOT NULL DEFAULT now(),
		erased_at  timestamptz
	)`); err != nil {
		return nil, fmt.Errorf("privacy: create subject_keys: %w", err)
	}
	return &PostgresKeys{pool: pool, table: table}, nil
}

// Get implements KeyStore.
func (p *PostgresKeys) Get(ctx context.Context, subject string) ([]byte, error) {
	var w []byte
	err := p.pool.QueryRow(ctx, `SELECT wrapped FROM `+p.table+` WHERE subject = $1`, subject).Scan(&w)
	return keyOrErr(w, err)
}

// Create implements KeyStore.
func (p *PostgresKeys) Create(ctx context.Context, subject string, wrapped []byte) ([]byte, error) {
	if _, err := p.pool.Exec(ctx, `INSERT INTO `+p.table+` (subject, wrapped) VALUES ($1, $2) ON CONFLICT (subject) DO NOTHING`, subject, wrapped); err != nil {
		return nil, fmt.Errorf("privacy: store a key: %w", err)
	}
	return p.Get(ctx, subject)
}

// Destroy implements KeyStore.
func (p *PostgresKeys) Destroy(ctx context.Context, subject string) (bool, error) {
	tag, err := p.pool.Exec(ctx, `INSERT INTO `+p.table+` (subject, wrapped, erased_at) VALUES ($1, NULL, now())
		ON CONFLICT (subject) DO UPDATE SET wrapped = NULL, erased_at = now() WHERE `+p.table+`.erased_at IS NULL`, subject)
	if err != nil {
		return false, fmt.Errorf("privacy: destroy a key: %w", err)
	}
	if _, err := p.pool.Exec(ctx, `VACUUM `+p.table); err != nil {
		return false, fmt.Errorf("privacy: vacuum the key table: %w", err)
	}
	return tag.RowsAffected() > 0, nil
}
