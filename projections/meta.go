package projections

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"time"
)

// Bookkeeping tables (no generation suffix).
var metaDDL = []string{
	`CREATE TABLE IF NOT EXISTS projection_generations (
		projection {{text}} PRIMARY KEY,
		live       BIGINT NOT NULL,
		building   BIGINT NOT NULL,
		next_gen   BIGINT NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS projection_checkpoints (
		projection      {{text}} NOT NULL,
		generation      BIGINT NOT NULL,
		version         BIGINT NOT NULL,
		position        BIGINT NOT NULL,
		last_event_at   BIGINT NOT NULL,
		events          BIGINT NOT NULL,
		retired         BOOLEAN NOT NULL,
		failed_position BIGINT NOT NULL,
		failed_stream   TEXT NOT NULL,
		failed_type     TEXT NOT NULL,
		failed_event_id TEXT NOT NULL,
		failed_error    TEXT NOT NULL,
		failed_attempts BIGINT NOT NULL,
		PRIMARY KEY (projection, generation)
	)`,
}

// ErrFenced means a projection's checkpoint moved under a writer (another instance, a
// reset) or its generation was retired by a switch: the writer must reload and resume.
var ErrFenced = errors.New("projection checkpoint moved or generation retired")

// ErrUnknownProjection: no generation of the projection exists yet.
var ErrUnknownProjection = errors.New("unknown projection")

// lockKey maps a name to a PostgreSQL advisory lock key, scoped by schema.
func (db *DB) lockKey(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("orderengine:" + db.schema + ":" + name))
	return int64(h.Sum64())
}

// setupLock serializes DDL between processes (PostgreSQL: concurrent CREATE TABLE IF NOT
// EXISTS can fail on the catalog's unique indexes). SQLite's writer is serialized anyway.
func (db *DB) setupLock(ctx context.Context, tx *sql.Tx) error {
	if !db.d.IsPostgres() {
		return nil
	}
	_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, db.lockKey("setup"))
	return err
}

func (db *DB) migrate(ctx context.Context) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if err := db.setupLock(ctx, tx); err != nil {
			return err
		}
		for _, s := range metaDDL {
			q, err := db.d.rewrite(s, nil)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("read models: create bookkeeping tables: %w", err)
			}
		}
		return nil
	})
}

// inTx runs fn in a write transaction, committing when it returns nil.
func (db *DB) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// checkpoint is a projection generation's row of projection_checkpoints.
type checkpoint struct {
	gen         int64
	version     int
	position    uint64
	lastEventAt int64
	events      int64
	retired     bool
	failure     *Failure
}

const checkpointCols = `generation, version, position, last_event_at, events, retired,
	failed_position, failed_stream, failed_type, failed_event_id, failed_error, failed_attempts`

func scanCheckpoint(row interface{ Scan(...any) error }) (checkpoint, error) {
	var (
		c   checkpoint
		pos int64
		f   Failure
		fp  int64
		fa  int64
	)
	err := row.Scan(&c.gen, &c.version, &pos, &c.lastEventAt, &c.events, &c.retired,
		&fp, &f.Stream, &f.Type, &f.EventID, &f.Error, &fa)
	c.position = uint64(pos)
	if f.Error != "" {
		f.Position, f.Attempts = uint64(fp), int(fa)
		c.failure = &f
	}
	return c, err
}

// createGeneration creates the tables of generation gen (dropping leftovers of an
// interrupted attempt) and its checkpoint at position 0.
func (db *DB) createGeneration(ctx context.Context, tx *sql.Tx, p Projection, gen int64) error {
	tables := tableMap(p, gen)
	for _, t := range p.Tables() {
		if _, err := tx.ExecContext(ctx, "DROP TABLE IF EXISTS "+tables[t.Name]); err != nil {
			return err
		}
		for _, s := range t.DDL {
			q, err := db.d.rewrite(s, tables)
			if err != nil {
				return fmt.Errorf("projection %s table %s: %w", p.Name(), t.Name, err)
			}
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("projection %s: create %s: %w", p.Name(), tables[t.Name], err)
			}
		}
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM projection_checkpoints WHERE projection = $1 AND generation = $2`, p.Name(), gen)
	if err == nil {
		_, err = tx.ExecContext(ctx, `INSERT INTO projection_checkpoints (projection, generation, version, position,
			last_event_at, events, retired, failed_position, failed_stream, failed_type, failed_event_id,
			failed_error, failed_attempts) VALUES ($1, $2, $3, 0, 0, 0, FALSE, 0, '', '', '', '', 0)`,
			p.Name(), gen, p.Version())
	}
	return err
}

// dropGeneration drops a generation's tables and checkpoint.
func (db *DB) dropGeneration(ctx context.Context, tx *sql.Tx, p Projection, gen int64) error {
	for _, t := range p.Tables() {
		if _, err := tx.ExecContext(ctx, "DROP TABLE IF EXISTS "+generationTable(t.Name, gen)); err != nil {
			return err
		}
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM projection_checkpoints WHERE projection = $1 AND generation = $2`, p.Name(), gen)
	return err
}

