package payment_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/payment"
)

func TestSimulatorPartialCapturesVoidsRefunds(t *testing.T) {
	ctx := context.Background()
	sim := payment.NewSimulator(payment.SimulatorConfig{})
	defer sim.Close()
	eur := func(n int64) domain.Money { return domain.MustMoney(n, "EUR") }
	auth, err := sim.Authorize(ctx, payment.AuthorizeRequest{OrderID: "o1", Amount: eur(1000), Token: payment.TokenVisa, IdempotencyKey: "a"})
	if err != nil || auth.Status != payment.StatusAuthorized {
		t.Fatal(auth, err)
	}
	ref := auth.GatewayRef
	capture := func(key string, n int64) payment.Result {
		r, err := sim.CapturePart(ctx, payment.CaptureRequest{OrderID: "o1", GatewayRef: ref, Amount: eur(n), IdempotencyKey: key})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := capture("c1", 300); r.Status != payment.StatusSucceeded {
		t.Fatal(r)
	}
	if r := capture("c1", 300); r.Status != payment.StatusSucceeded || sim.Calls("capture_part") != 1 {
		t.Fatalf("a repeated key captured again: %+v, %d calls", r, sim.Calls("capture_part"))
	}
	if r := capture("c2", 400); r.Status != payment.StatusSucceeded {
		t.Fatal(r)
	}
	v, err := sim.VoidPart(ctx, payment.PartialVoidRequest{OrderID: "o1", GatewayRef: ref, Amount: eur(200), IdempotencyKey: "v1"})
	if err != nil || v.Status != payment.StatusSucceeded || sim.Released(ref) != 200 {
		t.Fatal(v, err, sim.Released(ref))
	}
	if r := capture("c3", 101); r.Status != payment.StatusFailed {
		t.Fatalf("captured + released beyond the authorization: %+v", r)
	}
	// refunds of the captured parts, each idempotent, never beyond what was captured
	refund := func(key string, n int64) payment.Result {
		r, err := sim.Refund(ctx, payment.RefundRequest{OrderID: "o1", GatewayRef: ref, Amount: eur(n), IdempotencyKey: key})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := refund("r1", 500); r.Status != payment.StatusSucceeded {
		t.Fatal(r)
	}
	if r := refund("r1", 500); r.Status != payment.StatusSucceeded || sim.Calls("refund") != 1 {
		t.Fatal("a repeated refund key refunded again")
	}
	if r := refund("r2", 201); r.Status != payment.StatusFailed {
		t.Fatalf("refund beyond captured: %+v", r)
	}
	if r := capture("c4", 100); r.Status != payment.StatusSucceeded {
		t.Fatalf("the last 100 after a refund: %+v", r)
	}
	a := sim.Authorizations("o1")[0]
	if a.Captured != 800 || a.Refunded != 500 {
		t.Fatalf("authorization %+v", a)
	}
}

func TestSimulatorPartialCapturesConcurrent(t *testing.T) {
	ctx := context.Background()
	sim := payment.NewSimulator(payment.SimulatorConfig{})
	defer sim.Close()
	auth, _ := sim.Authorize(ctx, payment.AuthorizeRequest{OrderID: "o1", Amount: domain.MustMoney(1000, "EUR"), Token: payment.TokenVisa, IdempotencyKey: "a"})
	var wg sync.WaitGroup
	for i := 0; i < 30; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Sprintf("k%d", i%15) // every key twice
			if i%2 == 0 {
				sim.CapturePart(ctx, payment.CaptureRequest{OrderID: "o1", GatewayRef: auth.GatewayRef, Amount: domain.MustMoney(100, "EUR"), IdempotencyKey: key})
			} else {
				sim.VoidPart(ctx, payment.PartialVoidRequest{OrderID: "o1", GatewayRef: auth.GatewayRef, Amount: domain.MustMoney(100, "EUR"), IdempotencyKey: key})
			}
		}()
	}
	wg.Wait()
	a := sim.Authorizations("o1")[0]
	if a.Captured+sim.Released(auth.GatewayRef) != 1000 || sim.Calls("capture_part")+sim.Calls("void_part") != 10 {
		t.Fatalf("captured %d released %d calls %d+%d", a.Captured, sim.Released(auth.GatewayRef), sim.Calls("capture_part"), sim.Calls("void_part"))
	}
}
