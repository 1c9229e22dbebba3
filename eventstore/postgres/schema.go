package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// migrations[i] brings the schema from version i to i+1. %[1]s is the quoted schema name.
// Never edit a released migration; append a new one.
var migrations = []string{
	// 1: streams and events.
	//
	// streams holds each stream's head; appends update it conditionally (optimistic
	// concurrency) and chain the next event's hash from last_hash. The fill factor leaves
	// room for HOT updates of the head row.
	//
	// events.position is xid<<20 | ordinal (see docs/eventstore.md); data and metadata are
	// bytea, not jsonb, so that the bytes the chain hashes cover are kept exactly. There is
	// deliberately no global index on event_id: idempotency is checked within a stream.
	`CREATE TABLE %[1]s.streams (
		stream_id text PRIMARY KEY,
		version   bigint NOT NULL,
		last_hash bytea NOT NULL
	) WITH (fillfactor = 80);
	CREATE TABLE %[1]s.events (
		position    bigint PRIMARY KEY,
		stream_id   text NOT NULL,
		version     bigint NOT NULL,
		event_id    uuid NOT NULL,
		type        text NOT NULL,
		data        bytea NOT NULL,
		metadata    bytea NOT NULL,
		recorded_at timestamptz NOT NULL DEFAULT now(),
		UNIQUE (stream_id, version)
	);`,
}

// Migrate creates the schema and the store's tables when missing, and applies any newer
// migrations. It is idempotent and safe to run from several processes at once (an
// advisory lock serializes them).
func Migrate(ctx context.Context, pool *pgxpool.Pool, schema string) error {
	if schema == "" {
		schema = DefaultSchema
	}
	sch := pgx.Identifier{schema}.Sanitize()
	// Fast path, without DDL or locks (nor the CREATE privilege): already up to date.
	var current int
	err := pool.QueryRow(ctx, `SELECT CASE WHEN to_regclass($1) IS NULL THEN 0 ELSE -1 END`, sch+".schema_version").Scan(&current)
	if err != nil {
		return fmt.Errorf("postgres event store: migrate schema %q: %w", schema, err)
	}
	if current < 0 {
		if err := pool.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM "+sch+".schema_version").Scan(&current); err != nil {
			return fmt.Errorf("postgres event store: migrate schema %q: read version: %w", schema, err)
		}
		if current == len(migrations) {
			return nil
		}
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext($1))", "orderengine.migrate:"+schema); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		if _, err := tx.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+sch); err != nil {
			return fmt.Errorf("create schema: %w", err)
		}
		if _, err := tx.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+sch+".schema_version (version int NOT NULL)"); err != nil {
			return fmt.Errorf("create schema_version: %w", err)
		}
		var have int
		if err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM "+sch+".schema_version").Scan(&have); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if have > len(migrations) {
			return fmt.Errorf("schema is at version %d, newer than this build knows (%d)", have, len(migrations))
		}
		for v := have; v < len(migrations); v++ {
			if _, err := tx.Exec(ctx, fmt.Sprintf(migrations[v], sch)); err != nil {
				return fmt.Errorf("migration %d: %w", v+1, err)
			}
		}
		if have < len(migrations) {
			if _, err := tx.Exec(ctx, "DELETE FROM "+sch+".schema_version"); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, "INSERT INTO "+sch+".schema_version (version) VALUES ($1)", len(migrations)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres event store: migrate schema %q: %w", schema, err)
	}
	return nil
}

// queries are the store's SQL statements for one schema. pgx prepares and caches each
// per connection, so every statement costs one round trip.
type queries struct {
	readHead, readHeadIDs, readRange                  string
	createStream, updateStream                        string
	createStream1, updateStream1                      string
	createStreamPart, updateStreamPart                string
	deleteStream                                      string
	readForward, readBackward, streamExists           string
	readAll, readAllPrefix, readAllTypes, readAllBoth string
	head                                              string
}

// horizon is the position below which every transaction has finished: no event can
// later appear below it. It is evaluated in the statement's own snapshot.
const horizon = `(pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 20)`

// xidBase is the position base of the current transaction's events.
const xidBase = `(pg_current_xact_id()::text::bigint << 20)`

