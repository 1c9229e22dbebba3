package checkout

import (
	"errors"
	"fmt"
	"time"
)

// ErrNotRunning: Run has not started a session yet, or has returned.
var ErrNotRunning = errors.New("checkout saga is not running")

// health is the saga's state for readiness.
type health struct {
	err   error     // nil while a session runs
	since time.Time // when err (or health) began
}

// Health reports whether the saga is consuming the bus and forwarding the log: nil while
// a session runs; otherwise the last error (ErrNotRunning before Run and after it
// returns) wrapped with the time the saga stopped being healthy. A readiness check calls
// it; a transient fault shows here for as long as Run is backing off.
func (c *Checkout) Health() error {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	if c.health.err == nil {
		return nil
	}
	return fmt.Errorf("checkout saga unhealthy since %s: %w", c.health.since.UTC().Format(time.RFC3339), c.health.err)
}

func (c *Checkout) setHealthy() {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	if prev := c.health.err; prev != nil {
		c.health = health{since: time.Now()}
		if !errors.Is(prev, ErrNotRunning) {
			c.log.Info("checkout saga recovered", "after", prev)
		}
	}
}

// setFailing records err, keeping the time the failure began.
func (c *Checkout) setFailing(err error) {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	since := c.health.since
	if c.health.err == nil || errors.Is(c.health.err, ErrNotRunning) {
		since = time.Now()
	}
	c.health = health{err: err, since: since}
}

func (c *Checkout) setStopped() {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	c.health = health{err: ErrNotRunning, since: time.Now()}
}

// HealthState is Health split for a readiness probe: the error (nil while healthy) and
// the time the current state began.
func (c *Checkout) HealthState() (time.Time, error) {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	return c.health.since, c.health.err
}
