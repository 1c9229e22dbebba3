package checkout

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orderengine/orderengine/bus"
	"github.com/orderengine/orderengine/commands"
	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/eventstore/sqlite"
	"github.com/orderengine/orderengine/payment"
)

const kill9Dir = "CHECKOUT_KILL9_DIR"

// TestAsyncPaymentReconciledAfterKill9 places asynchronous payments in a child process
// and kills it (SIGKILL) while they await their webhooks, which die with it. A new saga
// on the same store and gateway state must bring every checkout to its outcome within
// 60 s of the restart (by asking the gateway), not at the reservation TTL (15 min here).
func TestAsyncPaymentReconciledAfterKill9(t *testing.T) {
	if dir := os.Getenv(kill9Dir); dir != "" {
		kill9Child(t, dir)
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestAsyncPaymentReconciledAfterKill9$")
	cmd.Env = append(os.Environ(), kill9Dir+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var ids []string
	sc := bufio.NewScanner(out)
	for len(ids) < 2 && sc.Scan() {
		if id, ok := strings.CutPrefix(sc.Text(), "AWAITING "); ok {
			ids = append(ids, id)
		}
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	if len(ids) != 2 {
		t.Fatalf("the child reported %d awaiting checkouts", len(ids))
	}

	store, err := sqlite.Open(context.Background(), filepath.Join(dir, "events.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// No webhooks in this life: only look-ups can settle the payments.
	sim := payment.NewSimulator(payment.SimulatorConfig{StateFile: filepath.Join(dir, "gateway.json"), AsyncDelay: time.Hour})
	ps, err := bus.OpenMemory(bus.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rt := commands.NewRuntime(store, testRegistry(), commands.RuntimeOptions{})
	co, err := New(Config{Runtime: rt, Store: store, Gateway: sim, Bus: ps, TTL: 15 * time.Minute, ReconcileInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()
	done := make(chan error, 1)
	runCtx, stop := context.WithCancel(ctx)
	go func() { done <- co.Run(runCtx) }()
	defer func() {
		stop()
		<-done
		ps.Close()
		sim.Close()
		store.Close()
	}()
	want := map[string]Outcome{ids[0]: OutcomeConfirmed, ids[1]: OutcomeCancelled}
	for id, outcome := range want {
		st, err := co.Wait(ctx, id, 60*time.Second-time.Since(restarted))
		if err != nil || !st.Terminal || st.Outcome != outcome {
			t.Fatalf("checkout %s %s after the restart: %+v %v", id, time.Since(restarted), st, err)
		}
	}
	if n := sim.Calls("lookup"); n == 0 {
		t.Fatal("settled without asking the gateway")
	}
	t.Logf("terminal %s after the restart", time.Since(restarted))
}

// kill9Child places two asynchronous payments (authorized, declined) whose outcome the
// gateway settles only after 2 s, reports each once it awaits its webhook, and waits to
// be killed.
func kill9Child(t *testing.T, dir string) {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(dir, "events.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sim := payment.NewSimulator(payment.SimulatorConfig{StateFile: filepath.Join(dir, "gateway.json"), AsyncDelay: 2 * time.Second,
		Deliver: func(context.Context, http.Header, []byte) error { return errors.New("no webhooks in the child") }})
	ps, err := bus.OpenMemory(bus.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rt := commands.NewRuntime(store, testRegistry(), commands.RuntimeOptions{})
	svc, err := commands.NewService(rt, commands.ServiceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	co, err := New(Config{Runtime: rt, Store: store, Gateway: sim, Bus: ps, TTL: 15 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	go co.Run(ctx)
	if _, err := svc.CreateProduct(ctx, domain.CreateProduct{ProductID: "p-k9", SKU: "K9-1", ProductDetails: domain.ProductDetails{Name: "K9"}, Price: eur(1000)}, admin); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.ReceiveStock(ctx, domain.ReceiveStock{SKU: "K9-1", Warehouse: "main", Quantity: 10}, admin); err != nil {
		t.Fatal(err)
	}
	for _, token := range []string{payment.TokenAsync, payment.TokenAsyncDecline} {
		meta := commands.Meta{Actor: "alice", Customer: "alice"}
		c, err := svc.CreateCart(ctx, domain.CreateCart{Currency: "EUR"}, meta)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.AddCartItem(ctx, c.State.ID, "K9-1", 1, meta); err != nil {
			t.Fatal(err)
		}
		o, err := svc.PlaceOrder(ctx, commands.PlaceOrderInput{CartID: c.State.ID, ShippingAddress: &home, PaymentToken: token}, meta)
		if err != nil {
			t.Fatal(err)
		}
		for {
			if st, err := co.Status(ctx, o.State.ID); err == nil && st.Step == StepAwaitingPayment {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		fmt.Printf("AWAITING %s\n", o.State.ID)
	}
	select {} // until SIGKILL
}
