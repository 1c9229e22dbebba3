package projections

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/eventstore"
)

// ErrRebuildRunning: another rebuild of the projection holds its lease.
var ErrRebuildRunning = errors.New("a rebuild of this projection is already running")

// Progress of a rebuild.
type Progress struct {
	Projection string `json:"projection"`
	Generation int64  `json:"generation"`
	// Events applied so far; Total estimates the events to apply up to Head (from the
	// share of the log's positions covered, which are not dense).
	Events uint64 `json:"events"`
	Total  uint64 `json:"total"`
	// Position reached and the log's Head when the rebuild started or last looked.
	Position uint64 `json:"position"`
	Head     uint64 `json:"head"`
	// Rate is events per second so far; ETA the estimated time left.
	Rate    float64       `json:"rate"`
	ETA     time.Duration `json:"eta"`
	Elapsed time.Duration `json:"elapsed"`
	// Phase is "build", "switch" or "done".
	Phase string `json:"phase"`
}

// RebuildOptions tune a rebuild. The zero value is usable.
type RebuildOptions struct {
	// BatchSize is the most events per transaction (default 2000).
	BatchSize int
	// Progress, if set, is called every ProgressEvery (default 500ms) and at the end.
	Progress      func(Progress)
	ProgressEvery time.Duration
	// DryRun builds and compares the new generation, then drops it instead of switching.
	DryRun   bool
	Registry *domain.Registry
	Logger   *slog.Logger
}

// TableDiff compares one table of the live and the new generation.
type TableDiff struct {
	Table    string `json:"table"`
	LiveRows int64  `json:"liveRows"`
	NewRows  int64  `json:"newRows"`
	LiveHash string `json:"liveHash"`
	NewHash  string `json:"newHash"`
	Differs  bool   `json:"differs"`
}

// RebuildReport is the outcome of a rebuild.
type RebuildReport struct {
	Projection    string `json:"projection"`
	OldGeneration int64  `json:"oldGeneration"`
	NewGeneration int64  `json:"newGeneration"`
	// Position both generations were compared at (the new one's checkpoint at the switch).
	Position uint64 `json:"position"`
	// Comparable is false when the old generation could not be brought to Position (it
	// was far behind or failed, or has another schema version); then Differs only says
	// the tables differ. LivePosition is where the old generation was compared.
	LivePosition uint64        `json:"livePosition"`
	Comparable   bool          `json:"comparable"`
	Tables       []TableDiff   `json:"tables"`
	Differs      bool          `json:"differs"`
	Switched     bool          `json:"switched"`
	Events       uint64        `json:"events"`
	Elapsed      time.Duration `json:"elapsed"`
	Rate         float64       `json:"rate"`
}

// Rebuild builds a new generation of p's tables from position 0 while the live one keeps
// serving, catches up, brings both to the same position and, in one transaction, compares
// them and makes the new one live (the live runner follows on its next batch). The
// previous generation is kept until the next rebuild, for readers still on it.
func Rebuild(ctx context.Context, db *DB, store eventstore.Store, p Projection, opt RebuildOptions) (*RebuildReport, error) {
	if err := validate(p); err != nil {
		return nil, err
	}
	return RebuildSink(ctx, db.Sink(p), store, opt)
}

