package readmodel

import "github.com/orderengine/orderengine/domain"

// Order edits in the orders read model: the edit events are folded like every order
// event (the latest edit and the applied ones are kept with the after-sales state), and an
// applied edit rewrites the order's lines.

var orderEditEvents = []string{
	domain.OrderEditOpened{}.EventType(), domain.OrderEditItemStaged{}.EventType(),
	domain.OrderEditAddressStaged{}.EventType(), domain.OrderEditCancelled{}.EventType(),
	domain.OrderEditConfirmRequested{}.EventType(), domain.OrderEditApplied{}.EventType(),
	domain.OrderEditFailed{}.EventType(),
}

// editOrderID is the order of an edit event.
func editOrderID(e domain.Event) (string, bool) {
	switch d := e.(type) {
	case domain.OrderEditOpened:
		return d.OrderID, true
	case domain.OrderEditItemStaged:
		return d.OrderID, true
	case domain.OrderEditAddressStaged:
		return d.OrderID, true
	case domain.OrderEditCancelled:
		return d.OrderID, true
	case domain.OrderEditConfirmRequested:
		return d.OrderID, true
	case domain.OrderEditApplied:
		return d.OrderID, true
	case domain.OrderEditFailed:
		return d.OrderID, true
	}
	return "", false
}

// applyEditLines makes an applied edit's lines the order's lines (rows are upserted by
// line number; an edit never drops a line, removed units stay as cancelled units).
func (r *orderRow) applyEditLines(e domain.Event) {
	d, ok := e.(domain.OrderEditApplied)
	if !ok {
		return
	}
	r.placed = d.Plan.Lines
	r.lineCount, r.itemCount = int64(len(d.Plan.Lines)), 0
	for _, l := range d.Plan.Lines {
		r.itemCount += l.Quantity
	}
}
