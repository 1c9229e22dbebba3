package orderops

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/orderengine/orderengine/commands"
	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/payment"
)

func (e *env) edits() *Edits {
	e.t.Helper()
	ed, err := NewEdits(EditsConfig{Ops: e.ops, Catalog: e.svc})
	if err != nil {
		e.t.Fatal(err)
	}
	return ed
}

func (e *env) version(id string) *uint64 {
	e.t.Helper()
	l, err := commands.Load(e.ctx, e.rt, orders, id)
	if err != nil {
		e.t.Fatal(err)
	}
	v := l.Version
	return &v
}

func ifMatch(v *uint64) commands.Meta { m := admin; m.IfMatch = v; return m }

func TestEditAddLineConfirmAuthorizesMore(t *testing.T) {
	e := newEnv(t, payment.SimulatorConfig{AsyncDelay: -1})
	e.product("TEE", 2000, 10)
	e.product("CAP", 1500, 5)
	id := e.orderOf(lq("TEE", 2))
	eds := e.edits()
	before := e.orderState(id)
	authBefore := e.sim.Authorizations(id)[0].Amount

	if _, err := eds.Open(e.ctx, id, ifMatch(new(uint64))); !errors.Is(err, commands.ErrPreconditionFailed) {
		t.Fatalf("open with a stale If-Match: %v", err)
	}
	v, err := eds.Open(e.ctx, id, ifMatch(e.version(id)))
	if err != nil {
		t.Fatal(err)
	}
	eid := v.Edit.ID
	if _, err := eds.Open(e.ctx, id, admin); !errors.Is(err, domain.ErrIllegalTransition) {
		t.Fatalf("a second open edit: %v", err)
	}
	if _, err := eds.AddItem(e.ctx, id, eid, "NOPE", 1, admin); !errors.Is(err, domain.ErrValidation) {
		t.Fatalf("adding an unknown SKU: %v", err)
	}
	if _, err = eds.AddItem(e.ctx, id, eid, "CAP", 2, admin); err != nil {
		t.Fatal(err)
	}
	if v, err = eds.SetQuantity(e.ctx, id, eid, "TEE", 1, admin); err != nil {
		t.Fatal(err)
	}
	// TEE keeps its price (one unit leaves: 2000 released); CAP at today's price.
	if v.Preview.ToAuthorize != eur(3000) || v.Preview.ToRelease != eur(2000) || v.Preview.Totals.GrandTotal.Amount != before.Totals.GrandTotal.Amount+1000 {
		t.Fatalf("preview: %+v", v.Preview)
	}
	if v, err = eds.Confirm(e.ctx, id, eid, admin); err != nil {
		t.Fatal(err)
	}
	o := e.orderState(id)
	if v.Edit.Status != domain.EditApplied || len(o.Lines) != 2 || o.Totals != v.Preview.Totals || len(o.AppliedEdits) != 1 || o.Pending() {
		t.Fatalf("after confirm: %+v", o)
	}
	if got := e.sim.Authorizations(id)[0].Amount; got.Amount != authBefore.Amount+3000 || e.sim.Calls("increment") != 1 {
		t.Fatalf("gateway authorization %v (was %v), %d increments", got, authBefore, e.sim.Calls("increment"))
	}
	owner := domain.EditStockOwner(id, v.Edit.ConfirmationID)
	if st := e.inv("CAP").Settled[owner]; st.Outcome != domain.ReservationCommitted || st.Quantity != 2 || e.inv("CAP").Totals().OnHand != 3 {
		t.Fatalf("CAP stock after the edit: %+v", e.inv("CAP"))
	}
	if e.inv("TEE").Totals().OnHand != 9 {
		t.Fatalf("TEE: one of two sold units should be back on hand: %+v", e.inv("TEE").Totals())
	}
	// Confirming again changes nothing.
	if _, err := eds.Confirm(e.ctx, id, eid, admin); err != nil || e.sim.Calls("increment") != 1 {
		t.Fatalf("confirm again: %v (%d increments)", err, e.sim.Calls("increment"))
	}
	// Everything ships: what is captured plus released is what was authorized.
	if _, err := e.ops.Fulfil(e.ctx, id, FulfilInput{Lines: o.UnfulfilledLines(), Carrier: "DHL", TrackingNumber: "T1"}, admin); err != nil {
		t.Fatal(err)
	}
	o = e.checkMoney(id)
	auth := e.sim.Authorizations(id)[0]
	if o.Captured.Amount != o.Totals.GrandTotal.Amount || auth.Captured+e.sim.Released(auth.GatewayRef) != auth.Amount.Amount {
		t.Fatalf("captured %v of %v; gateway captured %d + released %d of %v", o.Captured, o.Totals.GrandTotal, auth.Captured, e.sim.Released(auth.GatewayRef), auth.Amount)
	}
}

