package checkout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orderengine/orderengine/commands"
	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/envelope"
	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/eventstore/sqlite"
	"github.com/orderengine/orderengine/payment"
)

func TestHappyPath(t *testing.T) {
	e := newEnv(t, "memory", payment.SimulatorConfig{}, nil)
	e.product("TEE-1", 1999, 5)
	id := e.mustOrder(payment.TokenVisa, item{"TEE-1", 2})
	st := e.wait(id)
	if st.Outcome != OutcomeConfirmed || st.Step != StepCompleted || st.PaymentStatus != payment.StatusAuthorized {
		t.Fatalf("status %+v", st)
	}
	o := e.orderState(id)
	if o.Status != domain.OrderStatusPaid || o.PaymentStatus != domain.PaymentStatusAuthorized || o.Authorized != o.Totals.GrandTotal {
		t.Fatalf("order %+v", o)
	}
	if p := e.paymentState(id); p.State != domain.PaymentStateAuthorized || p.Method != payment.TokenVisa || p.Amount != o.Totals.GrandTotal {
		t.Fatalf("payment %+v", p)
	}
	inv := e.inv("TEE-1")
	if tot := inv.Totals(); tot.OnHand != 3 || tot.Reserved != 0 || inv.Settled[id].Outcome != domain.ReservationCommitted {
		t.Fatalf("inventory %+v", inv)
	}
	if n := e.sim.Calls("authorize"); n != 1 {
		t.Fatalf("%d authorizations", n)
	}
	// Saga changes carry correlation = order id, causation, actor system:checkout.
	recs, err := e.store.ReadStream(e.ctx, "inventory-TEE-1", eventstore.Backward, eventstore.End, 1)
	if err != nil {
		t.Fatal(err)
	}
	_, md, err := envelope.Decode(e.rt.Registry(), recs[0])
	if err != nil || recs[0].Type != "inventory.committed" || md.CorrelationID != id || md.Actor != Actor || md.CausationID == "" {
		t.Fatalf("commit metadata %s %+v %v", recs[0].Type, md, err)
	}
	want := []string{"checkout.started", "checkout.stock_reserved", "checkout.payment_answered", "checkout.completed"}
	if got := e.types(StreamName(id)); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("checkout events %v, want %v", got, want)
	}
}

func TestDeclinedReleasesStockOnce(t *testing.T) {
	e := newEnv(t, "memory", payment.SimulatorConfig{}, nil)
	e.product("MUG-1", 1200, 7)
	before := e.inv("MUG-1").Totals()
	id := e.mustOrder(payment.TokenDecline, item{"MUG-1", 3})
	st := e.wait(id)
	if st.Outcome != OutcomeCancelled || st.Code != CodePaymentDeclined {
		t.Fatalf("status %+v", st)
	}
	if n := e.countFor("inventory-MUG-1", "inventory.released", id); n != 1 {
		t.Fatalf("%d releases, want 1", n)
	}
	if after := e.inv("MUG-1").Totals(); after != before {
		t.Fatalf("stock %+v after, %+v before", after, before)
	}
	o := e.orderState(id)
	if o.Status != domain.OrderStatusCancelled || o.PaymentStatus != domain.PaymentStatusFailed || o.CancelReason == "" {
		t.Fatalf("order %+v", o)
	}
	if p := e.paymentState(id); p.State != domain.PaymentStateDeclined {
		t.Fatalf("payment %+v", p)
	}
}

