package kurrentdb

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/orderengine/orderengine/eventstore"
)

// maxAttempts bounds the read-chain-append rounds of an Any or StreamExists append that
// keeps losing races against concurrent writers of the same stream.
const maxAttempts = 50

// Append writes events to the end of stream if expected holds (see the package
// documentation for how chain hashes stay consistent under concurrency).
//
// Idempotency: re-appending events whose IDs already sit right after the expected version
// returns the original result and writes nothing; for Any and StreamExists, whose events
// may no longer be the stream's last, the stream's last IdempotencyWindow events are
// searched for them. An append whose outcome the server left unknown (a write timeout) is
// retried at the same revision with the same events, which the server either writes or
// recognizes as the original (see write).
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	if err := eventstore.Validate(s.limits, stream, events); err != nil {
		return eventstore.AppendResult{}, err
	}
	if err := s.enter(); err != nil {
		return eventstore.AppendResult{}, err
	}
	defer s.leave()
	// The chain hash's size does not depend on the previous hash: check with the zero hash
	// before anything is read or sent.
	if err := s.checkSize(stream, eventstore.Chain([32]byte{}, events)); err != nil {
		return eventstore.AppendResult{}, err
	}
	ctx = leaderOnly(ctx)

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

	n := uint64(len(events))
	look := uint64(s.window) + n // how far back the next read must search for the events
	var searched uint64          // versions up to this one were searched by an earlier read
	haveSearched := false
	for attempt := 1; ; attempt++ {
		var tail *eventstore.RecordedEvent
		var recent []eventstore.RecordedEvent
		var err error
		if isExact(expected) {
			tail, err = s.readTail(ctx, stream)
		} else {
			// One backward read gives the tail and the window to search for the events.
			recent, err = s.readRecent(ctx, stream, look)
			if err == nil && haveSearched && uint64(len(recent)) == look && recent[len(recent)-1].Version > searched+1 {
				// More was written than the conflict said: search the whole window.
				recent, err = s.readRecent(ctx, stream, uint64(s.window)+n)
			}
			if len(recent) > 0 {
				tail = &recent[0]
			}
		}
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
		// Idempotent retry of an Any/StreamExists append: the events are among the last ones.
		if !isExact(expected) {
			if res, ok, err := findAppended(stream, recent, events); err != nil || ok {
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
		// Lost a race: only the events written since need searching next time (the
		// server's answer says how many), or the whole window when it does not say.
		look, haveSearched = uint64(s.window)+n, false
		if v, vexists, ok := actualFromError(err); ok && vexists && exists && v > cur && v-cur < uint64(s.window) {
			look, searched, haveSearched = v-cur+n, cur, true
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

// findAppended looks for events among recent (a stream's last events, newest first). If
// they are all there, contiguous and in order, the append was made before and res is its
// result; if only some are, the append cannot be a retry and is refused, as the
// PostgreSQL adapter refuses it.
func findAppended(stream string, recent []eventstore.RecordedEvent, events []eventstore.EventData) (res eventstore.AppendResult, ok bool, err error) {
	if len(recent) == 0 {
		return res, false, nil
	}
	at := make(map[uuid.UUID]int, len(recent))
	for i, e := range recent {
		at[e.ID] = i
	}
	first, found := at[events[0].ID]
	if !found {
		for _, e := range events[1:] {
			if i, ok := at[e.ID]; ok {
				return res, false, partialRetry(stream, recent[i])
			}
		}
		return res, false, nil
	}
	v0 := recent[first].Version
	for i, e := range events {
		j := first - i // newest first: version v0+i sits i places before
		if j < 0 || recent[j].ID != e.ID || recent[j].Version != v0+uint64(i) {
			return res, false, partialRetry(stream, recent[first])
		}
	}
	last := recent[first-(len(events)-1)]
	return eventstore.AppendResult{Version: last.Version, Position: last.Position}, true, nil
}

func partialRetry(stream string, hit eventstore.RecordedEvent) error {
	return fmt.Errorf("%w: stream %s already holds event %s at version %d, and the append does not repeat the events stored around it",
		eventstore.ErrInvalidEvent, stream, hit.ID, hit.Version)
}

func isExact(e eventstore.ExpectedVersion) bool {
	_, ok := e.Exact()
	return ok
}

// maxWriteAttempts bounds how often one write is sent again after a refusal by a
// follower or a node that is not ready, or after an outcome the server left unknown.
const maxWriteAttempts = 6

// write chains events after prev and appends them at the expected revision rev. A
// wrong-expected-version error is returned as the client's error (see
// isWrongExpectedVersion); other errors are translated.
//
// When the outcome is unknown (a write timeout, a lost connection), the same events with
// the same chain hashes are sent again at the same revision. The server's commit check
// makes that safe and exact (KurrentDB v25.0
// src/EventStore.Core/Services/Storage/ReaderIndex/IndexWriter.cs CheckCommit): if the
// original was written, an expected revision below the current one whose following event
// IDs match answers Idempotent with the original position; if the original is written but
// not yet replicated the retry is dropped (IdempotentNotReady) and times out again; if it
// was never written, the retry writes it.
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
	for attempt := 1; ; attempt++ {
		wr, err := s.client.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: rev}, data...)
		if err == nil {
			return s.appendResult(ctx, stream, wr)
		}
		if isWrongExpectedVersion(err) {
			return eventstore.AppendResult{}, err
		}
		if ctx.Err() != nil {
			return eventstore.AppendResult{}, fmt.Errorf("kurrentdb: append %s: outcome unknown, retry with the same event IDs: %w", stream, translate(ctx, "append "+stream, err, false))
		}
		if isEarlyEnd(err) && attempt > 1 {
			// Nothing was written (the server had not read the whole request). Once may be
			// a connection that broke while sending; twice is the server refusing it.
			return eventstore.AppendResult{}, fmt.Errorf("kurrentdb: append %s: the server ended the append while it was being sent and wrote nothing (over its MaxAppendSize or MaxAppendEventSize — set maxAppendSize/maxAppendEventSize in the connection string to the server's values — or refused access): %w", stream, err)
		}
		if !isTransient(err) && !isUnknownOutcome(err) && !isEarlyEnd(err) {
			return eventstore.AppendResult{}, translate(ctx, "append "+stream, err, false)
		}
		if attempt >= maxWriteAttempts {
			return eventstore.AppendResult{}, fmt.Errorf("kurrentdb: append %s: outcome unknown after %d attempts, retry with the same event IDs: %w", stream, attempt, translate(ctx, "append "+stream, err, false))
		}
		s.log.Debug("kurrentdb: append not acknowledged, sending it again", "stream", stream, "attempt", attempt, "err", err)
		if err := backoff(ctx, attempt+3); err != nil {
			return eventstore.AppendResult{}, fmt.Errorf("kurrentdb: append %s: outcome unknown, retry with the same event IDs: %w", stream, err)
		}
	}
}

// appendResult turns the server's answer into the port's result.
func (s *Store) appendResult(ctx context.Context, stream string, wr *esdb.WriteResult) (eventstore.AppendResult, error) {
	res := eventstore.AppendResult{
		Version:  wr.NextExpectedVersion,
		Position: positionOf(esdb.Position{Commit: wr.CommitPosition, Prepare: wr.PreparePosition}),
	}
	if res.Position == 0 {
		// The server sent no position: it answers so for an idempotent write whose
		// original event it cannot read back (IndexWriter.CheckCommit sets the log position
		// to -1 then). Read the last event's position.
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
