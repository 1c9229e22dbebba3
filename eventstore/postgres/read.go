package postgres

import (
	"context"
	"math"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/orderengine/orderengine/eventstore"
)

// pageSize is how many events a subscription reads at once.
const pageSize = 1000

// ReadStream reads up to limit events of stream from version from in direction dir.
// Stream reads are not held back by the $all horizon: a stream's versions are assigned
// under its head row's lock, so they commit in order.
func (s *Store) ReadStream(ctx context.Context, stream string, dir eventstore.Direction, from uint64, limit int) ([]eventstore.RecordedEvent, error) {
	if s.closed.Load() {
		return nil, eventstore.ErrClosed
	}
	limit = max(limit, 0)
	var rows pgx.Rows
	var err error
	switch {
	case dir == eventstore.Backward:
		rows, err = s.pool.Query(ctx, s.q.readBackward, stream, int64(min(from, math.MaxInt64)), limit)
	case from > math.MaxInt64:
		rows, err = s.pool.Query(ctx, s.q.readForward, stream, int64(math.MaxInt64), 0)
	default:
		rows, err = s.pool.Query(ctx, s.q.readForward, stream, int64(from), limit)
	}
	if err != nil {
		return nil, s.fail("read "+stream, err)
	}
	evs := make([]eventstore.RecordedEvent, 0, min(limit, 256))
	for rows.Next() {
		var e eventstore.RecordedEvent
		var pos, v int64
		var id pgtype.UUID
		if err := rows.Scan(&pos, &e.Stream, &v, &id, &e.Type, &e.Data, &e.Metadata, &e.RecordedAt); err != nil {
			rows.Close()
			return nil, s.fail("read "+stream, err)
		}
		e.Position, e.Version, e.ID = uint64(pos), uint64(v), uuid.UUID(id.Bytes)
		evs = append(evs, e)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail("read "+stream, err)
	}
	if len(evs) == 0 {
		var exists bool
		if err := s.pool.QueryRow(ctx, s.q.streamExists, stream).Scan(&exists); err != nil {
			return nil, s.fail("read "+stream, err)
		}
		if !exists {
			return nil, eventstore.ErrStreamNotFound
		}
		return evs, nil
	}
	// Remember the newest event read, so that an append expecting it takes one round trip.
	newest := evs[len(evs)-1]
	if dir == eventstore.Backward {
		newest = evs[0]
	}
	if hash, _, err := eventstore.SplitChainHash(newest.Metadata); err == nil {
		s.heads.put(stream, newest.Version, hash)
	}
	return evs, nil
}

// ReadAll reads up to limit events of $all after from that match filter, in position
// order, below the visibility horizon. If committed events lie above the horizon and the
// page is not full, it waits (at most Options.HorizonWait) for the older transactions
// holding the horizon back to end, so that an append is visible to a ReadAll that follows
// it.
func (s *Store) ReadAll(ctx context.Context, from uint64, limit int, filter eventstore.Filter) ([]eventstore.RecordedEvent, error) {
	if s.closed.Load() {
		return nil, eventstore.ErrClosed
	}
	if limit <= 0 || from >= math.MaxInt64 {
		return []eventstore.RecordedEvent{}, nil
	}
	var target uint64
	var deadline time.Time
	for attempt := 0; ; attempt++ {
		evs, hz, committed, err := s.readAll(ctx, from, limit, filter)
		if err != nil {
			return nil, s.fail("read $all", err)
		}
		if attempt == 0 {
			target, deadline = committed, time.Now().Add(s.opt.HorizonWait)
		}
		if len(evs) >= limit || hz > target || time.Now().After(deadline) {
			return evs, nil
		}
		if err := sleep(ctx, attempt); err != nil {
			return nil, err
		}
	}
}

// Head is the position of the last event visible in $all, waiting like ReadAll for
// transactions that hold the horizon below already committed events.
func (s *Store) Head(ctx context.Context) (uint64, error) {
	if s.closed.Load() {
		return 0, eventstore.ErrClosed
	}
	var target uint64
	var deadline time.Time
	for attempt := 0; ; attempt++ {
		var hz, visible, committed int64
		if err := s.pool.QueryRow(ctx, s.q.head).Scan(&hz, &visible, &committed); err != nil {
			return 0, s.fail("head", err)
		}
		if attempt == 0 {
			target, deadline = uint64(committed), time.Now().Add(s.opt.HorizonWait)
		}
		if uint64(hz) > target || time.Now().After(deadline) {
			return uint64(visible), nil
		}
		if err := sleep(ctx, attempt); err != nil {
			return 0, err
		}
	}
}

