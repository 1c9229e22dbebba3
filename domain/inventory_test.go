package domain

import (
	"errors"
	"testing"
	"time"
)

var (
	expiry     = t0.Add(15 * time.Minute)
	receivedA  = InventoryReceived{SKU: "TEE-RED-M", Warehouse: "ams", Quantity: 5, At: t0}
	receivedB  = InventoryReceived{SKU: "TEE-RED-M", Warehouse: "ber", Quantity: 3, At: t0}
	reservedO1 = InventoryReserved{SKU: "TEE-RED-M", OrderID: "o1", Quantity: 2, Allocations: []Allocation{{Warehouse: "ams", Quantity: 2}}, ExpiresAt: expiry, At: t0}
)

func TestInventoryReceiveAndAdjust(t *testing.T) {
	d := NewInventoryDecider()
	given(t, d).when(ReceiveStock{SKU: "TEE-RED-M", Warehouse: "ams", Quantity: 5}).then(receivedA).
		thenState(func(t *testing.T, s Inventory) {
			if s.Available() != 5 || s.SKU != "TEE-RED-M" {
				t.Fatalf("state %+v", s)
			}
		})
	given(t, d).when(ReceiveStock{SKU: "TEE-RED-M", Warehouse: "ams", Quantity: 0}).thenError(ErrValidation)
	given(t, d).when(ReceiveStock{SKU: "TEE-RED-M", Warehouse: "", Quantity: 1}).thenError(ErrValidation)

	given(t, d, receivedA).when(AdjustStock{SKU: "TEE-RED-M", Warehouse: "ams", Delta: -2, Reason: "damaged"}).
		then(InventoryAdjusted{SKU: "TEE-RED-M", Warehouse: "ams", Delta: -2, Reason: "damaged", At: t0})
	given(t, d, receivedA).when(AdjustStock{SKU: "TEE-RED-M", Warehouse: "ams", Delta: 1}).thenError(ErrValidation) // reason required
	// reserved units cannot be adjusted away
	given(t, d, receivedA, reservedO1).when(AdjustStock{SKU: "TEE-RED-M", Warehouse: "ams", Delta: -4, Reason: "count"}).thenError(ErrOutOfStock)
	given(t, d, receivedA, reservedO1).when(AdjustStock{SKU: "TEE-RED-M", Warehouse: "ams", Delta: -3, Reason: "count"}).
		then(InventoryAdjusted{SKU: "TEE-RED-M", Warehouse: "ams", Delta: -3, Reason: "count", At: t0})
	// a command for another SKU cannot land in this stream
	given(t, d, receivedA).when(ReceiveStock{SKU: "OTHER", Warehouse: "ams", Quantity: 1}).thenError(ErrValidation)
}

func TestInventoryReserve(t *testing.T) {
	d := NewInventoryDecider()
	given(t, d, receivedA).when(ReserveStock{SKU: "TEE-RED-M", OrderID: "o1", Quantity: 2, ExpiresAt: expiry}).then(reservedO1).
		thenState(func(t *testing.T, s Inventory) {
			if got := s.Totals(); got.OnHand != 5 || got.Reserved != 2 || s.Available() != 3 {
				t.Fatalf("levels %+v", got)
			}
		})
	// idempotent per order
	given(t, d, receivedA, reservedO1).when(ReserveStock{SKU: "TEE-RED-M", OrderID: "o1", Quantity: 2, ExpiresAt: expiry}).thenNothing()
	// more than available: typed, errors.Is-able, with details
	o := given(t, d, receivedA, reservedO1).when(ReserveStock{SKU: "TEE-RED-M", OrderID: "o2", Quantity: 4, ExpiresAt: expiry}).thenError(ErrOutOfStock)
	var oos *OutOfStockError
	if !errors.As(o.err, &oos) || oos.Available != 3 || oos.Requested != 4 || oos.SKU != "TEE-RED-M" {
		t.Fatalf("error %v", o.err)
	}
	// an unknown SKU simply has no stock
	given(t, d).when(ReserveStock{SKU: "NEW", OrderID: "o1", Quantity: 1, ExpiresAt: expiry}).thenError(ErrOutOfStock)
	// spans warehouses, largest first
	given(t, d, receivedA, receivedB).when(ReserveStock{SKU: "TEE-RED-M", OrderID: "o3", Quantity: 7, ExpiresAt: expiry}).then(
		InventoryReserved{SKU: "TEE-RED-M", OrderID: "o3", Quantity: 7, Allocations: []Allocation{{"ams", 5}, {"ber", 2}}, ExpiresAt: expiry, At: t0})
	// a named warehouse only
	given(t, d, receivedA, receivedB).when(ReserveStock{SKU: "TEE-RED-M", OrderID: "o3", Quantity: 4, ExpiresAt: expiry, Warehouse: "ber"}).thenError(ErrOutOfStock)
	given(t, d, receivedA).when(ReserveStock{SKU: "TEE-RED-M", OrderID: "o1", Quantity: 1, ExpiresAt: t0}).thenError(ErrValidation) // expiry in the past
}