// Ensure creates the projection's first generation when it has none and returns the
// live generation's checkpoint.
func (db *DB) ensure(ctx context.Context, p Projection) (checkpoint, error) {
	if err := validate(p); err != nil {
		return checkpoint{}, err
	}
	var c checkpoint
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var live int64
		err := tx.QueryRowContext(ctx, `SELECT live FROM projection_generations WHERE projection = $1`, p.Name()).Scan(&live)
		if errors.Is(err, sql.ErrNoRows) {
			if err := db.setupLock(ctx, tx); err != nil {
				return err
			}
			err = tx.QueryRowContext(ctx, `SELECT live FROM projection_generations WHERE projection = $1`, p.Name()).Scan(&live)
			if errors.Is(err, sql.ErrNoRows) {
				live = 1
				if err := db.createGeneration(ctx, tx, p, live); err != nil {
					return err
				}
				_, err = tx.ExecContext(ctx, `INSERT INTO projection_generations (projection, live, building, next_gen) VALUES ($1, 1, 0, 2)`, p.Name())
			}
		}
		if err != nil {
			return err
		}
		c, err = scanCheckpoint(tx.QueryRowContext(ctx, `SELECT `+checkpointCols+` FROM projection_checkpoints
			WHERE projection = $1 AND generation = $2`, p.Name(), live))
		return err
	})
	if err != nil {
		return checkpoint{}, fmt.Errorf("projection %s: prepare: %w", p.Name(), err)
	}
	return c, nil
}

// fence locks a generation's checkpoint row for the transaction and checks that it is
// still at expect and not retired.
func (db *DB) fence(ctx context.Context, tx *sql.Tx, name string, gen int64, expect uint64) error {
	var (
		pos     int64
		retired bool
	)
	err := tx.QueryRowContext(ctx, db.forUpdate(`SELECT position, retired FROM projection_checkpoints
		WHERE projection = $1 AND generation = $2`), name, gen).Scan(&pos, &retired)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%w: generation %d of %s is gone", ErrFenced, gen, name)
	case err != nil:
		return err
	case retired:
		return fmt.Errorf("%w: generation %d of %s was retired", ErrFenced, gen, name)
	case uint64(pos) != expect:
		return fmt.Errorf("%w: %s generation %d is at %d, not %d", ErrFenced, name, gen, pos, expect)
	}
	return nil
}

// checkFence reads the fence without locking.
func (db *DB) checkFence(ctx context.Context, name string, gen int64, expect uint64) error {
	var (
		pos     int64
		retired bool
	)
	err := db.read.QueryRowContext(ctx, `SELECT position, retired FROM projection_checkpoints
		WHERE projection = $1 AND generation = $2`, name, gen).Scan(&pos, &retired)
	switch {
	case errors.Is(err, sql.ErrNoRows), err == nil && (retired || uint64(pos) != expect):
		return fmt.Errorf("%w: %s generation %d is retired or moved", ErrFenced, name, gen)
	}
	return err
}

func (db *DB) forUpdate(q string) string { return q + db.d.forUpdate }

// applyIn applies batch (decoded: the engine checks) to generation gen inside tx and moves its checkpoint to `to`
// (≥ the batch's last position).
func (db *DB) applyIn(ctx context.Context, tx *sql.Tx, p Projection, gen int64, batch []Event, to uint64) error {
	if len(batch) > 0 {
		ptx := &Tx{q: tx, d: db.d, gen: gen, tables: tableMap(p, gen)}
		if err := p.Apply(ctx, ptx, batch); err != nil {
			return err
		}
	}
	if len(batch) == 0 {
		_, err := tx.ExecContext(ctx, `UPDATE projection_checkpoints SET position = $3
			WHERE projection = $1 AND generation = $2`, p.Name(), gen, int64(to))
		return err
	}
	_, err := tx.ExecContext(ctx, `UPDATE projection_checkpoints SET position = $3, last_event_at = $4,
		events = events + $5, failed_position = 0, failed_stream = '', failed_type = '',
		failed_event_id = '', failed_error = '', failed_attempts = 0
		WHERE projection = $1 AND generation = $2`,
		p.Name(), gen, int64(to), batch[len(batch)-1].RecordedAt.UnixNano(), int64(len(batch)))
	return err
}

