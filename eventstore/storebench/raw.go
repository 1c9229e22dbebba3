package storebench

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/orderengine/orderengine/eventstore"
)

// rawTableDDL is the PostgreSQL adapter's events row shape (eventstore/postgres,
// migration 1): the same columns, types and unique (stream_id, version) constraint, with
// an identity position as a plain table would have. %s is the qualified table name.
const rawTableDDL = `CREATE TABLE %s (
	position    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	stream_id   text NOT NULL,
	version     bigint NOT NULL,
	event_id    uuid NOT NULL,
	type        text NOT NULL,
	data        bytea NOT NULL,
	metadata    bytea NOT NULL,
	recorded_at timestamptz NOT NULL DEFAULT now(),
	UNIQUE (stream_id, version)
)`

// rawTable creates, on first use, the temporary schema and table of the raw baseline.
// Both raw workloads share the table, as append_b1 and append_b10 share the store's.
func (r *run) rawTable(ctx context.Context) (string, error) {
	if r.rawName != "" {
		return r.rawName, nil
	}
	schema := "storebench_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
	sch := pgx.Identifier{schema}.Sanitize()
	table := sch + ".events"
	if _, err := r.cfg.RawPostgres.Exec(ctx, "CREATE SCHEMA "+sch); err != nil {
		return "", fmt.Errorf("create schema %s: %w", schema, err)
	}
	r.rawSchema = schema
	if _, err := r.cfg.RawPostgres.Exec(ctx, fmt.Sprintf(rawTableDDL, table)); err != nil {
		return "", fmt.Errorf("create table %s: %w", table, err)
	}
	r.rawName = table
	return table, nil
}

// dropRaw drops the raw baseline's schema, if it was created.
func (r *run) dropRaw() error {
	if r.rawSchema == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := r.cfg.RawPostgres.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{r.rawSchema}.Sanitize()+" CASCADE")
	if err != nil {
		return fmt.Errorf("storebench: drop schema %s: %w", r.rawSchema, err)
	}
	r.rawSchema, r.rawName = "", ""
	return nil
}

type rawStream struct {
	name  string
	ids   [][16]byte
	types []string
	data  [][]byte
	md    [][]byte
}

// rawInsert inserts Streams × EventsPerStream rows of the adapter's row shape with
// Writers concurrent clients, batch rows per transaction (one statement each).
func (r *run) rawInsert(ctx context.Context, name string, batch int) Result {
	cfg := r.cfg
	res := r.result(name, batch)
	res.Store = "postgres raw INSERT"
	total := int64(cfg.Streams) * int64(cfg.EventsPerStream)
	table, err := r.rawTable(ctx)
	if err != nil {
		res.fail(err.Error())
		startProgress(cfg.Progress, name, total, 0).finish(&res)
		return res
	}
	tag := "b1"
	if batch > 1 {
		tag = "b10"
	}
	prefix := fmt.Sprintf("%s-raw%s_", r.category, tag)
	// Rows as the adapter stores them: metadata with the chain hash spliced in.
	plans := make([][]*rawStream, cfg.Writers)
	for i := range cfg.Streams {
		s := &rawStream{name: fmt.Sprintf("%s%07d", prefix, i)}
		evs := make([]eventstore.EventData, cfg.EventsPerStream)
		for v := range evs {
			evs[v] = r.gen.event("bench.raw"+tag, s.name, v)
		}
		for _, e := range eventstore.Chain([32]byte{}, evs) {
			s.ids = append(s.ids, [16]byte(e.ID))
			s.types = append(s.types, e.Type)
			s.data = append(s.data, e.Data)
			s.md = append(s.md, e.Metadata)
		}
		plans[i%cfg.Writers] = append(plans[i%cfg.Writers], s)
	}
	insertOne := `INSERT INTO ` + table + ` (stream_id, version, event_id, type, data, metadata) VALUES ($1, $2, $3, $4, $5, $6)`
	insertMany := `INSERT INTO ` + table + ` (stream_id, version, event_id, type, data, metadata)
		SELECT $1, $2 + u.ord - 1, u.id, u.type, u.data, u.md
		FROM unnest($3::uuid[], $4::text[], $5::bytea[], $6::bytea[]) WITH ORDINALITY AS u(id, type, data, md, ord)`
	pool := cfg.RawPostgres

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fe := &firstError{cancel: cancel}
	lat := make([][]time.Duration, cfg.Writers)
	var rows, txs atomic.Int64
	prog := startProgress(cfg.Progress, name, total, 0) // rows ready: start the clock
	var wg sync.WaitGroup
	for w := range cfg.Writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var l []time.Duration
			defer func() { lat[w] = l }()
			for _, s := range plans[w] {
				for v := 0; v < len(s.ids); v += batch {
					n := min(batch, len(s.ids)-v)
					t0 := time.Now()
					var err error
					if n == 1 {
						_, err = pool.Exec(ctx, insertOne, s.name, v, s.ids[v], s.types[v], s.data[v], s.md[v])
					} else {
						_, err = pool.Exec(ctx, insertMany, s.name, v, s.ids[v:v+n], s.types[v:v+n], s.data[v:v+n], s.md[v:v+n])
					}
					l = append(l, time.Since(t0))
					if err != nil {
						fe.set(fmt.Errorf("insert into %s: %w", table, err))
						return
					}
					rows.Add(int64(n))
					txs.Add(1)
					prog.add(int64(n))
				}
			}
		}()
	}
	wg.Wait()
	elapsed := prog.line.Elapsed()
	res.Events, res.Appends, res.DurationS = rows.Load(), txs.Load(), round(elapsed.Seconds(), 3)
	res.EventsPerS, res.AppendsPerS = rate(res.Events, elapsed), rate(res.Appends, elapsed)
	setLatencies(&res, lat)
	if fe.err != nil {
		res.fail(fe.err.Error())
		prog.finish(&res)
		return res
	}
	// Every acknowledged row is there once (the unique constraint rules out repeats).
	var stored int64
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM `+table+` WHERE starts_with(stream_id, $1)`, prefix).Scan(&stored); err != nil {
		res.fail(fmt.Sprintf("count rows: %v", err))
	} else if stored < res.Events {
		res.Missing = int(res.Events - stored)
		res.fail(fmt.Sprintf("%d of %d inserted rows missing", res.Missing, res.Events))
	} else if stored > res.Events {
		res.Unexpected = int(stored - res.Events)
		res.fail(fmt.Sprintf("%d rows more than inserted", res.Unexpected))
	}
	prog.finish(&res)
	return res
}