func TestInventoryReleaseCommitExpire(t *testing.T) {
	d := NewInventoryDecider()
	h := []Event{receivedA, reservedO1}
	released := InventoryReleased{SKU: "TEE-RED-M", OrderID: "o1", Quantity: 2, Allocations: []Allocation{{"ams", 2}}, Reason: "payment declined", At: t0}
	given(t, d, h...).when(ReleaseReservation{SKU: "TEE-RED-M", OrderID: "o1", Reason: "payment declined"}).then(released).
		thenState(func(t *testing.T, s Inventory) {
			if s.Available() != 5 || s.Totals().Reserved != 0 {
				t.Fatalf("after release %+v", s.Totals())
			}
		})
	// release is a no-op for unknown or already-settled reservations; so is a late reserve
	given(t, d, h...).when(ReleaseReservation{SKU: "TEE-RED-M", OrderID: "unknown"}).thenNothing()
	given(t, d, append(h, released)...).when(ReleaseReservation{SKU: "TEE-RED-M", OrderID: "o1"}).thenNothing()
	given(t, d, append(h, released)...).when(ReserveStock{SKU: "TEE-RED-M", OrderID: "o1", Quantity: 2, ExpiresAt: expiry}).thenNothing()

	committed := InventoryCommitted{SKU: "TEE-RED-M", OrderID: "o1", Quantity: 2, Allocations: []Allocation{{"ams", 2}}, At: t0}
	given(t, d, h...).when(CommitReservation{SKU: "TEE-RED-M", OrderID: "o1"}).then(committed).
		thenState(func(t *testing.T, s Inventory) {
			if got := s.Totals(); got.OnHand != 3 || got.Reserved != 0 {
				t.Fatalf("after commit %+v", got)
			}
		})
	given(t, d, append(h, committed)...).when(CommitReservation{SKU: "TEE-RED-M", OrderID: "o1"}).thenNothing()
	given(t, d, append(h, committed)...).when(ReleaseReservation{SKU: "TEE-RED-M", OrderID: "o1"}).thenNothing()
	given(t, d, h...).when(CommitReservation{SKU: "TEE-RED-M", OrderID: "o9"}).thenError(ErrIllegalTransition)
	given(t, d, append(h, released)...).when(CommitReservation{SKU: "TEE-RED-M", OrderID: "o1"}).thenError(ErrIllegalTransition)

	given(t, d, h...).at(expiry.Add(-time.Second)).when(ExpireReservation{SKU: "TEE-RED-M", OrderID: "o1"}).thenError(ErrIllegalTransition)
	given(t, d, h...).at(expiry).when(ExpireReservation{SKU: "TEE-RED-M", OrderID: "o1"}).
		then(InventoryReservationExpired{SKU: "TEE-RED-M", OrderID: "o1", Quantity: 2, Allocations: []Allocation{{"ams", 2}}, At: expiry})
	given(t, d, append(h, committed)...).at(expiry).when(ExpireReservation{SKU: "TEE-RED-M", OrderID: "o1"}).thenNothing()
}

func TestInventoryRestock(t *testing.T) {
	d := NewInventoryDecider()
	committed := InventoryCommitted{SKU: "TEE-RED-M", OrderID: "o1", Quantity: 2, Allocations: []Allocation{{"ams", 2}}, At: t0}
	h := []Event{receivedA, reservedO1, committed}
	restocked := InventoryRestocked{SKU: "TEE-RED-M", OrderID: "o1", Warehouse: "ams", Quantity: 1, Reason: "return", At: t0}
	given(t, d, h...).when(RestockReturn{SKU: "TEE-RED-M", OrderID: "o1", Quantity: 1, Reason: "return"}).then(restocked).
		thenState(func(t *testing.T, s Inventory) {
			if s.Available() != 4 {
				t.Fatalf("available %d", s.Available())
			}
		})
	given(t, d, append(h, restocked)...).when(RestockReturn{SKU: "TEE-RED-M", OrderID: "o1", Quantity: 2}).thenError(ErrValidation)
	given(t, d, h...).when(RestockReturn{SKU: "TEE-RED-M", OrderID: "o2", Quantity: 1}).thenError(ErrNotFound)
	given(t, d, receivedA, reservedO1).when(RestockReturn{SKU: "TEE-RED-M", OrderID: "o1", Quantity: 1}).thenError(ErrNotFound)
}