func TestGatewayFailureAndTimeoutCancel(t *testing.T) {
	e := newEnv(t, "memory", payment.SimulatorConfig{}, nil)
	e.product("CAP-1", 900, 10)
	fail := e.mustOrder(payment.TokenFail, item{"CAP-1", 1})
	slow := e.mustOrder(payment.TokenTimeout, item{"CAP-1", 1})
	if st := e.wait(fail); st.Outcome != OutcomeCancelled || st.Code != CodePaymentFailed {
		t.Fatalf("tok_fail: %+v", st)
	}
	if st := e.wait(slow); st.Outcome != OutcomeCancelled || st.Code != CodePaymentTimeout {
		t.Fatalf("tok_timeout: %+v", st)
	}
	if tot := e.inv("CAP-1").Totals(); tot.OnHand != 10 || tot.Reserved != 0 {
		t.Fatalf("stock %+v", tot)
	}
	for _, id := range []string{fail, slow} {
		if p := e.paymentState(id); p.State != domain.PaymentStateFailed {
			t.Fatalf("payment %+v", p)
		}
	}
}

func TestAsyncPaymentConfirmedByWebhook(t *testing.T) {
	e := newEnv(t, "memory", payment.SimulatorConfig{AsyncDelay: 30 * time.Millisecond}, nil)
	e.product("BAG-1", 4500, 2)
	id := e.mustOrder(payment.TokenAsync, item{"BAG-1", 1})
	st := e.wait(id)
	if st.Outcome != OutcomeConfirmed {
		t.Fatalf("status %+v", st)
	}
	if n := count(e.types(StreamName(id)), "checkout.webhook_received"); n != 1 {
		t.Fatalf("%d webhooks recorded", n)
	}
	if tot := e.inv("BAG-1").Totals(); tot.OnHand != 1 || tot.Reserved != 0 {
		t.Fatalf("stock %+v", tot)
	}
}

func TestWebhookVerificationAndDedup(t *testing.T) {
	e := newEnv(t, "memory", payment.SimulatorConfig{AsyncDelay: -1}, nil)
	e.product("HAT-1", 2500, 3)
	id := e.mustOrder(payment.TokenAsync, item{"HAT-1", 1})
	co := e.checkout()
	waitStep(t, e, id, StepAwaitingPayment)
	auths := e.sim.Authorizations(id)
	if len(auths) != 1 {
		t.Fatalf("authorizations %+v", auths)
	}
	ref := auths[0].GatewayRef
	h, body, err := e.sim.Webhook(ref)
	if err != nil {
		t.Fatal(err)
	}
	var ev payment.WebhookEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		t.Fatal(err)
	}
	now := e.clock.Now()
	signed := func(sec []byte, at time.Time, b []byte) http.Header {
		return http.Header{payment.SignatureHeader: {payment.Sign(sec, at, b)}}
	}
	flipped := append([]byte(nil), body...)
	flipped[len(flipped)/2] ^= 0x01
	wrongAmount := ev
	wrongAmount.Data.Amount.Amount++
	wrongBody, _ := json.Marshal(wrongAmount)
	wrongCurrency := ev
	wrongCurrency.Data.Amount.Currency = "USD"
	usdBody, _ := json.Marshal(wrongCurrency)
	bad := []struct {
		name string
		h    http.Header
		body []byte
	}{
		{"unsigned", http.Header{}, body},
		{"wrong secret", signed([]byte("not-the-secret"), now, body), body},
		{"one byte changed", h, flipped},
		{"301s old", signed(secret, now.Add(-301*time.Second), body), body},
		{"amount mismatch", signed(secret, now, wrongBody), wrongBody},
		{"currency mismatch", signed(secret, now, usdBody), usdBody},
	}
	for _, b := range bad {
		if _, err := co.HandleWebhook(e.ctx, b.h, b.body); !errors.Is(err, payment.ErrInvalidWebhook) {
			t.Fatalf("%s: err %v, want a rejection", b.name, err)
		}
	}
	if n := count(e.types(StreamName(id)), "checkout.webhook_received"); n != 0 {
		t.Fatalf("rejected webhooks left %d events", n)
	}
	if st, _ := co.Status(e.ctx, id); st.Step != StepAwaitingPayment {
		t.Fatalf("rejected webhooks moved the checkout: %+v", st)
	}

	// The gateway settles and delivers the same event five times, two of them at once.
	e.sim.DeliverWebhook(e.ctx, ref)
	var wg sync.WaitGroup
	dups := make(chan bool, 4)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, b, _ := e.sim.Webhook(ref)
			r, err := co.HandleWebhook(e.ctx, h, b)
			if err != nil {
				t.Errorf("valid webhook: %v", err)
			}
			dups <- r.Duplicate
		}()
	}
	wg.Wait()
	close(dups)
	for d := range dups {
		if !d {
			t.Error("a redelivered webhook was not recognised as a duplicate")
		}
	}
	if st := e.wait(id); st.Outcome != OutcomeConfirmed {
		t.Fatalf("status %+v", st)
	}
	if n := count(e.types(StreamName(id)), "checkout.webhook_received"); n != 1 {
		t.Fatalf("%d webhook effects, want 1", n)
	}
	if n := count(e.types("payment-"+id), "payment.authorized"); n != 1 {
		t.Fatalf("%d payment.authorized, want 1", n)
	}

	// The dedup is stored: a new process still recognises the event.
	e.stopCheckout()
	co = e.startCheckout()
	h, b, _ := e.sim.Webhook(ref)
	if r, err := co.HandleWebhook(e.ctx, h, b); err != nil || !r.Duplicate {
		t.Fatalf("after restart: %+v %v", r, err)
	}
}