func TestEditOutOfStockOrDeclinedChangesNothing(t *testing.T) {
	e := newEnv(t, payment.SimulatorConfig{AsyncDelay: -1})
	e.product("TEE", 2000, 10)
	e.product("CAP", 1500, 5)
	e.product("BAG", 900, 1)
	id := e.orderOf(lq("TEE", 1))
	eds := e.edits()
	before := e.orderState(id)
	v, err := eds.Open(e.ctx, id, admin)
	if err != nil {
		t.Fatal(err)
	}
	eid := v.Edit.ID
	if _, err := eds.AddItem(e.ctx, id, eid, "CAP", 2, admin); err != nil {
		t.Fatal(err)
	}
	if _, err := eds.AddItem(e.ctx, id, eid, "BAG", 2, admin); err != nil {
		t.Fatal(err)
	}
	same := func(what string) {
		t.Helper()
		o := e.orderState(id)
		if o.Totals != before.Totals || len(o.Lines) != 1 || o.Authorized != before.Authorized || o.Edit.Status != domain.EditOpen {
			t.Fatalf("%s changed the order: %+v", what, o)
		}
		if e.inv("CAP").Totals().Reserved != 0 || e.inv("BAG").Totals().Reserved != 0 || e.sim.Authorizations(id)[0].Amount != before.Authorized {
			t.Fatalf("%s left reservations or money: CAP %+v BAG %+v auth %v", what, e.inv("CAP").Totals(), e.inv("BAG").Totals(), e.sim.Authorizations(id)[0].Amount)
		}
	}
	if _, err := eds.Confirm(e.ctx, id, eid, admin); !errors.Is(err, domain.ErrOutOfStock) {
		t.Fatalf("confirm with BAG out of stock: %v", err)
	}
	same("out of stock")
	if _, err := eds.SetQuantity(e.ctx, id, eid, "BAG", 1, admin); err != nil {
		t.Fatal(err)
	}
	e.sim.LimitCard(id, before.Authorized.Amount+100)
	if _, err := eds.Confirm(e.ctx, id, eid, admin); !errors.Is(err, payment.ErrDeclined) {
		t.Fatalf("confirm beyond the card limit: %v", err)
	}
	same("a declined payment")
	e.sim.LimitCard(id, 1<<40)
	if v, err = eds.Confirm(e.ctx, id, eid, admin); err != nil || v.Edit.Status != domain.EditApplied || v.Edit.Attempts != 3 {
		t.Fatalf("third attempt: %+v %v", v.Edit, err)
	}
	if _, err := eds.Cancel(e.ctx, id, eid, admin); !errors.Is(err, domain.ErrIllegalTransition) {
		t.Fatalf("cancel an applied edit: %v", err)
	}
}

// lostAnswers is a gateway whose increment answers are lost once: the gateway did it, the
// caller saw an error (a crash between the gateway call and the next step).
type lostAnswers struct {
	*payment.Simulator
	mu   sync.Mutex
	lose int
}

func (g *lostAnswers) IncrementAuthorization(ctx context.Context, req payment.IncrementRequest) (payment.Result, error) {
	res, err := g.Simulator.IncrementAuthorization(ctx, req)
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.lose > 0 {
		g.lose--
		return payment.Result{}, errors.New("connection reset")
	}
	return res, err
}

