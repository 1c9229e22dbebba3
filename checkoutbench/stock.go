package checkoutbench

import (
	"context"

	"github.com/orderengine/orderengine/commands"
	"github.com/orderengine/orderengine/domain"
)

// ServiceStock reads stock through the command side in-process (the command API has no
// inventory read route): it loads the SKU's Inventory aggregate from the event store.
func ServiceStock(svc *commands.Service) StockReader {
	return func(ctx context.Context, sku string) (Stock, error) {
		l, err := svc.Inventory(ctx, sku)
		if err != nil {
			return Stock{}, err
		}
		return StockOf(l.State), nil
	}
}

// StockOf summarises an Inventory aggregate.
func StockOf(inv domain.Inventory) Stock {
	t := inv.Totals()
	s := Stock{OnHand: t.OnHand, Reserved: t.Reserved, Reservations: len(inv.Reservations)}
	for _, settled := range inv.Settled {
		if settled.Outcome == domain.ReservationCommitted {
			s.Committed += settled.Quantity - settled.Restocked
		}
	}
	return s
}
