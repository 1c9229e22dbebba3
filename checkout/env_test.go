package checkout

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orderengine/orderengine/bus"
	"github.com/orderengine/orderengine/checkout/request"
	"github.com/orderengine/orderengine/commands"
	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/eventstore/sqlite"
	"github.com/orderengine/orderengine/payment"
)

var (
	admin        = commands.Meta{Actor: "admin"}
	home         = domain.Address{Name: "Alice", Line1: "Hauptstr. 1", City: "Berlin", PostalCode: "10115", Country: "DE"}
	secret       = []byte("whsec_checkout_test")
	errCrashTest = errors.New("simulated crash")
)

// testClock is real time plus an offset the test can advance.
type testClock struct{ off atomic.Int64 }

func (c *testClock) Now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())).UTC() }
func (c *testClock) Advance(d time.Duration) { c.off.Add(int64(d)) }

type env struct {
	t      *testing.T
	ctx    context.Context
	store  eventstore.Store
	clock  *testClock
	rt     *commands.Runtime
	svc    *commands.Service
	sim    *payment.Simulator
	busURL string
	prefix string

	mu   sync.Mutex
	co   *Checkout
	stop func()
	cfg  func(*Config)
}

func testLogger() *slog.Logger {
	if os.Getenv("CHECKOUT_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// newEnv opens a SQLite store, a Service, a Simulator delivering webhooks to the current
// Checkout, and starts a Checkout (cfg adjusts its Config).
func newEnv(t *testing.T, busURL string, simCfg payment.SimulatorConfig, cfg func(*Config)) *env {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "events.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return newEnvOn(t, s, busURL, simCfg, cfg)
}

// newEnvOn is newEnv on a store of the caller's; the env closes it.
func newEnvOn(t *testing.T, s eventstore.Store, busURL string, simCfg payment.SimulatorConfig, cfg func(*Config)) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	e := &env{t: t, ctx: ctx, store: s, clock: &testClock{}, busURL: busURL, prefix: testPrefix(busURL), cfg: cfg}
	simCfg.WebhookSecret = secret
	simCfg.Now = e.clock.Now
	simCfg.Deliver = func(ctx context.Context, h http.Header, body []byte) error {
		e.mu.Lock()
		co := e.co
		e.mu.Unlock()
		if co == nil {
			return errors.New("no checkout running")
		}
		_, err := co.HandleWebhook(ctx, h, body)
		return err
	}
	e.sim = payment.NewSimulator(simCfg)
	e.rt, e.svc = e.newRuntime()
	t.Cleanup(func() {
		e.stopCheckout()
		e.sim.Close()
		cancel()
		s.Close()
	})
	e.startCheckout()
	return e
}

func (e *env) newRuntime() (*commands.Runtime, *commands.Service) {
	rt := commands.NewRuntime(e.store, testRegistry(), commands.RuntimeOptions{Now: e.clock.Now})
	svc, err := commands.NewService(rt, commands.ServiceOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return rt, svc
}

// startCheckout starts a Checkout as a fresh process would: new runtime, bus and saga.
func (e *env) startCheckout() *Checkout {
	e.t.Helper()
	rt, _ := e.newRuntime()
	open := func(o bus.Options) (*bus.PubSub, error) { return bus.OpenNATS(e.ctx, e.busURL, o) }
	if e.busURL == "memory" {
		open = func(o bus.Options) (*bus.PubSub, error) { return bus.OpenMemory(o) }
	}
	ps, err := open(bus.Options{TopicPrefix: e.prefix, Logger: testLogger()})
	if err != nil {
		e.t.Fatal(err)
	}
	cfg := Config{
		Runtime: rt, Store: e.store, Gateway: e.sim, Bus: ps, TTL: time.Minute, GatewayTimeout: 300 * time.Millisecond,
		SweepInterval: 50 * time.Millisecond, WebhookSecret: secret, Logger: testLogger(),
	}
	if e.cfg != nil {
		e.cfg(&cfg)
	}
	co, err := New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(e.ctx)
	done := make(chan error, 1)
	go func() { done <- co.Run(runCtx) }()
	e.mu.Lock()
	e.co = co
	e.stop = func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				e.t.Errorf("Run: %v", err)
			}
		case <-time.After(60 * time.Second):
			// Beyond the router's 30 s close timeout: Run is stuck, not just slow.
			e.t.Error("Run did not return after cancel")
		}
		ps.Close()
	}
	e.mu.Unlock()
	return co
}

func (e *env) stopCheckout() {
	e.mu.Lock()
	stop := e.stop
	e.stop, e.co = nil, nil
	e.mu.Unlock()
	if stop != nil {
		stop()
	}
}

func (e *env) checkout() *Checkout {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.co
}

var prefixes atomic.Int64

// testPrefix isolates a test's NATS streams.
func testPrefix(url string) string {
	if url == "memory" {
		return bus.DefaultTopicPrefix
	}
	return fmt.Sprintf("oetest-%d-%d-", time.Now().UnixNano()%1e9, prefixes.Add(1))
}

func eur(minor int64) domain.Money { return domain.MustMoney(minor, "EUR") }