// applyBatch applies one batch in its own transaction, fenced on the checkpoint.
func (db *DB) applyBatch(ctx context.Context, p Projection, gen int64, expect uint64, batch []Event, to uint64) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if err := db.fence(ctx, tx, p.Name(), gen, expect); err != nil {
			return err
		}
		return db.applyIn(ctx, tx, p, gen, batch, to)
	})
}

// recordFailure stores a failure on the generation's checkpoint row (best effort).
func (db *DB) recordFailure(ctx context.Context, name string, gen int64, f Failure) error {
	_, err := db.write.ExecContext(ctx, `UPDATE projection_checkpoints SET failed_position = $3,
		failed_stream = $4, failed_type = $5, failed_event_id = $6, failed_error = $7, failed_attempts = $8
		WHERE projection = $1 AND generation = $2`,
		name, gen, int64(f.Position), f.Stream, f.Type, f.EventID, f.Error, f.Attempts)
	return err
}

// Info is what the database records about a projection.
type Info struct {
	Name string `json:"name"`
	// Generation is the live generation; Building the one a rebuild is writing (0: none).
	Generation int64 `json:"generation"`
	Building   int64 `json:"building,omitempty"`
	// Version is the live generation's schema version.
	Version int `json:"version"`
	// Position is the live generation's checkpoint.
	Position uint64 `json:"position"`
	// LastEventAt is the recorded time of the last event applied.
	LastEventAt time.Time `json:"lastEventAt,omitzero"`
	// Events is how many events the live generation has applied.
	Events int64 `json:"events"`
	// Failure is the event the projection stopped at, if it failed.
	Failure *Failure `json:"failure,omitempty"`
	// BuildingPosition is the checkpoint of the generation being built.
	BuildingPosition uint64 `json:"buildingPosition,omitempty"`
}

// Projections lists what the database records about every projection, by name.
func (db *DB) Projections(ctx context.Context) ([]Info, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT projection FROM projection_generations ORDER BY projection`)
	if err != nil {
		return nil, err
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return nil, err
		}
		names = append(names, n)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, err
	}
	out := make([]Info, 0, len(names))
	for _, n := range names {
		i, err := db.Info(ctx, n)
		if err != nil {
			return nil, err
		}
		out = append(out, i)
	}
	return out, nil
}

// Info reads what the database records about one projection (ErrUnknownProjection if
// it has never run).
func (db *DB) Info(ctx context.Context, name string) (Info, error) {
	i := Info{Name: name}
	err := db.read.QueryRowContext(ctx, `SELECT live, building FROM projection_generations WHERE projection = $1`, name).Scan(&i.Generation, &i.Building)
	if errors.Is(err, sql.ErrNoRows) {
		return i, fmt.Errorf("%w: %s", ErrUnknownProjection, name)
	}
	if err != nil {
		return i, err
	}
	c, err := scanCheckpoint(db.read.QueryRowContext(ctx, `SELECT `+checkpointCols+` FROM projection_checkpoints
		WHERE projection = $1 AND generation = $2`, name, i.Generation))
	if err != nil {
		return i, err
	}
	i.Version, i.Position, i.Events, i.Failure = c.version, c.position, c.events, c.failure
	if c.lastEventAt != 0 {
		i.LastEventAt = time.Unix(0, c.lastEventAt).UTC()
	}
	if i.Building != 0 {
		var pos int64
		if err := db.read.QueryRowContext(ctx, `SELECT position FROM projection_checkpoints WHERE projection = $1 AND generation = $2`,
			name, i.Building).Scan(&pos); err == nil {
			i.BuildingPosition = uint64(pos)
		}
	}
	return i, nil
}

// Position is the checkpoint of a projection's live generation: every event up to it is
// visible in its read model (0 when it has never run).
func (db *DB) Position(ctx context.Context, name string) (uint64, error) {
	var pos int64
	err := db.read.QueryRowContext(ctx, `SELECT c.position FROM projection_generations g
		JOIN projection_checkpoints c ON c.projection = g.projection AND c.generation = g.live
		WHERE g.projection = $1`, name).Scan(&pos)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return uint64(pos), err
}

// WaitPosition waits until the projection's live checkpoint reaches atLeast, or maxWait
// passes; it reports whether it got there and the position it saw last.
func (db *DB) WaitPosition(ctx context.Context, name string, atLeast uint64, maxWait time.Duration) (bool, uint64, error) {
	position := func(ctx context.Context) (uint64, error) { return db.Position(ctx, name) }
	return WaitFor(ctx, position, atLeast, maxWait, 2*time.Millisecond, 50*time.Millisecond)
}
