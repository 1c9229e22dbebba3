package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/orderengine/orderengine/eventstore"
)

// idempotencyWindow is how far back from a stream's head an append with Any or
// StreamExists looks for its event IDs (plus the append's own length): re-appending
// events found there is a no-op. Exact and NoStream appends look exactly where the events
// would have gone, however long the stream.
const idempotencyWindow = 1000

// querier is what an append or read needs: the pool, or a transaction in tests.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Append writes events to stream if expected holds. In the common cases it takes one
// round trip: a NoStream append creates the stream head and inserts the events in one
// statement, and an Exact(n) append whose head (n and its chain hash) is in the head cache
// updates the head conditionally and inserts the events in one statement. Otherwise it
// reads the head first. A conditional write that matches no row means another append got
// there first (or the cache was stale): the head is read again and the expectation
// rechecked, which reports the conflict, recognizes an idempotent re-append, or, for Any
// and StreamExists, retries.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	if s.closed.Load() {
		return eventstore.AppendResult{}, eventstore.ErrClosed
	}
	if err := eventstore.Validate(s.limits, stream, events); err != nil {
		return eventstore.AppendResult{}, err
	}
	res, err := s.append(ctx, s.pool, stream, expected, events)
	if err != nil {
		var wev *eventstore.WrongExpectedVersionError
		if errors.As(err, &wev) || errors.Is(err, eventstore.ErrInvalidEvent) {
			return eventstore.AppendResult{}, err
		}
		return eventstore.AppendResult{}, s.fail("append to "+stream, err)
	}
	s.appended()
	return res, nil
}

type head struct {
	exists  bool
	version uint64
	hash    [32]byte
}

func (s *Store) append(ctx context.Context, q querier, stream string, expected eventstore.ExpectedVersion, events []eventstore.EventData) (eventstore.AppendResult, error) {
	k := uint64(len(events))
	ids := make([][16]byte, len(events))
	for i, e := range events {
		ids[i] = [16]byte(e.ID)
	}
	exact, isExact := expected.Exact()
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return eventstore.AppendResult{}, err
		}
		var h head
		known := false
		if attempt == 0 {
			switch {
			case expected.IsNoStream():
				// Assume the stream is new; the insert does nothing if it is not.
				known = true
			case isExact:
				if hash, ok := s.heads.get(stream, exact); ok {
					h, known = head{true, exact, hash}, true
				}
			}
		}
		if !known {
			var err error
			if expected.IsAny() || expected.IsStreamExists() {
				var done *eventstore.AppendResult
				h, done, err = s.readHeadIDs(ctx, q, stream, ids)
				if err != nil {
					return eventstore.AppendResult{}, err
				}
				if done != nil {
					return *done, nil
				}
			} else if h, err = s.readHead(ctx, q, stream); err != nil {
				return eventstore.AppendResult{}, err
			}
			if !expected.Check(h.exists, h.version) {
				return s.conflict(ctx, q, stream, expected, ids, h)
			}
		}

		prepared := eventstore.Chain(h.hash, events)
		first := uint64(0)
		if h.exists {
			first = h.version + 1
		}
		last := first + k - 1
		if last > math.MaxInt64 {
			return eventstore.AppendResult{}, fmt.Errorf("stream %s: version overflow", stream)
		}
		types := make([]string, k)
		data := make([][]byte, k)
		md := make([][]byte, k)
		for i, p := range prepared {
			types[i], data[i], md[i] = p.Type, p.Data, p.Metadata
		}
		lastHash := prepared[k-1].Hash
		var row pgx.Row
		switch {
		case k == 1 && h.exists:
			row = q.QueryRow(ctx, s.q.updateStream1, stream, int64(h.version), h.hash[:], int64(last), lastHash[:], ids[0], types[0], data[0], md[0])
		case k == 1:
			row = q.QueryRow(ctx, s.q.createStream1, stream, int64(last), lastHash[:], ids[0], types[0], data[0], md[0])
		case h.exists:
			row = q.QueryRow(ctx, s.q.updateStream, stream, int64(h.version), h.hash[:], int64(last), lastHash[:], ids, types, data, md)
		default:
			row = q.QueryRow(ctx, s.q.createStream, stream, int64(last), lastHash[:], ids, types, data, md)
		}
		var base int64
		err := row.Scan(&base)
		switch {
		case err == nil:
			s.heads.put(stream, last, lastHash)
			return eventstore.AppendResult{Version: last, Position: uint64(base) + k}, nil
		case errors.Is(err, pgx.ErrNoRows):
			// The head moved (or the cache was stale): read it again.
		case isUniqueViolation(err) && attempt < 3:
			// Cannot happen while events are only written through the head row; if it
			// does, the stream moved under us: read the head again (but do not spin on
			// a log whose rows disagree with its heads).
		default:
			return eventstore.AppendResult{}, err
		}
		s.heads.forget(stream)
	}
}

func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

func (s *Store) readHead(ctx context.Context, q querier, stream string) (head, error) {
	var v int64
	var hash []byte
	err := q.QueryRow(ctx, s.q.readHead, stream).Scan(&v, &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return head{}, nil
	}
	if err != nil {
		return head{}, err
	}
	h := head{exists: true, version: uint64(v)}
	copy(h.hash[:], hash)
	s.heads.put(stream, h.version, h.hash)
	return h, nil
}

