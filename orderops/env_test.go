package orderops

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/orderengine/orderengine/bus"
	"github.com/orderengine/orderengine/checkout"
	"github.com/orderengine/orderengine/commands"
	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/eventregistry"
	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/eventstore/sqlite"
	"github.com/orderengine/orderengine/payment"
)

var (
	admin  = commands.Meta{Actor: "admin"}
	home   = domain.Address{Name: "Alice", Line1: "Hauptstr. 1", City: "Berlin", PostalCode: "10115", Country: "DE"}
	secret = []byte("whsec_orderops_test")
)

// env is the command side on SQLite with the checkout saga running on the memory bus,
// the gateway simulator and Ops.
type env struct {
	t     *testing.T
	ctx   context.Context
	store eventstore.Store
	rt    *commands.Runtime
	svc   *commands.Service
	sim   *payment.Simulator
	co    *checkout.Checkout
	ops   *Ops
}

func newEnv(t *testing.T, simCfg payment.SimulatorConfig) *env {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "events.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	e := &env{t: t, ctx: ctx, store: s}
	e.rt = newRuntime(s)
	if e.svc, err = commands.NewService(e.rt, commands.ServiceOptions{}); err != nil {
		t.Fatal(err)
	}
	simCfg.WebhookSecret = secret
	simCfg.Deliver = func(ctx context.Context, h http.Header, body []byte) error {
		_, err := e.co.HandleWebhook(ctx, h, body)
		return err
	}
	e.sim = payment.NewSimulator(simCfg)
	ps, err := bus.OpenMemory(bus.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e.co, err = checkout.New(checkout.Config{Runtime: e.rt, Store: s, Gateway: e.sim, Bus: ps, TTL: time.Minute,
		GatewayTimeout: 2 * time.Second, SweepInterval: 50 * time.Millisecond, WebhookSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	if e.ops, err = New(Config{Runtime: e.rt, Gateway: e.sim, Checkouts: e.co}); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- e.co.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("checkout Run: %v", err)
		}
		ps.Close()
		e.sim.Close()
		cancel()
		s.Close()
	})
	return e
}

func eur(minor int64) domain.Money { return domain.MustMoney(minor, "EUR") }

func (e *env) product(sku string, price, stock int64) {
	e.t.Helper()
	if _, err := e.svc.CreateProduct(e.ctx, domain.CreateProduct{ProductID: "p-" + sku, SKU: sku, ProductDetails: domain.ProductDetails{Name: "Product " + sku}, Price: eur(price)}, admin); err != nil {
		e.t.Fatalf("product %s: %v", sku, err)
	}
	if _, err := e.svc.ReceiveStock(e.ctx, domain.ReceiveStock{SKU: sku, Warehouse: "main", Quantity: stock}, admin); err != nil {
		e.t.Fatalf("stock %s: %v", sku, err)
	}
}

// order places an order of qty × sku for alice and returns its id.
func (e *env) order(token, sku string, qty int64) string {
	e.t.Helper()
	meta := commands.Meta{Actor: "alice", Customer: "alice"}
	c, err := e.svc.CreateCart(e.ctx, domain.CreateCart{Currency: "EUR"}, meta)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.svc.AddCartItem(e.ctx, c.State.ID, sku, qty, meta); err != nil {
		e.t.Fatal(err)
	}
	r, err := e.svc.PlaceOrder(e.ctx, commands.PlaceOrderInput{CartID: c.State.ID, ShippingAddress: &home, PaymentToken: token}, meta)
	if err != nil {
		e.t.Fatal(err)
	}
	return r.State.ID
}

// waitStep waits until the order's checkout is at step (terminal: StepCompleted).
func (e *env) waitStep(id string, step checkout.Step) checkout.Status {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if st, err := e.co.Status(e.ctx, id); err == nil && st.Step == step {
			return st
		}
		time.Sleep(10 * time.Millisecond)
	}
	st, err := e.co.Status(e.ctx, id)
	e.t.Fatalf("checkout %s never reached %s: %+v %v", id, step, st, err)
	return st
}

func (e *env) orderState(id string) domain.Order {
	e.t.Helper()
	l, err := commands.Load(e.ctx, e.rt, orders, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return l.State
}

func (e *env) inv(sku string) domain.Inventory {
	e.t.Helper()
	l, err := commands.Load(e.ctx, e.rt, domain.NewInventoryDecider(), sku)
	if err != nil {
		e.t.Fatal(err)
	}
	return l.State
}

// countFor counts events of a type about an order in a stream.
func (e *env) countFor(stream, typ, orderID string) int {
	e.t.Helper()
	recs, err := e.store.ReadStream(e.ctx, stream, eventstore.Forward, 0, 100000)
	if err != nil {
		e.t.Fatal(err)
	}
	n := 0
	for _, r := range recs {
		if r.Type == typ && bytes.Contains(r.Data, []byte(`"orderId":"`+orderID+`"`)) {
			n++
		}
	}
	return n
}

func newRuntime(s eventstore.Store) *commands.Runtime {
	return commands.NewRuntime(s, eventregistry.New(), commands.RuntimeOptions{})
}
