package kurrentdb

import (
	"context"
	"errors"
	"io"
	"math"
	"strings"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/orderengine/orderengine/eventstore"
)

// isSystem reports the server's own events: system streams ("$…", including "$$…"
// metadata streams and projection outputs such as "$ce-order") and system event types
// ("$metadata", "$>" links, "$statsCollected", …).
func isSystem(stream, eventType string) bool {
	return strings.HasPrefix(stream, "$") || strings.HasPrefix(eventType, "$")
}

// toRecorded converts a client event. Links are not resolved, so Event is the stored
// record itself.
func toRecorded(e *esdb.RecordedEvent) eventstore.RecordedEvent {
	return eventstore.RecordedEvent{
		ID:         e.EventID,
		Stream:     e.StreamID,
		Type:       e.EventType,
		Version:    e.EventNumber,
		Position:   positionOf(e.Position),
		Data:       e.Data,
		Metadata:   e.UserMetadata,
		RecordedAt: e.CreatedDate,
	}
}

// maxCount bounds one read request (the server counts in int32).
const maxCount = math.MaxInt32

// drain reads every event of a read stream; the caller closes it.
func drain(rs *esdb.ReadStream, hint int) ([]*esdb.RecordedEvent, error) {
	out := make([]*esdb.RecordedEvent, 0, min(hint, 1024))
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		if ev != nil && ev.Event != nil {
			out = append(out, ev.Event)
		}
	}
}

// readStream reads up to count events of stream from `from` in direction dir, with the
// port's errors (ErrStreamNotFound for a stream without events).
// Reads go to the leader (see leaderOnly) and are repeated when a follower or a node that
// is not ready refuses them.
func (s *Store) readStream(ctx context.Context, stream string, dir esdb.Direction, from esdb.StreamPosition, count uint64) ([]eventstore.RecordedEvent, error) {
	for attempt := 1; ; attempt++ {
		evs, err := s.readStreamOnce(ctx, stream, dir, from, count)
		if err == nil || !s.retryRead(ctx, "read "+stream, err, attempt) {
			return evs, err
		}
	}
}

// retryRead reports whether a failed read is tried again, after a pause.
func (s *Store) retryRead(ctx context.Context, op string, err error, attempt int) bool {
	if !isTransient(err) || attempt >= maxTransientAttempts || ctx.Err() != nil {
		return false
	}
	s.log.Debug("kurrentdb: read refused, trying again", "op", op, "attempt", attempt, "err", err)
	return backoff(ctx, attempt+3) == nil
}

func (s *Store) readStreamOnce(ctx context.Context, stream string, dir esdb.Direction, from esdb.StreamPosition, count uint64) ([]eventstore.RecordedEvent, error) {
	if count > maxCount {
		count = maxCount
	}
	rs, err := s.client.ReadStream(leaderOnly(ctx), stream, esdb.ReadStreamOptions{Direction: dir, From: from}, count)
	if err != nil {
		return nil, translate(ctx, "read "+stream, err, true)
	}
	defer rs.Close()
	raw, err := drain(rs, int(count))
	if err != nil {
		return nil, translate(ctx, "read "+stream, err, true)
	}
	out := make([]eventstore.RecordedEvent, len(raw))
	for i, e := range raw {
		out[i] = toRecorded(e)
	}
	return out, nil
}