// RebuildSink builds a new generation of sink from position 0 while the live one keeps
// serving, catches up in rounds, then lets the sink compare the two and switch
// (Generations.Switch). A failed build is dropped.
func RebuildSink(ctx context.Context, sink Generations, store eventstore.Store, opt RebuildOptions) (*RebuildReport, error) {
	if opt.Registry == nil {
		return nil, errRegistry("RebuildOptions")
	}
	if opt.BatchSize <= 0 {
		opt.BatchSize = 2000
	}
	if opt.ProgressEvery <= 0 {
		opt.ProgressEvery = 500 * time.Millisecond
	}
	name := sink.Name()
	ropt := RunnerOptions{BatchSize: opt.BatchSize, IdleCheck: 50 * time.Millisecond, Registry: opt.Registry, Logger: opt.Logger}.withDefaults()
	l := noLease()
	if ls, ok := sink.(Leaser); ok {
		var err error
		if l, err = ls.TryLease(ctx, "rebuild:"+name, ropt.LeaseCheck); err != nil {
			return nil, err
		}
		if l == nil {
			return nil, fmt.Errorf("projection %s: %w", name, ErrRebuildRunning)
		}
	}
	defer l.Release()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-l.Lost:
			cancel()
		case <-ctx.Done():
		}
	}()

	live, err := sink.Open(ctx)
	if err != nil {
		return nil, err
	}
	gen, err := sink.Create(ctx, live.Generation)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*RebuildReport, error) {
		// Leave nothing half-built behind (a sink without transactions would keep it).
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if derr := sink.Drop(dctx, gen); derr != nil {
			ropt.Logger.Warn("rebuild: failed generation not dropped", "projection", name, "generation", gen, "err", derr)
		}
		return nil, fmt.Errorf("rebuild %s: %w", name, err)
	}
	start := time.Now()
	head, err := store.Head(ctx)
	if err != nil {
		return fail(err)
	}
	prog := Progress{Projection: name, Generation: gen, Head: head, Phase: "build"}
	var first uint64
	lastReport := time.Time{}
	report := func(force bool) {
		if opt.Progress == nil || (!force && time.Since(lastReport) < opt.ProgressEvery) {
			return
		}
		lastReport = time.Now()
		prog.Elapsed = time.Since(start)
		if s := prog.Elapsed.Seconds(); s > 0 {
			prog.Rate = float64(prog.Events) / s
		}
		prog.Total, prog.ETA = prog.Events, 0
		if prog.Head > prog.Position && prog.Position > first {
			frac := float64(prog.Position-first) / float64(prog.Head-first)
			prog.Total = uint64(math.Round(float64(prog.Events) / frac))
			prog.ETA = time.Duration(float64(prog.Elapsed) * (1 - frac) / frac).Round(time.Second)
		}
		opt.Progress(prog)
	}
	w := &worker{sink: sink, store: store, opt: ropt, gen: gen,
		onApplied: func(batch []Event, cursor uint64) {
			if len(batch) > 0 && first == 0 {
				first = batch[0].Position - 1
			}
			prog.Events += uint64(len(batch))
			prog.Position = cursor
			report(false)
		},
		onHead: func(h, cursor uint64) {
			prog.Head, prog.Position = max(h, cursor), cursor
			report(false)
		},
	}
	sub, err := store.SubscribeAll(ctx, 0, sink.Filter())
	if err != nil {
		return fail(err)
	}
	f := startFeed(ctx, sub, ropt.Registry, feedBuffer(opt.BatchSize))
	// Build up to the head as of the start, then catch up in (at most two) shorter rounds
	// while events keep arriving; the switch applies the rest.
	for round := 0; round < 3 && err == nil; round++ {
		if round > 0 {
			if head, err = store.Head(ctx); err != nil || w.cursor >= head {
				break
			}
		}
		w.target = max(head, 1)
		err = w.run(ctx, f, true)
	}
	f.stop()
	if err != nil {
		return fail(err)
	}
	prog.Phase = "switch"
	report(true)
	rep, err := sink.Switch(ctx, Switch{Live: live.Generation, New: gen, Position: w.cursor, DryRun: opt.DryRun,
		Events: NewReader(store, sink.Filter(), ropt.Registry, ropt.BatchSize)})
	if err != nil {
		return fail(err)
	}
	rep.Events = prog.Events
	rep.Elapsed = time.Since(start)
	if s := rep.Elapsed.Seconds(); s > 0 {
		rep.Rate = float64(rep.Events) / s
	}
	prog.Phase, prog.Head, prog.Position = "done", max(prog.Head, rep.Position), rep.Position
	report(true)
	return rep, nil
}

