package idempotency

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/orderengine/orderengine/eventstore"
)

// ErrSweepUnsupported: the event store cannot delete streams, so expired records stay.
var ErrSweepUnsupported = errors.New("event store cannot delete streams")

// SweepLog is what Sweep needs of the event store: $all, stream heads and deletion.
type SweepLog interface {
	ReadAll(ctx context.Context, from uint64, limit int, filter eventstore.Filter) ([]eventstore.RecordedEvent, error)
	ReadStream(ctx context.Context, stream string, dir eventstore.Direction, from uint64, limit int) ([]eventstore.RecordedEvent, error)
}

const sweepPage = 500

// Sweep deletes the streams of expired records — whose last claim is older than TTL, so
// that their key may be reused for any request anyway — to keep them out of the log's hot
// path. It scans the category's events in $all after position from (exclusive) and stops at
// the first record that has not expired; it returns the position to pass to the next sweep
// (records are appended roughly in claim order, so everything before it is done).
//
// A stream is deleted only at the version whose event said it expired (a conditional
// delete), so a key claimed again meanwhile keeps its new record. The log must implement
// eventstore.StreamDeleter (SQLite and PostgreSQL do), otherwise the error wraps
// ErrSweepUnsupported and nothing changes.
func (s *Store) Sweep(ctx context.Context, log SweepLog, from uint64) (next uint64, deleted int, err error) {
	del, ok := log.(eventstore.StreamDeleter)
	if !ok {
		return from, 0, fmt.Errorf("idempotency sweep: %w", ErrSweepUnsupported)
	}
	now := s.opt.Now()
	pos := from
	for {
		page, err := log.ReadAll(ctx, pos, sweepPage, eventstore.Filter{StreamPrefix: Category + "-"})
		if err != nil {
			return pos, deleted, fmt.Errorf("idempotency sweep: %w", err)
		}
		for _, e := range page {
			// Only the claim time: the rest of the record (the stored answer) may be sealed
			// personal data the sweep neither needs nor can open.
			var rec struct {
				ClaimedAt time.Time `json:"claimedAt"`
			}
			if err := json.Unmarshal(e.Data, &rec); err != nil {
				return pos, deleted, fmt.Errorf("idempotency sweep: %s v%d: %w", e.Stream, e.Version, err)
			}
			if now.Sub(rec.ClaimedAt) < s.opt.TTL {
				return pos, deleted, nil
			}
			head, err := log.ReadStream(ctx, e.Stream, eventstore.Backward, eventstore.End, 1)
			switch {
			case errors.Is(err, eventstore.ErrStreamNotFound) || (err == nil && len(head) == 0):
				// Deleted already.
			case err != nil:
				return pos, deleted, fmt.Errorf("idempotency sweep: %w", err)
			case head[0].Version != e.Version:
				// Not the record's last event: the later one comes further on in $all.
			default:
				err := del.DeleteStream(ctx, e.Stream, eventstore.Exact(e.Version))
				switch {
				case err == nil:
					deleted++
				case errors.Is(err, eventstore.ErrWrongExpectedVersion), errors.Is(err, eventstore.ErrStreamNotFound):
					// Claimed again (or deleted) since: its newer event comes further on.
				default:
					return pos, deleted, fmt.Errorf("idempotency sweep: %w", err)
				}
			}
			pos = e.Position
		}
		if len(page) < sweepPage {
			return pos, deleted, nil
		}
	}
}
