package kurrentdb

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/orderengine/orderengine/eventstore"
)

// maxAttempts bounds the read-chain-append rounds of an Any or StreamExists append that
// keeps losing races against concurrent writers of the same stream.
const maxAttempts = 50

// Append writes events to the end of stream if expected holds (see the package
// documentation for how chain hashes stay consistent under concurrency).
//
// Idempotency: re-appending events whose IDs already sit right after the expected version
// (or, for Any and StreamExists, at the end of the stream) returns the original result and
// writes nothing. The server gives the same answer when the retry races the original.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	if err := eventstore.Validate(s.limits, stream, events); err != nil {
		return eventstore.AppendResult{}, err
	}
	if err := s.enter(); err != nil {
		return eventstore.AppendResult{}, err
	}
	defer s.leave()

	if expected.IsNoStream() {
		// A new stream's first event chains after the zero hash, so no read is needed:
		// the server checks that the stream has no events, and answers a retry of the
		// same event IDs with the original result.
		res, err := s.write(ctx, stream, expectedRevision(expected), [32]byte{}, events)
		if err != nil && isWrongExpectedVersion(err) {
			return eventstore.AppendResult{}, s.conflict(ctx, stream, expected, err)
		}
		return res, err
	}

	last := events[len(events)-1].ID
	n := uint64(len(events))
	for attempt := 1; ; attempt++ {
		tail, err := s.readTail(ctx, stream)
		if err != nil {
			return eventstore.AppendResult{}, err
		}
		exists := tail != nil
		var cur uint64
		var prev [32]byte
		if exists {
			cur = tail.Version
			if prev, _, err = eventstore.SplitChainHash(tail.Metadata); err != nil {
				return eventstore.AppendResult{}, fmt.Errorf("kurrentdb: append %s: last event (version %d) carries no valid chain hash, the stream was not written by orderengine: %w", stream, cur, err)
			}
		}

		if !expected.Check(exists, cur) {
			// Idempotent retry of an Exact(v) append: the events sit at v+1 … v+n.
			if v, ok := expected.Exact(); ok && exists && cur > v && cur-v >= n {
				if res, ok, err := s.alreadyAppended(ctx, stream, v+1, events); err != nil || ok {
					return res, err
				}
			}
			return eventstore.AppendResult{}, wrongVersion(stream, expected, exists, cur)
		}
		// Idempotent retry of an Any/StreamExists append: the events are the stream's last.
		if exists && tail.ID == last && !isExact(expected) && cur+1 >= n {
			if res, ok, err := s.alreadyAppended(ctx, stream, cur+1-n, events); err != nil || ok {
				return res, err
			}
		}

		var rev esdb.ExpectedRevision = esdb.NoStream{}
		if exists {
			rev = esdb.Revision(cur)
		}
		res, err := s.write(ctx, stream, rev, prev, events)
		if err == nil || !isWrongExpectedVersion(err) {
			return res, err
		}
		if isExact(expected) {
			// The stream moved between our read and the append (the server would have
			// accepted a retry of the same events as idempotent): a genuine conflict.
			return eventstore.AppendResult{}, s.conflict(ctx, stream, expected, err)
		}
		if attempt >= maxAttempts {
			return eventstore.AppendResult{}, fmt.Errorf("kurrentdb: append %s at %s: still conflicting after %d attempts: %w",
				stream, expected, attempt, s.conflict(ctx, stream, expected, err))
		}
		if err := backoff(ctx, attempt); err != nil {
			return eventstore.AppendResult{}, fmt.Errorf("kurrentdb: append %s: %w", stream, err)
		}
	}
}

func isExact(e eventstore.ExpectedVersion) bool {
	_, ok := e.Exact()
	return ok
}

