package projections

// SetNoLease makes a runner skip the lease, to exercise the checkpoint fence alone.
func SetNoLease(r *Runner) { r.noLease = true }

// LockKey is the advisory lock key of a runner's lease.
func LockKey(db *DB, projection string) int64 { return db.lockKey("lease:" + projection) }
