package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/orderengine/orderengine/eventstore"
)

var _ eventstore.MultiAppender = (*Store)(nil)

// AppendMulti implements eventstore.MultiAppender. All parts are written by one batch of
// statements, one per stream, sent in one round trip and run by PostgreSQL as one
// implicit transaction: the events of all parts share the transaction id, so their
// positions are xid<<20 | 1…N, consecutive, and the horizon keeps readers of $all from
// seeing any of them before all have committed. Each statement is the conditional head
// write of a single-stream append; one that matches no row (a stale head, a conflict)
// fails its insert, which rolls the whole batch back, and the heads are read again as
// for a single append. So with every head known (NoStream, or Exact with the head in the
// cache) a multi-stream append is one round trip, and otherwise two: one batch reading the
// unknown heads, one writing.
func (s *Store) AppendMulti(ctx context.Context, parts ...eventstore.StreamAppend) ([]eventstore.AppendResult, error) {
	if s.closed.Load() {
		return nil, eventstore.ErrClosed
	}
	if err := eventstore.ValidateMulti(s.limits, parts); err != nil {
		return nil, err
	}
	res, written, err := s.appendMulti(ctx, parts)
	if err != nil {
		var wev *eventstore.WrongExpectedVersionError
		if errors.As(err, &wev) || errors.Is(err, eventstore.ErrInvalidEvent) {
			return nil, err
		}
		return nil, s.fail("multi-stream append", err)
	}
	if written {
		s.appended()
	}
	return res, nil
}

// partWrite is one part's pending write in a batch.
type partWrite struct {
	part     int
	offset   uint64 // events of the parts written before it in the batch
	last     uint64
	lastHash [32]byte
}

func (s *Store) appendMulti(ctx context.Context, parts []eventstore.StreamAppend) ([]eventstore.AppendResult, bool, error) {
	res := make([]eventstore.AppendResult, len(parts))
	done := make([]bool, len(parts)) // parts found already stored (idempotent retries)
	ids := make([][][16]byte, len(parts))
	for i, p := range parts {
		ids[i] = make([][16]byte, len(p.Events))
		for j, e := range p.Events {
			ids[i][j] = [16]byte(e.ID)
		}
	}
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, false, err
		}
		heads, err := s.multiHeads(ctx, parts, ids, done, res, attempt == 0)
		if err != nil {
			return nil, false, err
		}
		var b pgx.Batch
		var writes []partWrite
		var offset uint64
		for i, p := range parts {
			if done[i] {
				continue
			}
			h := heads[i]
			k := uint64(len(p.Events))
			prepared := eventstore.Chain(h.hash, p.Events)
			first := uint64(0)
			if h.exists {
				first = h.version + 1
			}
			last := first + k - 1
			if last > math.MaxInt64 {
				return nil, false, fmt.Errorf("stream %s: version overflow", p.Stream)
			}
			types := make([]string, k)
			data := make([][]byte, k)
			md := make([][]byte, k)
			for j, e := range prepared {
				types[j], data[j], md[j] = e.Type, e.Data, e.Metadata
			}
			w := partWrite{part: i, offset: offset, last: last, lastHash: prepared[k-1].Hash}
			if h.exists {
				b.Queue(s.q.updateStreamPart, p.Stream, int64(h.version), h.hash[:], int64(last), w.lastHash[:], int64(offset), ids[i], types, data, md)
			} else {
				b.Queue(s.q.createStreamPart, p.Stream, int64(last), w.lastHash[:], int64(offset), ids[i], types, data, md)
			}
			writes = append(writes, w)
			offset += k
		}
		if len(writes) == 0 {
			return res, false, nil // every part was already stored
		}
		bases, err := s.sendParts(ctx, &b, len(writes))
		switch {
		case err == nil:
			for j, w := range writes {
				p := parts[w.part]
				s.heads.put(p.Stream, w.last, w.lastHash)
				// The statements of a batch run in one transaction: one base.
				res[w.part] = eventstore.AppendResult{Version: w.last, Position: uint64(bases[j]) + w.offset + uint64(len(p.Events))}
			}
			return res, true, nil
		case isStaleHead(err), isUniqueViolation(err) && attempt < 3:
			// A head moved (or the cache was stale): nothing was written; read the heads
			// again (see append for the unique-violation case).
		default:
			return nil, false, err
		}
		for _, w := range writes {
			s.heads.forget(parts[w.part].Stream)
		}
	}
}