func waitStep(t *testing.T, e *env, id string, step Step) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if st, err := e.checkout().Status(e.ctx, id); err == nil && st.Step == step {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	st, err := e.checkout().Status(e.ctx, id)
	t.Fatalf("checkout %s never reached %s: %+v %v", id, step, st, err)
}

// replayStock folds an inventory stream event by event and fails on any negative level.
func replayStock(t *testing.T, e *env, sku string) {
	t.Helper()
	recs, err := e.store.ReadStream(e.ctx, "inventory-"+sku, eventstore.Forward, 0, 100000)
	if err != nil {
		t.Fatal(err)
	}
	var s domain.Inventory
	for _, r := range recs {
		ev, _, err := envelope.Decode(e.rt.Registry(), r)
		if err != nil {
			t.Fatal(err)
		}
		s = domain.EvolveInventory(s, ev)
		for w, l := range s.Warehouses {
			if l.Available() < 0 || l.OnHand < 0 || l.Reserved < 0 {
				t.Fatalf("%s/%s negative at version %d: %+v", sku, w, r.Version, l)
			}
		}
	}
}

func placeConcurrently(t *testing.T, e *env, n int, place func(i int) (string, error)) []string {
	t.Helper()
	ids := make([]string, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	var mu sync.Mutex
	var errs []error
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			id, err := place(i)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
			ids[i] = id
		}(i)
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d orders failed to place, first: %v", len(errs), errs[0])
	}
	return ids
}

func TestNoOversellingUnderConcurrency(t *testing.T) {
	e := newEnv(t, "memory", payment.SimulatorConfig{}, nil)
	e.product("HOT-1", 5000, 50)
	t0 := time.Now()
	defer func() { t.Logf("total %s", time.Since(t0)) }()
	ids := placeConcurrently(t, e, 200, func(i int) (string, error) {
		return e.order(fmt.Sprintf("c%d", i), payment.TokenVisa, "", item{"HOT-1", 1})
	})
	t.Logf("placed in %s", time.Since(t0))
	confirmed, oos := 0, 0
	for _, id := range ids {
		st := e.wait(id)
		switch {
		case st.Outcome == OutcomeConfirmed:
			confirmed++
		case st.Code == CodeOutOfStock:
			oos++
		default:
			t.Errorf("order %s: %+v", id, st)
		}
	}
	if confirmed != 50 || oos != 150 {
		t.Fatalf("%d confirmed, %d out of stock; want 50 and 150", confirmed, oos)
	}
	if tot := e.inv("HOT-1").Totals(); tot.OnHand != 0 || tot.Reserved != 0 {
		t.Fatalf("stock %+v", tot)
	}
	replayStock(t, e, "HOT-1")
	e.noLeaks("HOT-1")
}

