package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/orderengine/orderengine/eventstore"
)

// AppendInTx runs the store's append inside tx, which the caller commits or rolls back:
// it lets tests hold an append's transaction (and its xid) open.
func AppendInTx(ctx context.Context, s *Store, tx pgx.Tx, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	if err := eventstore.Validate(s.limits, stream, events); err != nil {
		return eventstore.AppendResult{}, err
	}
	res, err := s.append(ctx, tx, stream, expected, events)
	// The transaction may roll back: do not let the head cache remember it.
	s.heads.forget(stream)
	return res, err
}
