package projections

import (
	"context"
	"time"

	"github.com/orderengine/orderengine/eventstore"
)

// Inspect reports every projection's status as the database records it, for a process
// that does not run the projections itself (the CLI): checkpoint, head, lag and any
// recorded failure. On PostgreSQL the state says whether some instance holds the lease
// (running or caught-up) or none does (stopped); in SQLite, owned by one process, it is
// inferred from the lag alone.
func Inspect(ctx context.Context, db *DB, store eventstore.Store) ([]Status, error) {
	infos, err := db.Projections(ctx)
	if err != nil {
		return nil, err
	}
	head, err := store.Head(ctx)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	out := make([]Status, 0, len(infos))
	for _, i := range infos {
		st := Status{Name: i.Name, Generation: i.Generation, Checkpoint: i.Position, Head: max(head, i.Position),
			LastEventAt: i.LastEventAt, Failure: i.Failure, State: StateCaughtUp}
		if st.Head > st.Checkpoint {
			st.State, st.Lag = StateRunning, st.Head-st.Checkpoint
			if !st.LastEventAt.IsZero() {
				st.LagSeconds = max(0, now.Sub(st.LastEventAt).Seconds())
			}
		}
		if db.d.IsPostgres() {
			var held bool
			if err := db.read.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory'
				AND granted AND ((classid::bigint << 32) | objid::bigint) = $1)`, db.lockKey("lease:"+i.Name)).Scan(&held); err != nil {
				return nil, err
			}
			if !held {
				st.State = StateStopped
			}
		}
		if st.Failure != nil {
			st.State = StateFailed
		}
		out = append(out, st)
	}
	return out, nil
}
