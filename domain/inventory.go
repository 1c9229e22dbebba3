package domain

import (
	"slices"
	"sort"
	"time"
)

// StockLevel is the stock of one SKU in one warehouse. Available = OnHand − Reserved is
// never negative: every command that could make it so is rejected.
type StockLevel struct {
	OnHand   int64 `json:"onHand"`
	Reserved int64 `json:"reserved"`
}

// Available is what can still be reserved.
func (l StockLevel) Available() int64 { return l.OnHand - l.Reserved }

// Allocation is the part of a reservation held in one warehouse.
type Allocation struct {
	Warehouse string `json:"warehouse"`
	Quantity  int64  `json:"quantity"`
}

// Reservation is stock held for an order until it is committed (payment), released
// (cancellation) or expires.
type Reservation struct {
	OrderID     string       `json:"orderId"`
	Quantity    int64        `json:"quantity"`
	Allocations []Allocation `json:"allocations"`
	ExpiresAt   time.Time    `json:"expiresAt"`
	ReservedAt  time.Time    `json:"reservedAt"`
}

// ReservationOutcome is how a reservation ended.
type ReservationOutcome string

const (
	ReservationCommitted ReservationOutcome = "committed"
	ReservationReleased  ReservationOutcome = "released"
	ReservationExpired   ReservationOutcome = "expired"
)

// SettledReservation remembers an ended reservation so that late or repeated commands for
// the same order stay no-ops, and returns never exceed what was committed. It is kept only
// as long as such commands can matter (see SettledGrace and SaleRetention), so that the
// state of a SKU does not grow with every order ever placed.
type SettledReservation struct {
	Outcome     ReservationOutcome `json:"outcome"`
	Quantity    int64              `json:"quantity"`
	Allocations []Allocation       `json:"allocations"`
	Restocked   int64              `json:"restocked,omitempty"` // units returned (committed only)
	ExpiresAt   time.Time          `json:"expiresAt,omitzero"`  // the reservation's expiry
	SettledAt   time.Time          `json:"settledAt,omitzero"`
}

// How long a settled reservation is remembered, by the time of the SKU's events.
//
// A released or expired reservation is forgotten SettledGrace after its expiry: from its
// expiry on, a repeated ReserveStock for the order — which carries the same expiry, as the
// checkout's retries do — is rejected as expired anyway, so forgetting cannot reserve the
// order twice (the grace covers clocks that disagree). A sale (committed reservation) is
// remembered for SaleRetention too, the window in which returned units can be restocked
// against it; afterwards RestockReturn reports the sale not found and a repeated
// CommitReservation fails instead of being a no-op.
const (
	SettledGrace  = 24 * time.Hour
	SaleRetention = 90 * 24 * time.Hour
	// settledSweepEvery bounds how often the settled reservations are swept (by event
	// time), so that folding a stream stays linear.
	settledSweepEvery = time.Hour
)

// forgetAt is when a settled reservation may be forgotten.
func (r SettledReservation) forgetAt() time.Time {
	t := r.ExpiresAt.Add(SettledGrace)
	if r.Outcome == ReservationCommitted {
		if sale := r.SettledAt.Add(SaleRetention); sale.After(t) {
			t = sale
		}
	}
	return t
}

// Inventory is the stock of one SKU across warehouses; its stream id is the SKU. The zero
// value is a SKU with no stock (reserving from it fails with ErrOutOfStock).
type Inventory struct {
	SKU          string                        `json:"sku"`
	Warehouses   map[string]StockLevel         `json:"warehouses,omitempty"`
	Reservations map[string]Reservation        `json:"reservations,omitempty"` // active, by order id
	Settled      map[string]SettledReservation `json:"settled,omitempty"`      // by order id, until forgotten
	UpdatedAt    time.Time                     `json:"updatedAt"`
	// SweptAt is the event time at which settled reservations were last swept.
	SweptAt time.Time `json:"sweptAt,omitzero"`
}

// Totals sums the stock of every warehouse.
func (s Inventory) Totals() StockLevel {
	var t StockLevel
	for _, l := range s.Warehouses {
		t.OnHand += l.OnHand
		t.Reserved += l.Reserved
	}
	return t
}

