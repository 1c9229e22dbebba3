package projections

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// View is a read-only transaction on a projection's live generation: every query sees
// the same snapshot (PostgreSQL: repeatable read), and Position is the checkpoint of
// that snapshot. Statements name tables as {name}. Close it when done.
type View struct {
	tx          *sql.Tx
	d           Dialect
	gen         int64
	pos         uint64
	lastEventAt int64
	tables      map[string]string
}

// View opens a read-only view of p's live generation, creating the projection's first
// generation if it has never run.
func (db *DB) View(ctx context.Context, p Projection) (*View, error) {
	opts := &sql.TxOptions{ReadOnly: true}
	if db.d.IsPostgres() {
		opts.Isolation = sql.LevelRepeatableRead
	}
	for try := 0; ; try++ {
		tx, err := db.read.BeginTx(ctx, opts)
		if err != nil {
			return nil, err
		}
		v := &View{tx: tx, d: db.d}
		var pos int64
		err = tx.QueryRowContext(ctx, `SELECT g.live, c.position, c.last_event_at FROM projection_generations g
			JOIN projection_checkpoints c ON c.projection = g.projection AND c.generation = g.live
			WHERE g.projection = $1`, p.Name()).Scan(&v.gen, &pos, &v.lastEventAt)
		if err == nil {
			v.pos = uint64(pos)
			v.tables = tableMap(p, v.gen)
			return v, nil
		}
		_ = tx.Rollback()
		if !errors.Is(err, sql.ErrNoRows) || try > 0 {
			return nil, err
		}
		if _, err := db.ensure(ctx, p); err != nil {
			return nil, err
		}
	}
}

// Position is the projection's checkpoint in this view's snapshot.
func (v *View) Position() uint64 { return v.pos }

// Generation is the live generation the view reads.
func (v *View) Generation() int64 { return v.gen }

// LastEventAt is the recorded time of the last event applied (zero if none).
func (v *View) LastEventAt() time.Time {
	if v.lastEventAt == 0 {
		return time.Time{}
	}
	return time.Unix(0, v.lastEventAt).UTC()
}

// Dialect of the database.
func (v *View) Dialect() Dialect { return v.d }

// Query runs a query.
func (v *View) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	q, err := v.d.rewrite(query, v.tables)
	if err != nil {
		return nil, err
	}
	return v.tx.QueryContext(ctx, q, args...)
}

// QueryRow runs a query returning at most one row. A statement naming an unknown table
// is a programming error and panics.
func (v *View) QueryRow(ctx context.Context, query string, args ...any) *sql.Row {
	q, err := v.d.rewrite(query, v.tables)
	if err != nil {
		panic("projections: " + err.Error())
	}
	return v.tx.QueryRowContext(ctx, q, args...)
}

// Close ends the view.
func (v *View) Close() error { return v.tx.Rollback() }