// multiHeads returns the head each part not yet done writes against. On the first attempt
// NoStream parts assume a new stream and Exact parts take the head cache's word; every
// other head is read, all in one batch (one round trip). A part whose expectation does
// not hold is either an idempotent repeat — marked done with its original result — or the
// batch's conflict, returned as the error.
func (s *Store) multiHeads(ctx context.Context, parts []eventstore.StreamAppend, ids [][][16]byte, done []bool, res []eventstore.AppendResult, first bool) ([]head, error) {
	heads := make([]head, len(parts))
	var b pgx.Batch
	var read []int
	for i, p := range parts {
		if done[i] {
			continue
		}
		if first {
			if p.Expected.IsNoStream() {
				continue
			}
			if n, ok := p.Expected.Exact(); ok {
				if hash, ok := s.heads.get(p.Stream, n); ok {
					heads[i] = head{true, n, hash}
					continue
				}
			}
		}
		if p.Expected.IsAny() || p.Expected.IsStreamExists() {
			b.Queue(s.q.readHeadIDs, p.Stream, ids[i], int64(len(ids[i])+idempotencyWindow))
		} else {
			b.Queue(s.q.readHead, p.Stream)
		}
		read = append(read, i)
	}
	if len(read) == 0 {
		return heads, nil
	}
	hits := make([][]idHit, len(parts))
	br := s.pool.SendBatch(ctx, &b)
	for _, i := range read {
		p := parts[i]
		var err error
		if p.Expected.IsAny() || p.Expected.IsStreamExists() {
			var rows pgx.Rows
			if rows, err = br.Query(); err == nil {
				heads[i], hits[i], err = scanHeadIDs(rows)
			}
		} else {
			var v int64
			var hash []byte
			err = br.QueryRow().Scan(&v, &hash)
			switch {
			case errors.Is(err, pgx.ErrNoRows):
				err = nil
			case err == nil:
				heads[i] = head{exists: true, version: uint64(v)}
				copy(heads[i].hash[:], hash)
			}
		}
		if err != nil {
			br.Close()
			return nil, err
		}
		if heads[i].exists {
			s.heads.put(p.Stream, heads[i].version, heads[i].hash)
		}
	}
	if err := br.Close(); err != nil {
		return nil, err
	}
	// Follow-ups, rare, one statement each: repeats and conflicts.
	for _, i := range read {
		p, h := parts[i], heads[i]
		if len(hits[i]) > 0 {
			already, err := s.resolveHits(ctx, s.pool, p.Stream, ids[i], hits[i])
			if err != nil {
				return nil, err
			}
			res[i], done[i] = *already, true
			continue
		}
		if !p.Expected.Check(h.exists, h.version) {
			r, err := s.conflict(ctx, s.pool, p.Stream, p.Expected, ids[i], h)
			if err != nil {
				return nil, err
			}
			res[i], done[i] = r, true
		}
	}
	return heads, nil
}

// sendParts runs a batch of n part statements in one implicit transaction and returns
// each one's position base. Any error means nothing was written.
func (s *Store) sendParts(ctx context.Context, b *pgx.Batch, n int) ([]int64, error) {
	br := s.pool.SendBatch(ctx, b)
	bases := make([]int64, n)
	var first error
	for i := range n {
		if err := br.QueryRow().Scan(&bases[i]); err != nil && first == nil {
			first = err
		}
	}
	if err := br.Close(); err != nil && first == nil {
		first = err
	}
	return bases, first
}

// isStaleHead recognizes the failure of a multi-stream part whose head write matched no
// row: its events' position is NULL (see queries.createStreamPart).
func isStaleHead(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23502" && pgErr.ColumnName == "position"
}