func TestEditCrashMidConfirmResumesToOneOutcome(t *testing.T) {
	e := newEnv(t, payment.SimulatorConfig{AsyncDelay: -1})
	e.product("TEE", 2000, 10)
	e.product("CAP", 1500, 5)
	id := e.orderOf(lq("TEE", 2))
	gw := &lostAnswers{Simulator: e.sim, lose: 1}
	crashing, err := New(Config{Runtime: e.rt, Gateway: gw, Checkouts: e.co})
	if err != nil {
		t.Fatal(err)
	}
	eds1, _ := NewEdits(EditsConfig{Ops: crashing, Catalog: e.svc})
	v, err := eds1.Open(e.ctx, id, admin)
	if err != nil {
		t.Fatal(err)
	}
	eid := v.Edit.ID
	if _, err := eds1.AddItem(e.ctx, id, eid, "CAP", 1, admin); err != nil {
		t.Fatal(err)
	}
	if _, err := eds1.SetQuantity(e.ctx, id, eid, "TEE", 1, admin); err != nil {
		t.Fatal(err)
	}
	if _, err := eds1.Confirm(e.ctx, id, eid, admin); err == nil {
		t.Fatal("the lost gateway answer went unnoticed")
	}
	o := e.orderState(id)
	if !o.EditConfirming() || e.inv("CAP").Totals().Reserved != 1 {
		t.Fatalf("after the crash: edit %+v, CAP %+v", o.Edit, e.inv("CAP").Totals())
	}
	// Meanwhile nothing else may change the order's lines.
	if _, err := e.ops.Fulfil(e.ctx, id, FulfilInput{Lines: []domain.LineQuantity{lq("TEE", 1)}, Carrier: "DHL", TrackingNumber: "T"}, admin); !errors.Is(err, domain.ErrIllegalTransition) {
		t.Fatalf("fulfil during a confirmation: %v", err)
	}
	// Another instance resumes: exactly one increment, one commit, one restock.
	eds2 := e.edits()
	if err := eds2.Resume(e.ctx, id, admin); err != nil {
		t.Fatal(err)
	}
	if err := eds2.Resume(e.ctx, id, admin); err != nil {
		t.Fatal(err)
	}
	o = e.checkMoney(id)
	if o.Edit.Status != domain.EditApplied || len(o.AppliedEdits) != 1 || e.sim.Calls("increment") != 1 || o.Pending() {
		t.Fatalf("after resume: %+v, %d increments", o.Edit, e.sim.Calls("increment"))
	}
	if e.inv("CAP").Totals().OnHand != 4 || e.inv("CAP").Totals().Reserved != 0 || e.inv("TEE").Totals().OnHand != 9 {
		t.Fatalf("stock after resume: CAP %+v TEE %+v", e.inv("CAP").Totals(), e.inv("TEE").Totals())
	}
	if e.countFor("order-"+id, "order.edit_applied", id) != 1 || e.countFor("payment-"+id, "payment.authorization_increased", id) != 1 {
		t.Fatal("the edit was applied or authorized more than once")
	}
}

// TestEditRacesFulfilment fires an edit removing the units a fulfilment ships, on two
// instances at once: one of them wins, the other fails cleanly, and the order, payment and
// stock agree.
func TestEditRacesFulfilment(t *testing.T) {
	e := newEnv(t, payment.SimulatorConfig{AsyncDelay: -1})
	e.product("TEE", 2000, 50)
	e.product("CAP", 1500, 50)
	for round := 0; round < 6; round++ {
		id := e.orderOf(lq("TEE", 2))
		other, err := New(Config{Runtime: e.rt, Gateway: e.sim, Checkouts: e.co})
		if err != nil {
			t.Fatal(err)
		}
		eds := e.edits()
		v, err := eds.Open(e.ctx, id, admin)
		if err != nil {
			t.Fatal(err)
		}
		eid := v.Edit.ID
		if _, err := eds.AddItem(e.ctx, id, eid, "CAP", 1, admin); err != nil {
			t.Fatal(err)
		}
		if _, err := eds.SetQuantity(e.ctx, id, eid, "TEE", 0, admin); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var editErr, fulfilErr error
		wg.Add(2)
		go func() { defer wg.Done(); _, editErr = eds.Confirm(e.ctx, id, eid, admin) }()
		go func() {
			defer wg.Done()
			_, fulfilErr = other.Fulfil(e.ctx, id, FulfilInput{Lines: []domain.LineQuantity{lq("TEE", 2)}, Carrier: "DHL", TrackingNumber: "T"}, admin)
		}()
		wg.Wait()
		for _, err := range []error{editErr, fulfilErr} {
			if err != nil && !errors.Is(err, domain.ErrIllegalTransition) && !errors.Is(err, commands.ErrConflict) {
				t.Fatalf("round %d: unexpected error %v", round, err)
			}
		}
		o := e.checkMoney(id)
		t.Logf("round %d: edit %v, fulfilment %v", round, editErr, fulfilErr)
		switch {
		case editErr == nil && fulfilErr == nil:
			t.Fatalf("round %d: both won: %+v", round, o)
		case editErr == nil:
			if o.Edit.Status != domain.EditApplied || o.Progress[0].Cancelled != 2 || len(o.Fulfillments) != 0 {
				t.Fatalf("round %d: edit won but %+v", round, o)
			}
		case fulfilErr == nil:
			if o.Edit.Status != domain.EditOpen || len(o.Lines) != 1 || o.Progress[0].Fulfilled != 2 || len(o.AppliedEdits) != 0 {
				t.Fatalf("round %d: fulfilment won but %+v", round, o)
			}
		}
	}
	if e.inv("CAP").Totals().Reserved != 0 {
		t.Fatalf("a lost edit left reservations: %+v", e.inv("CAP").Totals())
	}
}