func TestMultiSKUAllOrNothing(t *testing.T) {
	e := newEnv(t, "memory", payment.SimulatorConfig{}, nil)
	e.product("SKU-A", 1000, 40)
	e.product("SKU-B", 1500, 60)
	ids := placeConcurrently(t, e, 100, func(i int) (string, error) {
		items := []item{{"SKU-A", 1}, {"SKU-B", 1}}
		if i%2 == 1 {
			items[0], items[1] = items[1], items[0]
		}
		return e.order(fmt.Sprintf("c%d", i), payment.TokenVisa, "", items...)
	})
	a, b := e.inv("SKU-A"), e.inv("SKU-B")
	confirmed := 0
	for _, id := range ids {
		st := e.wait(id)
		a, b = e.inv("SKU-A"), e.inv("SKU-B")
		ca, cb := a.Settled[id].Outcome, b.Settled[id].Outcome
		_, ra := a.Reservations[id]
		_, rb := b.Reservations[id]
		if ra || rb {
			t.Errorf("order %s terminal with an active reservation", id)
		}
		if st.Outcome == OutcomeConfirmed {
			confirmed++
			if ca != domain.ReservationCommitted || cb != domain.ReservationCommitted {
				t.Errorf("confirmed order %s committed A=%q B=%q", id, ca, cb)
			}
		} else if ca == domain.ReservationCommitted || cb == domain.ReservationCommitted {
			t.Errorf("cancelled order %s committed A=%q B=%q", id, ca, cb)
		}
	}
	if confirmed != 40 {
		t.Fatalf("%d confirmed, want 40 (stock of A)", confirmed)
	}
	if ta, tb := a.Totals(), b.Totals(); ta.OnHand != 0 || tb.OnHand != 20 || ta.Reserved != 0 || tb.Reserved != 0 {
		t.Fatalf("stock A %+v, B %+v", ta, tb)
	}
	replayStock(t, e, "SKU-A")
	replayStock(t, e, "SKU-B")
}

func TestCouponUsageLimitHolds(t *testing.T) {
	e := newEnv(t, "memory", payment.SimulatorConfig{}, nil)
	e.product("SHOE-1", 8000, 100)
	e.coupon("TEN", 10)
	var mu sync.Mutex
	var ids []string
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			id, err := e.order(fmt.Sprintf("c%d", i), payment.TokenVisa, "TEN", item{"SHOE-1", 1})
			if errors.Is(err, domain.ErrCouponExhausted) {
				return // refused when applied to the cart: also fine
			}
			if err != nil {
				t.Errorf("order: %v", err)
				return
			}
			mu.Lock()
			ids = append(ids, id)
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	confirmed := 0
	for _, id := range ids {
		st := e.wait(id)
		if st.Outcome == OutcomeConfirmed {
			confirmed++
		} else if st.Code != CodeCouponExhausted {
			t.Errorf("order %s: %+v", id, st)
		}
	}
	l, err := e.svc.Inventory(e.ctx, "SHOE-1")
	if err != nil {
		t.Fatal(err)
	}
	promo := e.promoUses("TEN")
	if confirmed > 10 || promo != confirmed {
		t.Fatalf("%d confirmed, %d redemptions held; limit 10", confirmed, promo)
	}
	if tot := l.State.Totals(); tot.OnHand != int64(100-confirmed) || tot.Reserved != 0 {
		t.Fatalf("stock %+v with %d confirmed", tot, confirmed)
	}
}

func (e *env) promoUses(code string) int {
	e.t.Helper()
	recs, err := e.store.ReadStream(e.ctx, "promotion-"+code, eventstore.Forward, 0, 10000)
	if err != nil {
		e.t.Fatal(err)
	}
	var p domain.Promotion
	for _, r := range recs {
		ev, _, err := envelope.Decode(e.rt.Registry(), r)
		if err != nil {
			e.t.Fatal(err)
		}
		p = domain.EvolvePromotion(p, ev)
		if p.UsageLimit > 0 && p.Uses() > p.UsageLimit {
			e.t.Fatalf("coupon used %d times, limit %d", p.Uses(), p.UsageLimit)
		}
	}
	return int(p.Uses())
}

