package orderops

import (
	"context"
	"log/slog"
	"time"

	"github.com/orderengine/orderengine/commands"
)

// SettlerActor is the actor of the steps the settler finishes.
const SettlerActor = "system:orderops"

// RunSettler finishes, until ctx ends, the money movements a crash left pending on orders
// that no request touches again: every interval (the first one interval after start, when
// the read model is up), it settles each order pending lists (e.g.
// readmodel.Reader.PendingOrders), each sweep bounded by the interval. Settling is idempotent,
// so a stale list or another process settling the same order is harmless; an order whose
// gateway keeps refusing is logged and tried again next time.
func (o *Ops) RunSettler(ctx context.Context, interval time.Duration, pending func(context.Context) ([]string, error), log *slog.Logger) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := time.NewTimer(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		lctx, cancel := context.WithTimeout(ctx, interval)
		ids, err := pending(lctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			log.Warn("orderops settler: listing pending orders", "err", err)
		}
		for _, id := range ids {
			if err := o.Settle(ctx, id, commands.Meta{Actor: SettlerActor}); err != nil && ctx.Err() == nil {
				log.Warn("orderops settler: order still pending", "order", id, "err", err)
			}
		}
		t.Reset(interval)
	}
}