// readHeadIDs reads the head and looks for the append's event IDs near it. If they are all
// there, in order and contiguous, the append was made before and done is its result.
func (s *Store) readHeadIDs(ctx context.Context, q querier, stream string, ids [][16]byte) (h head, done *eventstore.AppendResult, err error) {
	rows, err := q.Query(ctx, s.q.readHeadIDs, stream, ids, int64(len(ids)+idempotencyWindow))
	if err != nil {
		return head{}, nil, err
	}
	h, hits, err := scanHeadIDs(rows)
	if err != nil {
		return head{}, nil, err
	}
	if done, err = s.resolveHits(ctx, q, stream, ids, hits); err != nil {
		return head{}, nil, err
	}
	return h, done, nil
}

// idHit is one of an append's event IDs found near the stream's head.
type idHit struct {
	version  uint64
	id       [16]byte
	position uint64
}

// scanHeadIDs reads the rows of the readHeadIDs query (and closes them).
func scanHeadIDs(rows pgx.Rows) (h head, hits []idHit, err error) {
	defer rows.Close()
	for rows.Next() {
		var v int64
		var hash []byte
		var ev, pos pgtype.Int8
		var id pgtype.UUID
		if err := rows.Scan(&v, &hash, &ev, &id, &pos); err != nil {
			return head{}, nil, err
		}
		h.exists, h.version = true, uint64(v)
		copy(h.hash[:], hash)
		if ev.Valid {
			hits = append(hits, idHit{uint64(ev.Int64), id.Bytes, uint64(pos.Int64)})
		}
	}
	return h, hits, rows.Err()
}

// resolveHits decides what event IDs found near the head mean: none, a previous append of
// the same events (done is its result), or IDs reused out of place (ErrInvalidEvent).
func (s *Store) resolveHits(ctx context.Context, q querier, stream string, ids [][16]byte, hits []idHit) (done *eventstore.AppendResult, err error) {
	if len(hits) == 0 {
		return nil, nil
	}
	// Some IDs are stored: the events must all be there, contiguous and in order, starting
	// where the first hit says the first event went.
	idx := -1
	for i, id := range ids {
		if id == hits[0].id {
			idx = i
			break
		}
	}
	if idx >= 0 && hits[0].version >= uint64(idx) {
		first := hits[0].version - uint64(idx)
		if res, ok, err := s.matchRange(ctx, q, stream, first, ids); err != nil {
			return nil, err
		} else if ok {
			return &res, nil
		}
	}
	return nil, fmt.Errorf("%w: stream %s already holds event %s at version %d, and the append does not repeat the events stored around it",
		eventstore.ErrInvalidEvent, stream, uuid.UUID(hits[0].id), hits[0].version)
}

// matchRange reports whether the stream holds exactly the events ids at versions first…,
// and if so the result of the append that stored them.
func (s *Store) matchRange(ctx context.Context, q querier, stream string, first uint64, ids [][16]byte) (eventstore.AppendResult, bool, error) {
	k := uint64(len(ids))
	if first > math.MaxInt64-k {
		return eventstore.AppendResult{}, false, nil
	}
	rows, err := q.Query(ctx, s.q.readRange, stream, int64(first), int64(first+k))
	if err != nil {
		return eventstore.AppendResult{}, false, err
	}
	defer rows.Close()
	var i int
	var res eventstore.AppendResult
	for rows.Next() {
		var v, pos int64
		var id pgtype.UUID
		if err := rows.Scan(&v, &id, &pos); err != nil {
			return eventstore.AppendResult{}, false, err
		}
		if i >= len(ids) || uint64(v) != first+uint64(i) || id.Bytes != ids[i] {
			return eventstore.AppendResult{}, false, rows.Err()
		}
		res = eventstore.AppendResult{Version: uint64(v), Position: uint64(pos)}
		i++
	}
	if err := rows.Err(); err != nil {
		return eventstore.AppendResult{}, false, err
	}
	return res, i == len(ids), nil
}

// conflict handles an expectation that does not hold: if the events were appended before
// at the expected place, the append is an idempotent no-op; otherwise it is a
// wrong-expected-version error.
func (s *Store) conflict(ctx context.Context, q querier, stream string, expected eventstore.ExpectedVersion, ids [][16]byte, h head) (eventstore.AppendResult, error) {
	var first uint64
	place := h.exists
	switch n, exact := expected.Exact(); {
	case exact:
		first = n + 1
		place = place && n < math.MaxInt64
	case expected.IsNoStream():
	default:
		place = false
	}
	if place && h.version >= first && h.version-first+1 >= uint64(len(ids)) {
		res, ok, err := s.matchRange(ctx, q, stream, first, ids)
		if err != nil {
			return eventstore.AppendResult{}, err
		}
		if ok {
			return res, nil
		}
	}
	return eventstore.AppendResult{}, &eventstore.WrongExpectedVersionError{
		Stream: stream, Expected: expected, Actual: h.version, StreamExists: h.exists,
	}
}