func TestReservationExpiry(t *testing.T) {
	e := newEnv(t, "memory", payment.SimulatorConfig{AsyncDelay: -1}, nil)
	e.product("LAMP-1", 3000, 4)
	id := e.mustOrder(payment.TokenAsync, item{"LAMP-1", 2})
	waitStep(t, e, id, StepAwaitingPayment)
	if tot := e.inv("LAMP-1").Totals(); tot.Reserved != 2 {
		t.Fatalf("stock %+v", tot)
	}
	e.clock.Advance(2 * time.Minute) // past the 1 min TTL; the sweeper notices
	st := e.wait(id)
	if st.Outcome != OutcomeCancelled || st.Code != CodeExpired {
		t.Fatalf("status %+v", st)
	}
	if n := e.countFor("inventory-LAMP-1", "inventory.reservation_expired", id); n != 1 {
		t.Fatalf("%d expiries", n)
	}
	if tot := e.inv("LAMP-1").Totals(); tot.OnHand != 4 || tot.Reserved != 0 {
		t.Fatalf("stock %+v", tot)
	}
	if p := e.paymentState(id); p.State != domain.PaymentStateFailed {
		t.Fatalf("payment %+v", p)
	}
	// The authorization confirms too late: it is voided at the gateway.
	ref := e.sim.Authorizations(id)[0].GatewayRef
	if err := e.sim.DeliverWebhook(e.ctx, ref); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for e.sim.Authorizations(id)[0].State != "voided" {
		if time.Now().After(deadline) {
			t.Fatalf("late authorization not voided: %+v", e.sim.Authorizations(id))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st := e.wait(id); st.Outcome != OutcomeCancelled {
		t.Fatalf("status %+v", st)
	}
	if o := e.orderState(id); o.Status != domain.OrderStatusCancelled {
		t.Fatalf("order %+v", o)
	}
}

func TestStatusAndWait(t *testing.T) {
	e := newEnv(t, "memory", payment.SimulatorConfig{}, nil)
	e.product("PEN-1", 300, 5)
	if _, err := e.checkout().Status(e.ctx, "no-such-order"); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("unknown order: %v", err)
	}
	co := e.checkout()
	e.stopCheckout() // placed while no saga runs
	id := e.mustOrder(payment.TokenVisa, item{"PEN-1", 1})
	st, err := co.Wait(e.ctx, id, 50*time.Millisecond)
	if err != nil || st.Terminal || st.Step != StepPending {
		t.Fatalf("before the saga: %+v %v", st, err)
	}
	e.startCheckout()
	if st := e.wait(id); st.Outcome != OutcomeConfirmed || st.Version == 0 || st.Position == 0 {
		t.Fatalf("status %+v", st)
	}
	b, _ := json.Marshal(st)
	if !strings.Contains(string(b), `"step":"pending"`) {
		t.Fatalf("json %s", b)
	}
}

func TestNewNeedsARegistryThatKnowsTheCheckoutEvents(t *testing.T) {
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "events.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rt := commands.NewRuntime(s, domain.NewDomainRegistry(), commands.RuntimeOptions{})
	sim := payment.NewSimulator(payment.SimulatorConfig{})
	defer sim.Close()
	if _, err := New(Config{Runtime: rt, Store: s, Gateway: sim}); err == nil || !strings.Contains(err.Error(), "checkout.started") {
		t.Fatalf("domain-only registry accepted: %v", err)
	}
	if _, err := New(Config{Runtime: commands.NewRuntime(s, testRegistry(), commands.RuntimeOptions{}), Store: s, Gateway: sim}); err != nil {
		t.Fatal(err)
	}
}
