package projections

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/orderengine/orderengine/eventstore"
)

// SQLSink is an SQL projection in a read-model database as a sink of the engine: rows
// and checkpoint move in one transaction, fenced on the checkpoint row; generations are
// sets of tables; the lease is a PostgreSQL advisory lock.
type SQLSink struct {
	db *DB
	p  Projection
}

var (
	_ Generations = (*SQLSink)(nil)
	_ Leaser      = (*SQLSink)(nil)
)

// Sink returns projection p in db as a sink.
func (db *DB) Sink(p Projection) *SQLSink { return &SQLSink{db: db, p: p} }

// Name implements Sink.
func (s *SQLSink) Name() string { return s.p.Name() }

// Filter implements Sink.
func (s *SQLSink) Filter() eventstore.Filter { return s.p.Filter() }

// Open implements Sink.
func (s *SQLSink) Open(ctx context.Context) (Checkpoint, error) {
	c, err := s.db.ensure(ctx, s.p)
	if err != nil {
		return Checkpoint{}, err
	}
	if c.version > s.p.Version() {
		return Checkpoint{}, fmt.Errorf("projection %s: the live read model has schema version %d, newer than this build's %d: %w",
			s.p.Name(), c.version, s.p.Version(), ErrNewerVersion)
	}
	cp := Checkpoint{Generation: c.gen, Position: c.position, Stale: c.version < s.p.Version()}
	if c.lastEventAt != 0 {
		cp.LastEventAt = time.Unix(0, c.lastEventAt).UTC()
	}
	return cp, nil
}

// Apply implements Sink: one transaction, fenced on the checkpoint row.
func (s *SQLSink) Apply(ctx context.Context, gen int64, from uint64, batch []Event, to Checkpoint) error {
	return s.db.applyBatch(ctx, s.p, gen, from, batch, to.Position)
}

// Fence implements Sink.
func (s *SQLSink) Fence(ctx context.Context, gen int64, cursor uint64) error {
	return s.db.checkFence(ctx, s.p.Name(), gen, cursor)
}

// RecordFailure implements Sink: on the generation's checkpoint row.
func (s *SQLSink) RecordFailure(ctx context.Context, gen int64, f Failure) error {
	return s.db.recordFailure(ctx, s.p.Name(), gen, f)
}

// TryLease implements Leaser.
func (s *SQLSink) TryLease(ctx context.Context, name string, check time.Duration) (*Lease, error) {
	return s.db.tryLease(ctx, name, check)
}

// Create implements Generations.
func (s *SQLSink) Create(ctx context.Context, live int64) (int64, error) {
	return s.db.startGeneration(ctx, s.p, live)
}

// Switch implements Generations: in one transaction, brings both generations to the
// same position, hashes every table of both and flips the live generation.
func (s *SQLSink) Switch(ctx context.Context, sw Switch) (*RebuildReport, error) {
	return s.db.switchGeneration(ctx, s.p, sw)
}

// Drop implements Generations: it drops gen unless it is live (a switch whose commit
// was not acknowledged may have made it live).
func (s *SQLSink) Drop(ctx context.Context, gen int64) error {
	return s.db.inTx(ctx, func(tx *sql.Tx) error {
		var live, building int64
		if err := tx.QueryRowContext(ctx, s.db.forUpdate(`SELECT live, building FROM projection_generations WHERE projection = $1`),
			s.p.Name()).Scan(&live, &building); err != nil {
			return err
		}
		if live == gen {
			return nil
		}
		if building == gen {
			if _, err := tx.ExecContext(ctx, `UPDATE projection_generations SET building = 0 WHERE projection = $1`, s.p.Name()); err != nil {
				return err
			}
		}
		return s.db.dropGeneration(ctx, tx, s.p, gen)
	})
}

