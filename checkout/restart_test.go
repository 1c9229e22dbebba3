package checkout

import (
	"sync"
	"testing"
	"time"

	"github.com/orderengine/orderengine/commands"
	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/payment"
)

// TestResumeAfterCrashAtEveryStep stops the saga right after each step (the step's
// effect is stored, nothing after it runs), starts a new Checkout on the same store and
// checks that the order reaches the right terminal state without leaking stock.
func TestResumeAfterCrashAtEveryStep(t *testing.T) {
	e := newEnv(t, "memory", payment.SimulatorConfig{}, nil)
	e.product("SKU-A", 1000, 500)
	e.product("SKU-B", 1000, 500)
	e.coupon("SAVE10", 0)
	type scenario struct {
		token   string
		outcome Outcome
		steps   []string
	}
	scenarios := []scenario{
		{payment.TokenVisa, OutcomeConfirmed, []string{"started", "reserved:SKU-A", "reserved:SKU-B", "stock_reserved", "coupon_redeemed",
			"payment_requested", "payment_answered", "payment_recorded", "order_authorized", "committed", "order_confirmed", "completed"}},
		{payment.TokenDecline, OutcomeCancelled, []string{"payment_answered", "failed", "payment_compensated", "stock_released",
			"coupon_released", "order_cancelled", "completed"}},
	}
	for _, sc := range scenarios {
		for _, step := range sc.steps {
			name := sc.token + "/" + step
			beforeA, beforeB := e.inv("SKU-A").Totals(), e.inv("SKU-B").Totals()
			crashed := make(chan string, 1)
			co := e.checkout()
			var once sync.Once
			// Every drive stops right after the step, until the process is replaced.
			hook := func(orderID, s string) error {
				if s != step {
					return nil
				}
				once.Do(func() { crashed <- orderID })
				return errCrashTest
			}
			co.testHook.Store(&hook)
			id, err := e.order("alice", sc.token, "SAVE10", item{"SKU-B", 2}, item{"SKU-A", 1})
			if err != nil {
				t.Fatal(err)
			}
			if !waitCrash(crashed, id) {
				st, _ := co.Status(e.ctx, id)
				t.Fatalf("%s: never crashed (status %+v)", name, st)
			}
			e.stopCheckout()
			e.startCheckout()
			st := e.wait(id)
			if st.Outcome != sc.outcome {
				t.Fatalf("%s: outcome %+v, want %s", name, st, sc.outcome)
			}
			a, b := e.inv("SKU-A"), e.inv("SKU-B")
			if _, ok := a.Reservations[id]; ok {
				t.Fatalf("%s: SKU-A reservation leaked", name)
			}
			if _, ok := b.Reservations[id]; ok {
				t.Fatalf("%s: SKU-B reservation leaked", name)
			}
			wantA, wantB := beforeA.OnHand, beforeB.OnHand
			if sc.outcome == OutcomeConfirmed {
				wantA, wantB = wantA-1, wantB-2
			}
			if a.Totals().OnHand != wantA || b.Totals().OnHand != wantB || a.Totals().Reserved != beforeA.Reserved || b.Totals().Reserved != beforeB.Reserved {
				t.Fatalf("%s: stock A %+v B %+v, before A %+v B %+v", name, a.Totals(), b.Totals(), beforeA, beforeB)
			}
			for _, sku := range []string{"SKU-A", "SKU-B"} {
				for _, typ := range []string{"inventory.reserved", "inventory.committed", "inventory.released"} {
					if n := e.countFor("inventory-"+sku, typ, id); n > 1 {
						t.Fatalf("%s: %d %s on %s", name, n, typ, sku)
					}
				}
			}
			o := e.orderState(id)
			if (sc.outcome == OutcomeConfirmed) != (o.Status == domain.OrderStatusPaid) || (sc.outcome == OutcomeCancelled) != (o.Status == domain.OrderStatusCancelled) {
				t.Fatalf("%s: order %s", name, o.Status)
			}
			if _, held := e.promo("SAVE10").Redemptions[id]; held != (sc.outcome == OutcomeConfirmed) {
				t.Fatalf("%s: coupon redemption held=%v", name, held)
			}
			if n := len(e.sim.Authorizations(id)); n != 1 {
				t.Fatalf("%s: %d gateway authorizations", name, n)
			}
		}
	}
}

func waitCrash(crashed chan string, id string) bool {
	select {
	case got := <-crashed:
		return got == id
	case <-time.After(20 * time.Second):
		return false
	}
}

func (e *env) promo(code string) domain.Promotion {
	e.t.Helper()
	l, err := commands.Load(e.ctx, e.rt, promotions, code)
	if err != nil {
		e.t.Fatal(err)
	}
	return l.State
}