func (e *env) product(sku string, price, stock int64) {
	e.t.Helper()
	if _, err := e.svc.CreateProduct(e.ctx, domain.CreateProduct{ProductID: "p-" + sku, SKU: sku, ProductDetails: domain.ProductDetails{Name: "Product " + sku}, Price: eur(price)}, admin); err != nil {
		e.t.Fatalf("product %s: %v", sku, err)
	}
	if stock > 0 {
		if _, err := e.svc.ReceiveStock(e.ctx, domain.ReceiveStock{SKU: sku, Warehouse: "main", Quantity: stock}, admin); err != nil {
			e.t.Fatalf("stock %s: %v", sku, err)
		}
	}
}

func (e *env) coupon(code string, limit int64) {
	e.t.Helper()
	if _, err := e.svc.CreatePromotion(e.ctx, domain.CreatePromotion{Coupon: domain.Coupon{Code: code, Kind: domain.CouponPercent, PercentOff: 1000}, UsageLimit: limit}, admin); err != nil {
		e.t.Fatal(err)
	}
}

type item struct {
	sku string
	qty int64
}

// order places an order through commands.Service: cart, items, coupon, PlaceOrder.
func (e *env) order(customer, token, coupon string, items ...item) (string, error) {
	meta := commands.Meta{Actor: customer, Customer: customer}
	c, err := e.svc.CreateCart(e.ctx, domain.CreateCart{Currency: "EUR"}, meta)
	if err != nil {
		return "", err
	}
	for _, it := range items {
		if _, err := e.svc.AddCartItem(e.ctx, c.State.ID, it.sku, it.qty, meta); err != nil {
			return "", err
		}
	}
	if coupon != "" {
		if _, err := e.svc.ApplyCoupon(e.ctx, c.State.ID, coupon, meta); err != nil {
			return "", err
		}
	}
	r, err := e.svc.PlaceOrder(e.ctx, commands.PlaceOrderInput{CartID: c.State.ID, ShippingAddress: &home, PaymentToken: token}, meta)
	if err != nil {
		return "", err
	}
	return r.State.ID, nil
}

func (e *env) mustOrder(token string, items ...item) string {
	e.t.Helper()
	id, err := e.order("alice", token, "", items...)
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

// wait waits for a terminal checkout.
func (e *env) wait(orderID string) Status {
	e.t.Helper()
	st, err := e.checkout().Wait(e.ctx, orderID, 30*time.Second)
	if err != nil {
		e.t.Fatalf("wait %s: %v", orderID, err)
	}
	if !st.Terminal {
		e.t.Fatalf("checkout %s not terminal: %+v", orderID, st)
	}
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

func (e *env) paymentState(id string) domain.Payment {
	e.t.Helper()
	l, err := commands.Load(e.ctx, e.rt, payments, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return l.State
}

func (e *env) inv(sku string) domain.Inventory {
	e.t.Helper()
	l, err := commands.Load(e.ctx, e.rt, inventory, sku)
	if err != nil {
		e.t.Fatal(err)
	}
	return l.State
}

// types lists a stream's event types.
func (e *env) types(stream string) []string {
	e.t.Helper()
	recs, err := e.store.ReadStream(e.ctx, stream, eventstore.Forward, 0, 10000)
	if errors.Is(err, eventstore.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		e.t.Fatal(err)
	}
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.Type
	}
	return out
}

func count(types []string, typ string) int {
	n := 0
	for _, t := range types {
		if t == typ {
			n++
		}
	}
	return n
}

// countFor counts events of a type about an order in a stream (inventory streams hold
// many orders).
func (e *env) countFor(stream, typ, orderID string) int {
	e.t.Helper()
	recs, err := e.store.ReadStream(e.ctx, stream, eventstore.Forward, 0, 100000)
	if err != nil {
		e.t.Fatal(err)
	}
	n := 0
	for _, r := range recs {
		if r.Type == typ && containsOrder(r.Data, orderID) {
			n++
		}
	}
	return n
}

func containsOrder(data []byte, orderID string) bool {
	return len(orderID) > 0 && bytes.Contains(data, []byte(`"orderId":"`+orderID+`"`))
}

// noLeaks checks that no reservation is active for a terminal order, and reserved stock
// never exceeds what is on hand.
func (e *env) noLeaks(skus ...string) {
	e.t.Helper()
	for _, sku := range skus {
		inv := e.inv(sku)
		for id := range inv.Reservations {
			st, err := e.checkout().Status(e.ctx, id)
			if err != nil || st.Terminal {
				e.t.Errorf("%s: reservation of terminal order %s leaked (%+v, %v)", sku, id, st, err)
			}
		}
		for w, l := range inv.Warehouses {
			if l.Available() < 0 || l.OnHand < 0 {
				e.t.Errorf("%s/%s: negative stock %+v", sku, w, l)
			}
		}
	}
}

// testRegistry is eventregistry.New's registry as far as the saga writes and reads (that
// package imports this one, so its tests cannot use it).
func testRegistry() *domain.Registry {
	r := domain.NewDomainRegistry()
	if err := r.RegisterAll(slices.Concat(commands.Events(), request.Events(), Events())...); err != nil {
		panic(err)
	}
	return r
}