// TestEditRacesEdit opens two edits at once and confirms one edit from two instances at
// once: one edit is open, and it is applied exactly once.
func TestEditRacesEdit(t *testing.T) {
	e := newEnv(t, payment.SimulatorConfig{AsyncDelay: -1})
	e.product("TEE", 2000, 50)
	e.product("CAP", 1500, 50)
	id := e.orderOf(lq("TEE", 2))
	a, b := e.edits(), func() *Edits {
		other, err := New(Config{Runtime: e.rt, Gateway: e.sim, Checkouts: e.co})
		if err != nil {
			t.Fatal(err)
		}
		ed, _ := NewEdits(EditsConfig{Ops: other, Catalog: e.svc})
		return ed
	}()
	var wg sync.WaitGroup
	views := make([]EditView, 2)
	errs := make([]error, 2)
	for i, ed := range []*Edits{a, b} {
		wg.Add(1)
		go func() { defer wg.Done(); views[i], errs[i] = ed.Open(e.ctx, id, admin) }()
	}
	wg.Wait()
	won := 0
	var eid string
	for i, err := range errs {
		switch {
		case err == nil:
			won++
			eid = views[i].Edit.ID
		case !errors.Is(err, domain.ErrIllegalTransition) && !errors.Is(err, commands.ErrConflict):
			t.Fatalf("open: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d edits opened at once", won)
	}
	if _, err := a.AddItem(e.ctx, id, eid, "CAP", 2, admin); err != nil {
		t.Fatal(err)
	}
	for i, ed := range []*Edits{a, b} {
		wg.Add(1)
		go func() { defer wg.Done(); views[i], errs[i] = ed.Confirm(e.ctx, id, eid, admin) }()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil && !errors.Is(err, domain.ErrIllegalTransition) && !errors.Is(err, commands.ErrConflict) {
			t.Fatalf("confirm: %v", err)
		}
	}
	if errs[0] != nil && errs[1] != nil {
		t.Fatalf("neither confirmation went through: %v / %v", errs[0], errs[1])
	}
	o := e.checkMoney(id)
	if o.Edit.Status != domain.EditApplied || len(o.AppliedEdits) != 1 || e.sim.Calls("increment") != 1 || e.inv("CAP").Totals().OnHand != 48 {
		t.Fatalf("after two confirmations: %+v, %d increments, CAP %+v", o.Edit, e.sim.Calls("increment"), e.inv("CAP").Totals())
	}
}

// TestEditResumerFinishesACrashedConfirmation: nobody retries the request; the resumer
// (as serve runs it on the read model's pending orders) applies the edit once.
func TestEditResumerFinishesACrashedConfirmation(t *testing.T) {
	e := newEnv(t, payment.SimulatorConfig{AsyncDelay: -1})
	e.product("TEE", 2000, 10)
	e.product("CAP", 1500, 5)
	id := e.orderOf(lq("TEE", 1))
	crashing, err := New(Config{Runtime: e.rt, Gateway: &lostAnswers{Simulator: e.sim, lose: 1}, Checkouts: e.co})
	if err != nil {
		t.Fatal(err)
	}
	eds1, _ := NewEdits(EditsConfig{Ops: crashing, Catalog: e.svc})
	v, err := eds1.Open(e.ctx, id, admin)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eds1.AddItem(e.ctx, id, v.Edit.ID, "CAP", 1, admin); err != nil {
		t.Fatal(err)
	}
	if _, err := eds1.Confirm(e.ctx, id, v.Edit.ID, admin); err == nil || !e.orderState(id).EditConfirming() {
		t.Fatalf("the crash did not leave the edit confirming: %v", err)
	}
	ctx, stop := context.WithCancel(e.ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.edits().RunResumer(ctx, 20*time.Millisecond, func(context.Context) ([]string, error) { return []string{id}, nil }, nil)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for e.orderState(id).Edit.Status != domain.EditApplied && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	<-done
	if o := e.checkMoney(id); o.Edit.Status != domain.EditApplied || e.sim.Calls("increment") != 1 || len(o.AppliedEdits) != 1 {
		t.Fatalf("after the resumer: %+v, %d increments", o.Edit, e.sim.Calls("increment"))
	}
}
