package postgres

import (
	"context"
	"fmt"
	"math"

	"github.com/orderengine/orderengine/eventstore"
)

var _ eventstore.StreamDeleter = (*Store)(nil)

// DeleteStream implements eventstore.StreamDeleter in one statement: the head row is
// deleted if it is at the expected version — a concurrent append holding it makes the
// delete wait and then re-check the version — and the stream's events with it. Events of
// an append that recreates the stream afterwards are not in the statement's snapshot, so
// they survive.
func (s *Store) DeleteStream(ctx context.Context, stream string, expected eventstore.ExpectedVersion) error {
	if s.closed.Load() {
		return eventstore.ErrClosed
	}
	if err := eventstore.ValidateDelete(stream, expected); err != nil {
		return err
	}
	var version *int64 // nil: any version
	if n, ok := expected.Exact(); ok {
		if n > math.MaxInt64 {
			n = math.MaxInt64
		}
		v := int64(n)
		version = &v
	}
	for attempt := 0; ; attempt++ {
		var deleted int
		if err := s.pool.QueryRow(ctx, s.q.deleteStream, stream, version).Scan(&deleted); err != nil {
			return s.fail("delete "+stream, err)
		}
		s.heads.forget(stream)
		if deleted > 0 {
			return nil
		}
		h, err := s.readHead(ctx, s.pool, stream)
		if err != nil {
			return s.fail("delete "+stream, err)
		}
		switch {
		case !h.exists && expected.IsAny():
			return fmt.Errorf("%w: %s", eventstore.ErrStreamNotFound, stream)
		case !expected.Check(h.exists, h.version) || attempt >= 3:
			return &eventstore.WrongExpectedVersionError{Stream: stream, Expected: expected, Actual: h.version, StreamExists: h.exists}
		}
		// The stream appeared between the delete and the read: try again.
	}
}