// Available is the total units that can still be reserved.
func (s Inventory) Available() int64 { return s.Totals().Available() }

// InventoryCommand is a command to the Inventory decider.
type InventoryCommand interface {
	Command
	inventoryCommand()
}

// ReceiveStock books incoming units into a warehouse.
type ReceiveStock struct {
	SKU       string
	Warehouse string
	Quantity  int64
	Reference string // e.g. a purchase order number
}

// AdjustStock corrects on-hand stock (count corrections, damage, shrinkage).
type AdjustStock struct {
	SKU       string
	Warehouse string
	Delta     int64 // positive adds, negative removes; never below what is reserved
	Reason    string
}

// ReserveStock holds units for an order until ExpiresAt. A second reserve for the same
// order (active or already settled) is a no-op; once ExpiresAt has passed it is rejected,
// so a settled reservation need not be remembered for ever (see SettledGrace).
type ReserveStock struct {
	SKU       string
	OrderID   string
	Quantity  int64
	ExpiresAt time.Time
	Warehouse string // optional: reserve only from this warehouse
}

// ReleaseReservation gives an order's reserved units back. A no-op unless the order holds
// an active reservation.
type ReleaseReservation struct {
	SKU     string
	OrderID string
	Reason  string
}

// ExpireReservation releases a reservation whose expiry has passed. A no-op unless the order
// holds an active reservation; an error if it has not expired yet.
type ExpireReservation struct {
	SKU     string
	OrderID string
}

// CommitReservation turns an order's reservation into a sale (on payment): the units leave
// on-hand stock. Repeating it is a no-op; committing without an active reservation fails.
type CommitReservation struct {
	SKU     string
	OrderID string
}

// RestockReturn puts returned units of a committed order back on hand.
type RestockReturn struct {
	SKU       string
	OrderID   string
	Quantity  int64
	Warehouse string // optional: defaults to the warehouse the units were taken from
	Reason    string
}

func (c ReceiveStock) AggregateID() string       { return c.SKU }
func (c AdjustStock) AggregateID() string        { return c.SKU }
func (c ReserveStock) AggregateID() string       { return c.SKU }
func (c ReleaseReservation) AggregateID() string { return c.SKU }
func (c ExpireReservation) AggregateID() string  { return c.SKU }
func (c CommitReservation) AggregateID() string  { return c.SKU }
func (c RestockReturn) AggregateID() string      { return c.SKU }
func (ReceiveStock) inventoryCommand()           {}
func (AdjustStock) inventoryCommand()            {}
func (ReserveStock) inventoryCommand()           {}
func (ReleaseReservation) inventoryCommand()     {}
func (ExpireReservation) inventoryCommand()      {}
func (CommitReservation) inventoryCommand()      {}
func (RestockReturn) inventoryCommand()          {}

// Inventory events. Quantities are deltas; allocations say which warehouses moved.
type (
	InventoryReceived struct {
		SKU       string    `json:"sku"`
		Warehouse string    `json:"warehouse"`
		Quantity  int64     `json:"quantity"`
		Reference string    `json:"reference,omitempty"`
		At        time.Time `json:"at"`
	}
	InventoryAdjusted struct {
		SKU       string    `json:"sku"`
		Warehouse string    `json:"warehouse"`
		Delta     int64     `json:"delta"`
		Reason    string    `json:"reason"`
		At        time.Time `json:"at"`
	}
	InventoryReserved struct {
		SKU         string       `json:"sku"`
		OrderID     string       `json:"orderId"`
		Quantity    int64        `json:"quantity"`
		Allocations []Allocation `json:"allocations"`
		ExpiresAt   time.Time    `json:"expiresAt"`
		At          time.Time    `json:"at"`
	}
	InventoryReleased struct {
		SKU         string       `json:"sku"`
		OrderID     string       `json:"orderId"`
		Quantity    int64        `json:"quantity"`
		Allocations []Allocation `json:"allocations"`
		Reason      string       `json:"reason,omitempty"`
		At          time.Time    `json:"at"`
	}
	InventoryReservationExpired struct {
		SKU         string       `json:"sku"`
		OrderID     string       `json:"orderId"`
		Quantity    int64        `json:"quantity"`
		Allocations []Allocation `json:"allocations"`
		At          time.Time    `json:"at"`
	}
	InventoryCommitted struct {
		SKU         string       `json:"sku"`
		OrderID     string       `json:"orderId"`
		Quantity    int64        `json:"quantity"`
		Allocations []Allocation `json:"allocations"`
		At          time.Time    `json:"at"`
	}
	InventoryRestocked struct {
		SKU       string    `json:"sku"`
		OrderID   string    `json:"orderId"`
		Warehouse string    `json:"warehouse"`
		Quantity  int64     `json:"quantity"`
		Reason    string    `json:"reason,omitempty"`
		At        time.Time `json:"at"`
	}
)