// sleep backs off between re-reads of the horizon: 1ms, 2ms, 4ms … 32ms.
func sleep(ctx context.Context, attempt int) error {
	t := time.NewTimer(time.Millisecond << min(attempt, 5))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// readAll reads one page of $all in a single statement, returning the events, the
// horizon they were read under, and the highest committed position in the same snapshot.
func (s *Store) readAll(ctx context.Context, from uint64, limit int, f eventstore.Filter) (evs []eventstore.RecordedEvent, hz, committed uint64, err error) {
	var rows pgx.Rows
	switch {
	case f.StreamPrefix == "" && len(f.EventTypes) == 0:
		rows, err = s.pool.Query(ctx, s.q.readAll, int64(from), limit)
	case len(f.EventTypes) == 0:
		rows, err = s.pool.Query(ctx, s.q.readAllPrefix, int64(from), limit, f.StreamPrefix)
	case f.StreamPrefix == "":
		rows, err = s.pool.Query(ctx, s.q.readAllTypes, int64(from), limit, f.EventTypes)
	default:
		rows, err = s.pool.Query(ctx, s.q.readAllBoth, int64(from), limit, f.StreamPrefix, f.EventTypes)
	}
	if err != nil {
		return nil, 0, 0, err
	}
	defer rows.Close()
	evs = make([]eventstore.RecordedEvent, 0, min(limit, 1024))
	for rows.Next() {
		var h int64
		var maxPos, pos, v pgtype.Int8
		var stream, typ pgtype.Text
		var id pgtype.UUID
		var at pgtype.Timestamptz
		var e eventstore.RecordedEvent
		if err := rows.Scan(&h, &maxPos, &pos, &stream, &v, &id, &typ, &e.Data, &e.Metadata, &at); err != nil {
			return nil, 0, 0, err
		}
		hz, committed = uint64(h), uint64(maxPos.Int64)
		if !pos.Valid {
			continue // no event qualified: the row only carries the horizon
		}
		e.Position, e.Stream, e.Version, e.ID, e.Type, e.RecordedAt =
			uint64(pos.Int64), stream.String, uint64(v.Int64), uuid.UUID(id.Bytes), typ.String, at.Time
		evs = append(evs, e)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, 0, err
	}
	return evs, hz, committed, nil
}

// readPage is the subscriptions' PageReader. When the page is not full, everything below
// the horizon has been scanned, so a filtered subscriber moves past events it does not
// want, and no event can later appear there.
//
// When nothing new is visible but events are committed above the horizon, it re-reads
// (backing off, at most Options.HorizonWait): what releases those events is the end of
// some older transaction — possibly not an append, possibly in another process — which
// wakes no one, so waiting for a notification could leave them undelivered for a whole
// poll interval.
func (s *Store) readPage(ctx context.Context, from uint64, limit int, f eventstore.Filter) ([]eventstore.RecordedEvent, uint64, error) {
	if s.closed.Load() {
		return nil, 0, eventstore.ErrClosed
	}
	var (
		evs           []eventstore.RecordedEvent
		hz, committed uint64
		err           error
		deadline      time.Time
	)
	for attempt := 0; ; attempt++ {
		evs, hz, committed, err = s.readAll(ctx, from, limit, f)
		if err != nil {
			return nil, 0, s.fail("read $all", err)
		}
		if attempt == 0 {
			deadline = time.Now().Add(s.opt.HorizonWait)
		}
		if len(evs) > 0 || committed < hz || committed <= from || time.Now().After(deadline) || s.closed.Load() {
			break
		}
		if err := sleep(ctx, attempt); err != nil {
			return nil, 0, err
		}
	}
	var scanned uint64
	if len(evs) < limit && hz > 0 {
		scanned = hz - 1
	}
	return evs, scanned, nil
}

// SubscribeAll delivers the events of $all after from that match filter: history, then
// live events, in position order. Resume from a position a reader of $all returned (an
// event's or Head's), not from an AppendResult: events of older transactions still in
// flight may yet commit below an append's position.
func (s *Store) SubscribeAll(ctx context.Context, from uint64, filter eventstore.Filter) (eventstore.Subscription, error) {
	if s.closed.Load() {
		return nil, eventstore.ErrClosed
	}
	s.startListener()
	subCtx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.bgCtx, cancel) // Close ends every subscription
	inner := eventstore.NewPollingSubscription(subCtx, s.readPage, &s.notifier, from, filter,
		eventstore.PollingOptions{PageSize: pageSize, Interval: s.opt.PollInterval})
	return &subscription{Subscription: inner, cancel: cancel, stop: stop}, nil
}

type subscription struct {
	eventstore.Subscription
	cancel context.CancelFunc
	stop   func() bool
}

func (s *subscription) Close() error {
	s.stop()
	s.cancel()
	return s.Subscription.Close()
}