// switchGeneration brings the live and the new generation to the same position, compares
// them and (unless dryRun) makes the new one live, all in one transaction.
func (db *DB) switchGeneration(ctx context.Context, p Projection, sw Switch) (*RebuildReport, error) {
	oldGen, newGen, newPos, dryRun := sw.Live, sw.New, sw.Position, sw.DryRun
	rep := &RebuildReport{Projection: p.Name(), OldGeneration: oldGen, NewGeneration: newGen}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var live, building int64
		if err := tx.QueryRowContext(ctx, db.forUpdate(`SELECT live, building FROM projection_generations WHERE projection = $1`),
			p.Name()).Scan(&live, &building); err != nil {
			return err
		}
		if live != oldGen || building != newGen {
			return fmt.Errorf("%w: generations changed during the rebuild (live %d, building %d)", ErrFenced, live, building)
		}
		old, err := scanCheckpoint(tx.QueryRowContext(ctx, db.forUpdate(`SELECT `+checkpointCols+` FROM projection_checkpoints
			WHERE projection = $1 AND generation = $2`), p.Name(), oldGen))
		if err != nil {
			return err
		}
		if err := db.fence(ctx, tx, p.Name(), newGen, newPos); err != nil {
			return err
		}
		rep.Comparable = old.version == p.Version()
		rep.LivePosition = max(old.position, newPos)
		switch {
		case old.position > newPos:
			// The live runner is ahead: apply the difference to the new generation.
			if err := db.applyRange(ctx, tx, sw.Events, p, newGen, newPos, old.position, 0); err != nil {
				return err
			}
			newPos = old.position
		case old.position < newPos && rep.Comparable:
			// The live generation is behind: bring it up too, if it is close and can be.
			if _, err := tx.ExecContext(ctx, `SAVEPOINT rebuild_compare`); err != nil {
				return err
			}
			if err := db.applyRange(ctx, tx, sw.Events, p, oldGen, old.position, newPos, 4*sw.Events.batchSize); err != nil {
				db.log.Warn("rebuild: live generation cannot be brought to the new position; comparing as is",
					"projection", p.Name(), "err", err)
				rep.Comparable, rep.LivePosition = false, old.position
				if _, err := tx.ExecContext(ctx, `ROLLBACK TO SAVEPOINT rebuild_compare`); err != nil {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx, `RELEASE SAVEPOINT rebuild_compare`); err != nil {
				return err
			}
		}
		rep.Position = newPos
		for _, t := range p.Tables() {
			d := TableDiff{Table: t.Name}
			var err error
			if d.NewRows, d.NewHash, err = hashTable(ctx, tx, generationTable(t.Name, newGen), t.Key); err != nil {
				return err
			}
			if old.version == p.Version() {
				if d.LiveRows, d.LiveHash, err = hashTable(ctx, tx, generationTable(t.Name, oldGen), t.Key); err != nil {
					return err
				}
			}
			d.Differs = d.LiveRows != d.NewRows || d.LiveHash != d.NewHash
			rep.Differs = rep.Differs || d.Differs
			rep.Tables = append(rep.Tables, d)
		}
		if dryRun {
			_, err := tx.ExecContext(ctx, `UPDATE projection_generations SET building = 0 WHERE projection = $1`, p.Name())
			if err == nil {
				err = db.dropGeneration(ctx, tx, p, newGen)
			}
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE projection_generations SET live = $2, building = 0 WHERE projection = $1`,
			p.Name(), newGen); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE projection_checkpoints SET retired = TRUE WHERE projection = $1 AND generation = $2`,
			p.Name(), oldGen)
		rep.Switched = err == nil
		return err
	})
	if err != nil {
		return nil, err
	}
	return rep, nil
}

// applyRange applies the events in (from, to] to generation gen inside tx; more than
// limit events (if limit > 0) is errTooFar.
func (db *DB) applyRange(ctx context.Context, tx *sql.Tx, events *Reader, p Projection, gen int64, from, to uint64, limit int) error {
	return events.Range(ctx, from, to, limit, func(batch []Event, end uint64) error {
		return db.applyIn(ctx, tx, p, gen, batch, end)
	})
}