// startGeneration drops every generation but the live one (and a rebuild's leftovers)
// and creates the next one, marked as building.
func (db *DB) startGeneration(ctx context.Context, p Projection, live int64) (int64, error) {
	var gen int64
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if err := db.setupLock(ctx, tx); err != nil {
			return err
		}
		var cur int64
		if err := tx.QueryRowContext(ctx, db.forUpdate(`SELECT live, next_gen FROM projection_generations WHERE projection = $1`),
			p.Name()).Scan(&cur, &gen); err != nil {
			return err
		}
		if cur != live {
			return fmt.Errorf("%w: live generation changed to %d", ErrFenced, cur)
		}
		old, err := generations(ctx, tx, p.Name())
		if err != nil {
			return err
		}
		for _, g := range old {
			if g != live {
				if err := db.dropGeneration(ctx, tx, p, g); err != nil {
					return err
				}
			}
		}
		if err := db.createGeneration(ctx, tx, p, gen); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE projection_generations SET building = $2, next_gen = $3 WHERE projection = $1`,
			p.Name(), gen, gen+1)
		return err
	})
	return gen, err
}

func generations(ctx context.Context, tx *sql.Tx, name string) ([]int64, error) {
	rows, err := tx.QueryContext(ctx, `SELECT generation FROM projection_checkpoints WHERE projection = $1 ORDER BY generation`, name)
	if err != nil {
		return nil, err
	}
	var gens []int64
	for rows.Next() {
		var g int64
		if err := rows.Scan(&g); err != nil {
			rows.Close()
			return nil, err
		}
		gens = append(gens, g)
	}
	return gens, errors.Join(rows.Err(), rows.Close())
}

// hashTable counts a table's rows and hashes their content in key order.
func hashTable(ctx context.Context, q querier, table string, key []string) (int64, string, error) {
	rows, err := q.QueryContext(ctx, "SELECT * FROM "+table+" ORDER BY "+strings.Join(key, ","))
	if err != nil {
		return 0, "", err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return 0, "", err
	}
	h := sha256.New()
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var n int64
	var buf []byte
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return 0, "", err
		}
		n++
		buf = buf[:0]
		for _, v := range vals {
			buf = appendValue(buf, v)
		}
		h.Write(buf)
	}
	if err := rows.Err(); err != nil {
		return 0, "", err
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// appendValue encodes a scanned value unambiguously: a type tag, then a length or the value.
func appendValue(b []byte, v any) []byte {
	switch v := v.(type) {
	case nil:
		return append(b, 'N')
	case int64:
		b = append(b, 'I')
		return binary.BigEndian.AppendUint64(b, uint64(v))
	case bool:
		b = append(b, 'I') // SQLite stores booleans as integers
		if v {
			return binary.BigEndian.AppendUint64(b, 1)
		}
		return binary.BigEndian.AppendUint64(b, 0)
	case float64:
		b = append(b, 'F')
		return binary.BigEndian.AppendUint64(b, math.Float64bits(v))
	case string:
		b = append(b, 'S')
		b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
		return append(b, v...)
	case []byte:
		b = append(b, 'S')
		b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
		return append(b, v...)
	case time.Time:
		b = append(b, 'T')
		return binary.BigEndian.AppendUint64(b, uint64(v.UnixNano()))
	default:
		s := fmt.Sprintf("%T:%v", v, v)
		b = append(b, 'X')
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		return append(b, s...)
	}
}

// TableHashes counts and hashes every table of a projection's live generation (for
// comparisons across databases and tests).
func (db *DB) TableHashes(ctx context.Context, p Projection) (map[string]TableDiff, error) {
	c, err := db.ensure(ctx, p)
	if err != nil {
		return nil, err
	}
	out := map[string]TableDiff{}
	for _, t := range p.Tables() {
		n, h, err := hashTable(ctx, db.read, generationTable(t.Name, c.gen), t.Key)
		if err != nil {
			return nil, err
		}
		out[t.Name] = TableDiff{Table: t.Name, LiveRows: n, LiveHash: h}
	}
	return out, nil
}

// Reset replaces a projection's live generation by an empty one at position 0, in one
// transaction; the live runner follows and rebuilds it in place. Unlike Rebuild, readers
// see an empty read model until it catches up.
func Reset(ctx context.Context, db *DB, p Projection) (int64, error) {
	live, err := db.ensure(ctx, p)
	if err != nil {
		return 0, err
	}
	var gen int64
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		if err := db.setupLock(ctx, tx); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, db.forUpdate(`SELECT next_gen FROM projection_generations WHERE projection = $1`),
			p.Name()).Scan(&gen); err != nil {
			return err
		}
		old, err := generations(ctx, tx, p.Name())
		if err != nil {
			return err
		}
		for _, g := range old {
			if g != live.gen {
				if err := db.dropGeneration(ctx, tx, p, g); err != nil {
					return err
				}
			}
		}
		if err := db.createGeneration(ctx, tx, p, gen); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE projection_generations SET live = $2, building = 0, next_gen = $3 WHERE projection = $1`,
			p.Name(), gen, gen+1); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE projection_checkpoints SET retired = TRUE WHERE projection = $1 AND generation = $2`,
			p.Name(), live.gen)
		return err
	})
	return gen, err
}