// TestInventoryForgetsSettledReservations: settled reservations are forgotten once no
// command can depend on them any more, and forgetting never reserves an order twice.
func TestInventoryForgetsSettledReservations(t *testing.T) {
	d := NewInventoryDecider()
	released := InventoryReleased{SKU: "TEE-RED-M", OrderID: "o1", Quantity: 2, Allocations: []Allocation{{"ams", 2}}, At: t0.Add(time.Minute)}
	committed := InventoryCommitted{SKU: "TEE-RED-M", OrderID: "o1", Quantity: 2, Allocations: []Allocation{{"ams", 2}}, At: t0.Add(time.Minute)}
	// Any later event of the SKU moves its clock.
	tick := func(at time.Time) Event {
		return InventoryReceived{SKU: "TEE-RED-M", Warehouse: "ber", Quantity: 1, At: at}
	}
	forgotten := func(want bool) func(*testing.T, Inventory) {
		return func(t *testing.T, s Inventory) {
			if _, ok := s.Settled["o1"]; ok == want {
				t.Fatalf("settled o1 kept=%v, want kept=%v (settled %v)", ok, !want, s.Settled)
			}
		}
	}
	reserveAgain := ReserveStock{SKU: "TEE-RED-M", OrderID: "o1", Quantity: 2, ExpiresAt: expiry}

	// A released reservation is remembered until SettledGrace after its expiry…
	beforeForget := expiry.Add(SettledGrace - time.Minute)
	given(t, d, receivedA, reservedO1, released, tick(beforeForget)).at(beforeForget).when(ReleaseReservation{SKU: "TEE-RED-M", OrderID: "o1"}).
		thenNothing().thenState(forgotten(false))
	// …and a repeated reserve meanwhile is a no-op while it is valid, rejected after.
	given(t, d, receivedA, reservedO1, released).at(expiry.Add(-time.Second)).when(reserveAgain).thenNothing()
	given(t, d, receivedA, reservedO1, released).at(expiry).when(reserveAgain).thenError(ErrValidation)
	// Then it is forgotten; the repeated reserve is still rejected, never a new reservation.
	afterForget := expiry.Add(SettledGrace)
	given(t, d, receivedA, reservedO1, released, tick(afterForget)).at(afterForget).when(reserveAgain).
		thenError(ErrValidation).thenState(forgotten(true))
	given(t, d, receivedA, reservedO1, released, tick(afterForget)).at(afterForget).when(ReleaseReservation{SKU: "TEE-RED-M", OrderID: "o1"}).thenNothing()

	// A sale is remembered for SaleRetention: returns can be restocked until then.
	lastDay := t0.Add(SaleRetention)
	given(t, d, receivedA, reservedO1, committed, tick(lastDay)).at(lastDay).when(RestockReturn{SKU: "TEE-RED-M", OrderID: "o1", Quantity: 2}).
		then(InventoryRestocked{SKU: "TEE-RED-M", OrderID: "o1", Warehouse: "ams", Quantity: 2, At: lastDay}).thenState(forgotten(false))
	given(t, d, receivedA, reservedO1, committed, tick(lastDay)).at(lastDay).when(CommitReservation{SKU: "TEE-RED-M", OrderID: "o1"}).thenNothing()
	gone := t0.Add(time.Minute + SaleRetention)
	given(t, d, receivedA, reservedO1, committed, tick(gone)).at(gone).when(RestockReturn{SKU: "TEE-RED-M", OrderID: "o1", Quantity: 1}).
		thenError(ErrNotFound).thenState(forgotten(true))
	given(t, d, receivedA, reservedO1, committed, tick(gone)).at(gone).when(reserveAgain).thenError(ErrValidation)
	// Stock levels are untouched by forgetting.
	given(t, d, receivedA, reservedO1, committed, tick(gone)).at(gone).when(ReceiveStock{SKU: "TEE-RED-M", Warehouse: "ams", Quantity: 1}).
		thenState(func(t *testing.T, s Inventory) {
			if got := s.Totals(); got.OnHand != 5 || got.Reserved != 0 {
				t.Fatalf("levels after forgetting %+v, want 5 on hand (5 - 2 sold + 1 + 1 received)", got)
			}
		})
}