// readTail returns the stream's last event, nil when the stream has none.
func (s *Store) readTail(ctx context.Context, stream string) (*eventstore.RecordedEvent, error) {
	evs, err := s.readStream(ctx, stream, esdb.Backwards, esdb.End{}, 1)
	if errors.Is(err, eventstore.ErrStreamNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if len(evs) == 0 {
		// Exists in the index but has no readable event (e.g. truncated): treat as empty.
		return nil, nil
	}
	return &evs[0], nil
}

// readRecent returns up to count of the stream's last events, newest first (none when
// the stream has none).
func (s *Store) readRecent(ctx context.Context, stream string, count uint64) ([]eventstore.RecordedEvent, error) {
	evs, err := s.readStream(ctx, stream, esdb.Backwards, esdb.End{}, count)
	if errors.Is(err, eventstore.ErrStreamNotFound) {
		return nil, nil
	}
	return evs, err
}

// ReadStream reads up to limit events of stream from version from (inclusive).
func (s *Store) ReadStream(ctx context.Context, stream string, dir eventstore.Direction, from uint64, limit int) ([]eventstore.RecordedEvent, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	if stream == "" {
		return nil, eventstore.ErrStreamNotFound
	}
	if limit <= 0 {
		return []eventstore.RecordedEvent{}, nil
	}
	count := uint64(limit)

	if dir == eventstore.Forward {
		if from > math.MaxInt64 {
			// No stream reaches this version; only existence is left to report.
			if _, err := s.readStream(ctx, stream, esdb.Backwards, esdb.End{}, 1); err != nil {
				return nil, err
			}
			return []eventstore.RecordedEvent{}, nil
		}
		return s.readStream(ctx, stream, esdb.Forwards, esdb.Revision(from), count)
	}

	if from == eventstore.End || from > math.MaxInt64 {
		return s.readStream(ctx, stream, esdb.Backwards, esdb.End{}, count)
	}
	evs, err := s.readStream(ctx, stream, esdb.Backwards, esdb.Revision(from), count)
	if err != nil {
		return nil, err
	}
	if again, ok := backwardRestart(evs, from, count); ok {
		return s.readStream(ctx, stream, esdb.Backwards, again, count)
	}
	return evs, nil
}

// backwardRestart decides whether a backward read from revision from must be repeated.
// The index reads the revisions [from-count+1, from] without clamping from to the
// stream's last revision (KurrentDB v25.0 src/EventStore.Core/Services/Storage/
// ReaderIndex/IndexReader.cs ReadStreamEventsBackwardInternal); the gRPC read then pages
// on from the next event number, which is clamped to the last revision
// (Services/Transport/Enumerators/Enumerator.ReadStreamBackwards.cs, pages of 32), so a
// KurrentDB server answers a start past the end as a read from the last revision. A
// server that did not page on would return too few events or none; the read is then
// repeated from the last revision (End when nothing came back). Against the paging
// server this never fires except on truncated streams, where it reads the same again.
func backwardRestart(evs []eventstore.RecordedEvent, from, count uint64) (esdb.StreamPosition, bool) {
	switch {
	case len(evs) == 0:
		return esdb.End{}, true
	case evs[0].Version < from && uint64(len(evs)) < count && evs[len(evs)-1].Version > 0:
		return esdb.Revision(evs[0].Version), true
	}
	return nil, false
}

// allPageSize bounds one read of $all while scanning for events that pass a filter.
const allPageSize = 1024

// ReadAll reads up to limit events of $all after position from that match filter,
// skipping system events. The client's ReadAll has no server-side filter, so the filter is
// applied here while paging through $all.
func (s *Store) ReadAll(ctx context.Context, from uint64, limit int, filter eventstore.Filter) ([]eventstore.RecordedEvent, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	return scanAll(from, limit, filter, func(from esdb.AllPosition, count int) ([]*esdb.RecordedEvent, error) {
		return s.readAllPage(ctx, esdb.Forwards, from, count)
	})
}

// readAllPage reads count events of $all from position from in direction dir.
func (s *Store) readAllPage(ctx context.Context, dir esdb.Direction, from esdb.AllPosition, count int) ([]*esdb.RecordedEvent, error) {
	for attempt := 1; ; attempt++ {
		raw, err := s.readAllPageOnce(ctx, dir, from, count)
		if err == nil || !s.retryRead(ctx, "read $all", err, attempt) {
			return raw, err
		}
	}
}

func (s *Store) readAllPageOnce(ctx context.Context, dir esdb.Direction, from esdb.AllPosition, count int) ([]*esdb.RecordedEvent, error) {
	rs, err := s.client.ReadAll(leaderOnly(ctx), esdb.ReadAllOptions{Direction: dir, From: from}, uint64(count))
	if err != nil {
		return nil, translate(ctx, "read $all", err, false)
	}
	defer rs.Close()
	raw, err := drain(rs, count)
	if err != nil {
		return nil, translate(ctx, "read $all", err, false)
	}
	return raw, nil
}

// pageReader reads count events of $all starting at from (inclusive when from names an
// event, as forward reads of KurrentDB are).
type pageReader func(from esdb.AllPosition, count int) ([]*esdb.RecordedEvent, error)

// scanAll pages forward through $all after position from (exclusive) and returns up to
// limit non-system events that match filter.
func scanAll(from uint64, limit int, filter eventstore.Filter, read pageReader) ([]eventstore.RecordedEvent, error) {
	out := []eventstore.RecordedEvent{}
	if limit <= 0 {
		return out, nil
	}
	for {
		// Forward reads include the event at their start; ask for one more than needed
		// and drop events at or before from.
		page := min(max(limit-len(out)+1, 64), allPageSize)
		raw, err := read(allPosition(from), page)
		if err != nil {
			return nil, err
		}
		progressed := false
		for _, e := range raw {
			pos := positionOf(e.Position)
			if pos <= from {
				continue
			}
			from, progressed = pos, true
			if isSystem(e.StreamID, e.EventType) || !filter.Match(e.StreamID, e.EventType) {
				continue
			}
			out = append(out, toRecorded(e))
			if len(out) == limit {
				return out, nil
			}
		}
		if len(raw) < page || !progressed {
			return out, nil // end of $all
		}
	}
}

// headPage is how many events Head reads backwards at a time.
const headPage = 256

// Head is the position of the last non-system event in $all (0 when there is none).
func (s *Store) Head(ctx context.Context) (uint64, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.leave()
	return scanHead(func(from esdb.AllPosition, count int) ([]*esdb.RecordedEvent, error) {
		return s.readAllPage(ctx, esdb.Backwards, from, count)
	})
}

// scanHead pages backwards from the end of $all to the last non-system event. Events at
// or after the previous page's last position are skipped, whether or not backward reads
// include their start.
func scanHead(read pageReader) (uint64, error) {
	var from esdb.AllPosition = esdb.End{}
	bound := uint64(math.MaxUint64)
	for {
		raw, err := read(from, headPage)
		if err != nil {
			return 0, err
		}
		var last *esdb.RecordedEvent
		for _, e := range raw {
			pos := positionOf(e.Position)
			if pos == 0 || pos >= bound {
				continue
			}
			if !isSystem(e.StreamID, e.EventType) {
				return pos, nil
			}
			last = e
		}
		if len(raw) < headPage || last == nil {
			return 0, nil
		}
		from, bound = last.Position, positionOf(last.Position)
	}
}