func (InventoryReceived) EventType() string           { return "inventory.received" }
func (InventoryAdjusted) EventType() string           { return "inventory.adjusted" }
func (InventoryReserved) EventType() string           { return "inventory.reserved" }
func (InventoryReleased) EventType() string           { return "inventory.released" }
func (InventoryReservationExpired) EventType() string { return "inventory.reservation_expired" }
func (InventoryCommitted) EventType() string          { return "inventory.committed" }
func (InventoryRestocked) EventType() string          { return "inventory.restocked" }

// NewInventoryDecider returns the Inventory decider.
func NewInventoryDecider() Decider[Inventory, InventoryCommand] {
	return newDecider[Inventory, InventoryCommand](CategoryInventory, DecideInventory)
}

// EvolveInventory applies one event to an inventory.
func EvolveInventory(s Inventory, e Event) Inventory { return evolve(s, e) }

// FoldInventory applies events in order.
func FoldInventory(s Inventory, events []Event) Inventory { return fold(s, events) }

func validateWarehouse(p *problems, w string) {
	if err := ValidateSKU("", w); err != nil {
		p.add("warehouse", "%q must be 1-64 letters, digits, '-', '_' or '.'", w)
	}
}

// DecideInventory decides a stock command.
func DecideInventory(s Inventory, c InventoryCommand, now time.Time) ([]Event, error) {
	now = now.UTC()
	var p problems
	p.addErr("sku", ValidateSKU("", c.AggregateID()))
	if s.SKU != "" && c.AggregateID() != s.SKU {
		p.add("sku", "command for %s sent to the stock of %s", c.AggregateID(), s.SKU)
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	sku := c.AggregateID()
	switch c := c.(type) {
	case ReceiveStock:
		validateWarehouse(&p, c.Warehouse)
		if c.Quantity < 1 || c.Quantity > maxStockDelta {
			p.add("quantity", "must be between 1 and %d", maxStockDelta)
		}
		validateText(&p, "reference", c.Reference, MaxNameLength, false)
		if err := p.err(); err != nil {
			return nil, err
		}
		return []Event{InventoryReceived{SKU: sku, Warehouse: c.Warehouse, Quantity: c.Quantity, Reference: c.Reference, At: now}}, nil

	case AdjustStock:
		validateWarehouse(&p, c.Warehouse)
		if c.Delta == 0 || c.Delta > maxStockDelta || c.Delta < -maxStockDelta {
			p.add("delta", "must be non-zero and at most %d either way", maxStockDelta)
		}
		validateText(&p, "reason", c.Reason, MaxNameLength, true)
		if err := p.err(); err != nil {
			return nil, err
		}
		if l := s.Warehouses[c.Warehouse]; -c.Delta > l.Available() {
			return nil, &OutOfStockError{SKU: sku, Warehouse: c.Warehouse, Requested: -c.Delta, Available: l.Available()}
		}
		return []Event{InventoryAdjusted{SKU: sku, Warehouse: c.Warehouse, Delta: c.Delta, Reason: c.Reason, At: now}}, nil

	case ReserveStock:
		p.addErr("orderId", ValidateID("", c.OrderID))
		if c.Quantity < 1 || c.Quantity > maxStockDelta {
			p.add("quantity", "must be between 1 and %d", maxStockDelta)
		}
		if !c.ExpiresAt.After(now) {
			p.add("expiresAt", "must be in the future")
		}
		if c.Warehouse != "" {
			validateWarehouse(&p, c.Warehouse)
		}
		if err := p.err(); err != nil {
			return nil, err
		}
		if s.holds(c.OrderID) {
			return nil, nil
		}
		allocs, err := s.allocate(sku, c.Quantity, c.Warehouse)
		if err != nil {
			return nil, err
		}
		return []Event{InventoryReserved{SKU: sku, OrderID: c.OrderID, Quantity: c.Quantity, Allocations: allocs, ExpiresAt: c.ExpiresAt.UTC(), At: now}}, nil

	case ReleaseReservation:
		validateText(&p, "reason", c.Reason, MaxNameLength, false)
		if err := p.err(); err != nil {
			return nil, err
		}
		r, ok := s.Reservations[c.OrderID]
		if !ok {
			return nil, nil
		}
		return []Event{InventoryReleased{SKU: sku, OrderID: c.OrderID, Quantity: r.Quantity, Allocations: cloneSlice(r.Allocations), Reason: c.Reason, At: now}}, nil

	case ExpireReservation:
		r, ok := s.Reservations[c.OrderID]
		if !ok {
			return nil, nil
		}
		if now.Before(r.ExpiresAt) {
			return nil, illegal("reservation", c.OrderID, "active", "expire", "it is held until "+r.ExpiresAt.Format(time.RFC3339))
		}
		return []Event{InventoryReservationExpired{SKU: sku, OrderID: c.OrderID, Quantity: r.Quantity, Allocations: cloneSlice(r.Allocations), At: now}}, nil

	case CommitReservation:
		r, ok := s.Reservations[c.OrderID]
		if !ok {
			if st, settled := s.Settled[c.OrderID]; settled && st.Outcome == ReservationCommitted {
				return nil, nil
			}
			state := "none"
			if st, settled := s.Settled[c.OrderID]; settled {
				state = string(st.Outcome)
			}
			return nil, illegal("reservation", c.OrderID, state, "commit", "there is no active reservation of "+sku+" for this order")
		}
		return []Event{InventoryCommitted{SKU: sku, OrderID: c.OrderID, Quantity: r.Quantity, Allocations: cloneSlice(r.Allocations), At: now}}, nil

	case RestockReturn:
		validateText(&p, "reason", c.Reason, MaxNameLength, false)
		if c.Warehouse != "" {
			validateWarehouse(&p, c.Warehouse)
		}
		if c.Quantity < 1 {
			p.add("quantity", "must be at least 1")
		}
		if err := p.err(); err != nil {
			return nil, err
		}
		st, ok := s.Settled[c.OrderID]
		if !ok || st.Outcome != ReservationCommitted {
			return nil, notFound("sale of "+sku+" for order", c.OrderID)
		}
		if left := st.Quantity - st.Restocked; c.Quantity > left {
			return nil, invalid("quantity", "order %s bought %d of %s and %d are already back; at most %d can be restocked", c.OrderID, st.Quantity, sku, st.Restocked, left)
		}
		w := c.Warehouse
		if w == "" {
			w = st.Allocations[0].Warehouse
		}
		return []Event{InventoryRestocked{SKU: sku, OrderID: c.OrderID, Warehouse: w, Quantity: c.Quantity, Reason: c.Reason, At: now}}, nil
	}
	return nil, invalid("", "unsupported inventory command %T", c)
}

// maxStockDelta bounds one stock movement so sums can never overflow.
const maxStockDelta = 1_000_000_000

// holds reports whether the order has, or had, a reservation of this SKU.
func (s Inventory) holds(orderID string) bool {
	_, active := s.Reservations[orderID]
	_, settled := s.Settled[orderID]
	return active || settled
}

// allocate picks warehouses for qty units: only the given one, or the ones with most
// available stock first (ties by name) so reservations are deterministic.
func (s Inventory) allocate(sku string, qty int64, only string) ([]Allocation, error) {
	if only != "" {
		if avail := s.Warehouses[only].Available(); avail < qty {
			return nil, &OutOfStockError{SKU: sku, Warehouse: only, Requested: qty, Available: max(avail, 0)}
		}
		return []Allocation{{Warehouse: only, Quantity: qty}}, nil
	}
	if avail := s.Available(); avail < qty {
		return nil, &OutOfStockError{SKU: sku, Requested: qty, Available: max(avail, 0)}
	}
	names := sortedKeys(s.Warehouses)
	sort.SliceStable(names, func(i, j int) bool {
		return s.Warehouses[names[i]].Available() > s.Warehouses[names[j]].Available()
	})
	var allocs []Allocation
	for _, w := range names {
		take := min(qty, s.Warehouses[w].Available())
		if take <= 0 {
			break
		}
		allocs = append(allocs, Allocation{Warehouse: w, Quantity: take})
		qty -= take
	}
	return allocs, nil
}

func (s Inventory) clone() Inventory {
	s.Warehouses = cloneMap(s.Warehouses)
	s.Reservations = cloneMap(s.Reservations)
	s.Settled = cloneMap(s.Settled)
	return s
}

func (s *Inventory) move(w string, onHand, reserved int64) {
	if s.Warehouses == nil {
		s.Warehouses = map[string]StockLevel{}
	}
	l := s.Warehouses[w]
	l.OnHand += onHand
	l.Reserved += reserved
	s.Warehouses[w] = l
}

// settle ends an active reservation: committed units leave on-hand stock, released or
// expired ones become available again.
func (s *Inventory) settle(orderID string, outcome ReservationOutcome, at time.Time) {
	r, ok := s.Reservations[orderID]
	if !ok {
		return
	}
	for _, a := range r.Allocations {
		if outcome == ReservationCommitted {
			s.move(a.Warehouse, -a.Quantity, -a.Quantity)
		} else {
			s.move(a.Warehouse, 0, -a.Quantity)
		}
	}
	delete(s.Reservations, orderID)
	if s.Settled == nil {
		s.Settled = map[string]SettledReservation{}
	}
	s.Settled[orderID] = SettledReservation{Outcome: outcome, Quantity: r.Quantity, Allocations: r.Allocations, ExpiresAt: r.ExpiresAt, SettledAt: at}
}

// sweep forgets the settled reservations whose time is up at event time now, at most once
// per settledSweepEvery. It depends only on the events' times, so folding the same events
// always gives the same state.
func (s *Inventory) sweep(now time.Time) {
	if len(s.Settled) == 0 || now.Sub(s.SweptAt) < settledSweepEvery {
		return
	}
	for id, r := range s.Settled {
		if !now.Before(r.forgetAt()) {
			delete(s.Settled, id)
		}
	}
	s.SweptAt = now
}

func (s *Inventory) apply(e Event) {
	switch e := e.(type) {
	case InventoryReceived:
		s.SKU = e.SKU
		s.move(e.Warehouse, e.Quantity, 0)
		s.UpdatedAt = e.At
	case InventoryAdjusted:
		s.SKU = e.SKU
		s.move(e.Warehouse, e.Delta, 0)
		s.UpdatedAt = e.At
	case InventoryReserved:
		s.SKU = e.SKU
		for _, a := range e.Allocations {
			s.move(a.Warehouse, 0, a.Quantity)
		}
		if s.Reservations == nil {
			s.Reservations = map[string]Reservation{}
		}
		s.Reservations[e.OrderID] = Reservation{OrderID: e.OrderID, Quantity: e.Quantity, Allocations: slices.Clone(e.Allocations), ExpiresAt: e.ExpiresAt, ReservedAt: e.At}
		s.UpdatedAt = e.At
	case InventoryReleased:
		s.settle(e.OrderID, ReservationReleased, e.At)
		s.UpdatedAt = e.At
	case InventoryReservationExpired:
		s.settle(e.OrderID, ReservationExpired, e.At)
		s.UpdatedAt = e.At
	case InventoryCommitted:
		s.settle(e.OrderID, ReservationCommitted, e.At)
		s.UpdatedAt = e.At
	case InventoryRestocked:
		s.move(e.Warehouse, e.Quantity, 0)
		if st, ok := s.Settled[e.OrderID]; ok {
			st.Restocked += e.Quantity
			s.Settled[e.OrderID] = st
		}
		s.UpdatedAt = e.At
	}
	s.sweep(s.UpdatedAt)
}