// write chains events after prev and appends them at the expected revision rev. A
// wrong-expected-version error is returned as the client's error (see
// isWrongExpectedVersion); other errors are translated.
func (s *Store) write(ctx context.Context, stream string, rev esdb.ExpectedRevision, prev [32]byte, events []eventstore.EventData) (eventstore.AppendResult, error) {
	prepared := eventstore.Chain(prev, events)
	data := make([]esdb.EventData, len(prepared))
	for i, e := range prepared {
		data[i] = esdb.EventData{
			EventID:     e.ID,
			EventType:   e.Type,
			ContentType: esdb.ContentTypeJson,
			Data:        e.Data,
			Metadata:    e.Metadata,
		}
	}
	wr, err := s.client.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: rev}, data...)
	if err != nil {
		if isWrongExpectedVersion(err) {
			return eventstore.AppendResult{}, err
		}
		return eventstore.AppendResult{}, translate(ctx, "append "+stream, err, false)
	}
	res := eventstore.AppendResult{
		Version:  wr.NextExpectedVersion,
		Position: positionOf(esdb.Position{Commit: wr.CommitPosition, Prepare: wr.PreparePosition}),
	}
	if res.Position == 0 {
		// The server sent no position (an idempotent write whose original is not
		// indexed yet can answer so): read the last event back.
		evs, err := s.readStream(ctx, stream, esdb.Forwards, esdb.Revision(res.Version), 1)
		if err != nil {
			return eventstore.AppendResult{}, fmt.Errorf("kurrentdb: append %s succeeded, reading its position: %w", stream, err)
		}
		if len(evs) == 0 || evs[0].Position == 0 {
			return eventstore.AppendResult{}, fmt.Errorf("kurrentdb: append %s succeeded but the server reports no $all position for version %d (server older than EventStoreDB 22.6?)", stream, res.Version)
		}
		res.Position = evs[0].Position
	}
	return res, nil
}

// alreadyAppended reports whether events are stored in stream at versions first, first+1,
// … (same IDs, in order), and if so the result of that original append.
func (s *Store) alreadyAppended(ctx context.Context, stream string, first uint64, events []eventstore.EventData) (eventstore.AppendResult, bool, error) {
	stored, err := s.readStream(ctx, stream, esdb.Forwards, esdb.Revision(first), uint64(len(events)))
	if err != nil {
		return eventstore.AppendResult{}, false, err
	}
	if !sameIDs(stored, events) {
		return eventstore.AppendResult{}, false, nil
	}
	lastEv := stored[len(stored)-1]
	return eventstore.AppendResult{Version: lastEv.Version, Position: lastEv.Position}, true, nil
}

// sameIDs reports whether stored holds exactly the events' IDs, in order.
func sameIDs(stored []eventstore.RecordedEvent, events []eventstore.EventData) bool {
	if len(stored) != len(events) {
		return false
	}
	for i := range stored {
		if stored[i].ID != events[i].ID {
			return false
		}
	}
	return true
}

// conflict turns the server's wrong-expected-version answer into the port's error with
// the actual version, taken from the answer or, when it does not say, from a read.
func (s *Store) conflict(ctx context.Context, stream string, expected eventstore.ExpectedVersion, cause error) error {
	if v, exists, ok := actualFromError(cause); ok {
		return wrongVersion(stream, expected, exists, v)
	}
	tail, err := s.readTail(ctx, stream)
	if err != nil {
		return fmt.Errorf("kurrentdb: append %s: %w (reading the actual version: %v)", stream, eventstore.ErrWrongExpectedVersion, err)
	}
	if tail == nil {
		return wrongVersion(stream, expected, false, 0)
	}
	return wrongVersion(stream, expected, true, tail.Version)
}

// backoff sleeps before retry attempt+1: jittered, growing from 1ms to 100ms.
func backoff(ctx context.Context, attempt int) error {
	limit := time.Millisecond << min(attempt, 7) // 2ms … 128ms
	limit = min(limit, 100*time.Millisecond)
	d := time.Duration(rand.Int64N(int64(limit))) + time.Millisecond/2
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
