package checkout

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orderengine/orderengine/payment"
)

// refusingVoids is a gateway that refuses every void.
type refusingVoids struct{ payment.Gateway }

func (refusingVoids) Void(context.Context, payment.VoidRequest) (payment.Result, error) {
	return payment.Result{Status: payment.StatusFailed, Reason: "void_window_closed"}, nil
}

// TestRefusedLateVoidIsRecordedAsRefused: when the gateway refuses to void a late
// authorization, the log says so (never late_authorization_voided), the hook fires once
// and the checkout does not retry forever.
func TestRefusedLateVoidIsRecordedAsRefused(t *testing.T) {
	var refused atomic.Int32
	var gotReason atomic.Value
	e := newEnv(t, "memory", payment.SimulatorConfig{AsyncDelay: -1}, func(c *Config) {
		c.Gateway = refusingVoids{c.Gateway}
		c.OnVoidRefused = func(_, _, reason string) { refused.Add(1); gotReason.Store(reason) }
	})
	e.product("LAMP-1", 3000, 4)
	id := e.mustOrder(payment.TokenAsync, item{"LAMP-1", 1})
	waitStep(t, e, id, StepAwaitingPayment)
	e.clock.Advance(2 * time.Minute)
	if st := e.wait(id); st.Outcome != OutcomeCancelled {
		t.Fatalf("status %+v", st)
	}
	if err := e.sim.DeliverWebhook(e.ctx, e.sim.Authorizations(id)[0].GatewayRef); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for refused.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no refusal recorded: %v", e.types(StreamName(id)))
		}
		time.Sleep(10 * time.Millisecond)
	}
	types := e.types(StreamName(id))
	if slices.Contains(types, "checkout.late_authorization_voided") || !slices.Contains(types, "checkout.late_authorization_void_refused") {
		t.Fatalf("checkout stream %v", types)
	}
	if r, _ := gotReason.Load().(string); r != "void_window_closed" {
		t.Fatalf("reason %q", r)
	}
	time.Sleep(300 * time.Millisecond) // sweeps run every 50 ms: none retries the void
	if n := refused.Load(); n != 1 {
		t.Fatalf("hook fired %d times", n)
	}
	if e.sim.Authorizations(id)[0].State == "voided" {
		t.Fatal("the simulator voided it anyway")
	}
}