func newQueries(schema string) queries {
	sch := pgx.Identifier{schema}.Sanitize()
	streams, events := sch+".streams", sch+".events"
	const cols = `position, stream_id, version, event_id, type, data, metadata, recorded_at`
	// insertEvents inserts the append's events after the CTE s (which yields the position
	// base only when the stream's head was written); %s is the first version minus one.
	insertEvents := func(firstMinusOne string, arg int) string {
		return fmt.Sprintf(`e AS (
		INSERT INTO %s (position, stream_id, version, event_id, type, data, metadata)
		SELECT s.base + u.ord, $1, %s + u.ord, u.id, u.type, u.data, u.md
		FROM s, unnest($%d::uuid[], $%d::text[], $%d::bytea[], $%d::bytea[]) WITH ORDINALITY AS u(id, type, data, md, ord)
	)
	SELECT base FROM s`, events, firstMinusOne, arg, arg+1, arg+2, arg+3)
	}
	// insertEvent is insertEvents for a single event, with scalar parameters.
	insertEvent := func(firstMinusOne string, arg int) string {
		return fmt.Sprintf(`e AS (
		INSERT INTO %s (position, stream_id, version, event_id, type, data, metadata)
		SELECT s.base + 1, $1, %s + 1, $%d, $%d, $%d, $%d FROM s
	)
	SELECT base FROM s`, events, firstMinusOne, arg, arg+1, arg+2, arg+3)
	}
	// insertPart is insertEvents for one part of a multi-stream append, whose ordinals
	// start after $arg (the events of the parts before it). When the head write matched no
	// row, the position is NULL and the insert fails with a not-null violation: that
	// aborts the batch's implicit transaction, so no part is written (see appendMulti).
	insertPart := func(firstMinusOne string, arg int) string {
		return fmt.Sprintf(`e AS (
		INSERT INTO %s (position, stream_id, version, event_id, type, data, metadata)
		SELECT (SELECT base FROM s) + $%d + u.ord, $1, %s + u.ord, u.id, u.type, u.data, u.md
		FROM unnest($%d::uuid[], $%d::text[], $%d::bytea[], $%d::bytea[]) WITH ORDINALITY AS u(id, type, data, md, ord)
	)
	SELECT base FROM s`, events, arg, firstMinusOne, arg+1, arg+2, arg+3, arg+4)
	}
	readAll := func(filter string) string {
		// One row even when no event qualifies, so the horizon always comes back. The
		// horizon, the events and the highest committed position all come from the
		// statement's one snapshot (OFFSET 0 keeps the horizon a single evaluation).
		return fmt.Sprintf(`SELECT h.hz, (SELECT max(position) FROM %[1]s), e.position, e.stream_id, e.version, e.event_id, e.type, e.data, e.metadata, e.recorded_at
		FROM (SELECT %[2]s AS hz OFFSET 0) h
		LEFT JOIN LATERAL (
			SELECT %[3]s FROM %[1]s
			WHERE position > $1 AND position < h.hz %[4]s
			ORDER BY position LIMIT $2
		) e ON true
		ORDER BY e.position`, events, horizon, cols, filter)
	}
	return queries{
		readHead: `SELECT version, last_hash FROM ` + streams + ` WHERE stream_id = $1`,
		// The head and, among the stream's last $3 events, those with the given IDs.
		readHeadIDs: `SELECT s.version, s.last_hash, e.version, e.event_id, e.position
		FROM ` + streams + ` s LEFT JOIN ` + events + ` e
		ON e.stream_id = s.stream_id AND e.version > s.version - $3 AND e.event_id = ANY($2::uuid[])
		WHERE s.stream_id = $1 ORDER BY e.version`,
		readRange: `SELECT version, event_id, position FROM ` + events + `
		WHERE stream_id = $1 AND version >= $2 AND version < $3 ORDER BY version`,
		// $1 stream, $2 last version, $3 last hash, $4.. events.
		createStream: `WITH s AS (
		INSERT INTO ` + streams + ` (stream_id, version, last_hash) VALUES ($1, $2, $3)
		ON CONFLICT (stream_id) DO NOTHING
		RETURNING ` + xidBase + ` AS base
	), ` + insertEvents("-1", 4),
		createStream1: `WITH s AS (
		INSERT INTO ` + streams + ` (stream_id, version, last_hash) VALUES ($1, $2, $3)
		ON CONFLICT (stream_id) DO NOTHING
		RETURNING ` + xidBase + ` AS base
	), ` + insertEvent("-1", 4),
		// $1 stream, $2 expected version, $3 its hash, $4 new version, $5 new hash, $6.. events.
		updateStream: `WITH s AS (
		UPDATE ` + streams + ` SET version = $4, last_hash = $5
		WHERE stream_id = $1 AND version = $2 AND last_hash = $3
		RETURNING ` + xidBase + ` AS base
	), ` + insertEvents("$2", 6),
		updateStream1: `WITH s AS (
		UPDATE ` + streams + ` SET version = $4, last_hash = $5
		WHERE stream_id = $1 AND version = $2 AND last_hash = $3
		RETURNING ` + xidBase + ` AS base
	), ` + insertEvent("$2", 6),
		// Multi-stream parts: as createStream and updateStream, with the ordinal offset
		// before the event arrays.
		createStreamPart: `WITH s AS (
		INSERT INTO ` + streams + ` (stream_id, version, last_hash) VALUES ($1, $2, $3)
		ON CONFLICT (stream_id) DO NOTHING
		RETURNING ` + xidBase + ` AS base
	), ` + insertPart("-1", 4),
		updateStreamPart: `WITH s AS (
		UPDATE ` + streams + ` SET version = $4, last_hash = $5
		WHERE stream_id = $1 AND version = $2 AND last_hash = $3
		RETURNING ` + xidBase + ` AS base
	), ` + insertPart("$2", 6),
		// $1 stream, $2 its expected version or NULL for any. Counts deleted heads.
		deleteStream: `WITH s AS (
		DELETE FROM ` + streams + ` WHERE stream_id = $1 AND ($2::bigint IS NULL OR version = $2)
		RETURNING stream_id
	), e AS (
		DELETE FROM ` + events + ` WHERE stream_id = $1 AND EXISTS (SELECT 1 FROM s)
	)
	SELECT count(*) FROM s`,
		readForward: `SELECT ` + cols + ` FROM ` + events + `
		WHERE stream_id = $1 AND version >= $2 ORDER BY version LIMIT $3`,
		readBackward: `SELECT ` + cols + ` FROM ` + events + `
		WHERE stream_id = $1 AND version <= $2 ORDER BY version DESC LIMIT $3`,
		streamExists:  `SELECT EXISTS (SELECT 1 FROM ` + streams + ` WHERE stream_id = $1)`,
		readAll:       readAll(""),
		readAllPrefix: readAll(`AND starts_with(stream_id, $3)`),
		readAllTypes:  readAll(`AND type = ANY($3::text[])`),
		readAllBoth:   readAll(`AND starts_with(stream_id, $3) AND type = ANY($4::text[])`),
		head: `SELECT h.hz, (SELECT coalesce(max(position), 0) FROM ` + events + ` WHERE position < h.hz),
		(SELECT coalesce(max(position), 0) FROM ` + events + `)
		FROM (SELECT ` + horizon + ` AS hz) h`,
	}
}
