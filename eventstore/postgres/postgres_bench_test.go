package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/eventstore/postgres"
)

// benchWriters is the writer concurrency of the benchmarks (as in the workloads).
const benchWriters = 8

// benchEvent is about the benchmark shape of the issue: ~300 bytes of JSON data and
// ~100 bytes of metadata.
func benchEvent(n int) eventstore.EventData {
	return eventstore.EventData{
		ID:   uuid.New(),
		Type: "order.line_added",
		Data: []byte(fmt.Sprintf(`{"orderId":"%s","n":%d,"sku":"SKU-0001234","qty":3,"price":{"amount":1299,"currency":"EUR"},"note":"%s"}`,
			uuid.NewString(), n, strings.Repeat("x", 150))),
		Metadata: []byte(fmt.Sprintf(`{"correlationId":"%s","actor":"bench","schemaVersion":1}`, uuid.NewString())),
	}
}

// runWriters runs total operations split over benchWriters goroutines; op gets the
// writer's number and the writer-local operation index.
func runWriters(b *testing.B, total int, op func(w, i int) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Pointer[error]
	for w := 0; w < benchWriters; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				if next.Add(1) > int64(total) || failed.Load() != nil {
					return
				}
				if err := op(w, i); err != nil {
					failed.Store(&err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		b.Fatal(*err)
	}
}

// BenchmarkAppend: b.N appends of batch events by 8 writers, each filling streams of 10
// events with exact expected versions (NoStream for the first append of a stream).
func BenchmarkAppend(b *testing.B) {
	for _, batch := range []int{1, 10} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			s := newStore(b, postgres.Options{})
			run := uuid.NewString()[:8]
			perStream := 10 / batch
			evs := make([][]eventstore.EventData, benchWriters)
			for w := range evs {
				evs[w] = make([]eventstore.EventData, batch)
			}
			ctx := context.Background()
			b.ResetTimer()
			start := time.Now()
			runWriters(b, b.N, func(w, i int) error {
				stream := fmt.Sprintf("bench-%s%d.%d", run, w, i/perStream)
				exp := eventstore.NoStream
				if n := i % perStream; n > 0 {
					exp = eventstore.Exact(uint64(n*batch - 1))
				}
				for j := range evs[w] {
					evs[w][j] = benchEvent(i*batch + j)
				}
				_, err := s.Append(ctx, stream, exp, evs[w]...)
				return err
			})
			elapsed := time.Since(start)
			b.ReportMetric(float64(b.N*batch)/elapsed.Seconds(), "events/s")
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "appends/s")
		})
	}
}

// BenchmarkRawInsert is the yardstick: plain INSERTs of the same row shape into a table
// with the same indexes, by 8 clients, one row per statement in autocommit (rows=1) or
// ten rows per transaction (rows=10).
func BenchmarkRawInsert(b *testing.B) {
	for _, rows := range []int{1, 10} {
		b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) {
			schema, admin := freshSchema(b)
			ctx := context.Background()
			table := pgx.Identifier{schema, "raw_events"}.Sanitize()
			for _, q := range []string{
				"CREATE SCHEMA " + pgx.Identifier{schema}.Sanitize(),
				`CREATE TABLE ` + table + ` (
					position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
					stream_id text NOT NULL, version bigint NOT NULL, event_id uuid NOT NULL,
					type text NOT NULL, data bytea NOT NULL, metadata bytea NOT NULL,
					recorded_at timestamptz NOT NULL DEFAULT now(), UNIQUE (stream_id, version))`,
			} {
				if _, err := admin.Exec(ctx, q); err != nil {
					b.Fatal(err)
				}
			}
			cfg, err := pgxpool.ParseConfig(testURL())
			if err != nil {
				b.Fatal(err)
			}
			cfg.MaxConns = 16 // as the store's pool
			pool, err := pgxpool.NewWithConfig(ctx, cfg)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(pool.Close)
			insert := `INSERT INTO ` + table + ` (stream_id, version, event_id, type, data, metadata) VALUES ($1, $2, $3, $4, $5, $6)`
			run := uuid.NewString()[:8]
			b.ResetTimer()
			start := time.Now()
			runWriters(b, b.N, func(w, i int) error {
				stream := fmt.Sprintf("raw-%s%d.%d", run, w, i)
				if rows == 1 {
					e := benchEvent(i)
					_, err := pool.Exec(ctx, insert, stream, 0, e.ID, e.Type, e.Data, e.Metadata)
					return err
				}
				return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
					var batch pgx.Batch
					for j := 0; j < rows; j++ {
						e := benchEvent(j)
						batch.Queue(insert, stream, j, e.ID, e.Type, e.Data, e.Metadata)
					}
					return tx.SendBatch(ctx, &batch).Close()
				})
			})
			elapsed := time.Since(start)
			b.ReportMetric(float64(b.N*rows)/elapsed.Seconds(), "rows/s")
		})
	}
}
