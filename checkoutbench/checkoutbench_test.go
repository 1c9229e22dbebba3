package checkoutbench_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orderengine/orderengine/auth"
	"github.com/orderengine/orderengine/bus"
	"github.com/orderengine/orderengine/checkout"
	"github.com/orderengine/orderengine/checkoutbench"
	"github.com/orderengine/orderengine/commands"
	"github.com/orderengine/orderengine/eventregistry"
	"github.com/orderengine/orderengine/eventstore/sqlite"
	"github.com/orderengine/orderengine/idempotency"
	"github.com/orderengine/orderengine/payment"
	"github.com/orderengine/orderengine/writeapi"
)

var jwtSecret = []byte(strings.Repeat("b", 32))

// server is the command side on a temporary SQLite store: API, checkout saga on the
// in-process bus, gateway simulator.
type server struct {
	url   string
	svc   *commands.Service
	admin string
	sign  auth.Signer
}

func newServer(t *testing.T) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "events.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rt := commands.NewRuntime(store, eventregistry.New(), commands.RuntimeOptions{})
	svc, err := commands.NewService(rt, commands.ServiceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ps, err := bus.OpenMemory(bus.Options{})
	if err != nil {
		t.Fatal(err)
	}
	whSecret := []byte("whsec_checkoutbench")
	var co *checkout.Checkout
	sim := payment.NewSimulator(payment.SimulatorConfig{WebhookSecret: whSecret,
		Deliver: func(ctx context.Context, h http.Header, body []byte) error {
			_, err := co.HandleWebhook(ctx, h, body)
			return err
		}})
	co, err = checkout.New(checkout.Config{Runtime: rt, Store: store, Gateway: sim, Bus: ps, WebhookSecret: whSecret})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- co.Run(ctx) }()
	ver, err := auth.NewVerifier(auth.Config{HS256Secret: jwtSecret})
	if err != nil {
		t.Fatal(err)
	}
	api, err := writeapi.New(writeapi.Config{
		Service: svc, Verifier: ver, Checkout: co, Idempotency: idempotency.New(store, idempotency.Options{}),
		RateLimit: writeapi.RateLimit{PerUser: 1e6, UserBurst: 1e6, PerIP: 1e6, IPBurst: 1e6},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api)
	t.Cleanup(func() {
		srv.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("checkout run: %v", err)
		}
		sim.Close()
		ps.Close()
		store.Close()
	})
	s := &server{url: srv.URL, svc: svc, sign: auth.Signer{Secret: jwtSecret}}
	s.admin = s.token(t, "bench-admin", auth.RoleAdmin)
	return s
}

func (s *server) token(t *testing.T, sub string, role auth.Role) string {
	t.Helper()
	tok, err := s.sign.Sign(sub, []auth.Role{role}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (s *server) config(t *testing.T) checkoutbench.Config {
	tokens := map[int]string{}
	for i := range 64 {
		tokens[i] = s.token(t, fmt.Sprintf("buyer-%d", i), auth.RoleCustomer)
	}
	c := checkoutbench.Config{
		BaseURL: s.url, AdminToken: s.admin, Tier: "test",
		CustomerToken: func(i int) string { return tokens[i] },
		ReadStock:     checkoutbench.ServiceStock(s.svc),
	}
	if testing.Verbose() {
		c.Progress = os.Stderr
	}
	return c
}

func run(t *testing.T, c checkoutbench.Config) checkoutbench.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	rs, err := checkoutbench.Run(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 {
		t.Fatalf("%d results", len(rs))
	}
	if testing.Verbose() {
		checkoutbench.PrintTable(os.Stderr, rs)
		checkoutbench.PrintResultLines(os.Stderr, rs)
	}
	return rs[0]
}

func TestCheckoutWorkload(t *testing.T) {
	s := newServer(t)
	c := s.config(t)
	c.Concurrency, c.Checkouts, c.Products = 4, 40, 12
	r := run(t, c)
	if !r.OK || r.Workload != checkoutbench.Checkout || r.Tier != "test" {
		t.Fatalf("not ok: %+v", r)
	}
	if r.Placed != 40 || r.Confirmed != 40 || r.Cancelled != 0 || r.Errors != 0 || !r.StockChecked {
		t.Fatalf("result %+v", r)
	}
	if r.CheckoutsPerS <= 0 || r.P50Ms <= 0 || r.P99Ms < r.P50Ms || r.JourneyP99Ms < r.P99Ms || r.Lines < 40 || r.Lines > 200 {
		t.Fatalf("figures %+v", r)
	}
}

func TestCheckoutWorkloadTimed(t *testing.T) {
	s := newServer(t)
	c := s.config(t)
	c.Concurrency, c.Duration, c.Products, c.MinLines, c.MaxLines = 4, 1500*time.Millisecond, 20, 2, 3
	r := run(t, c)
	if !r.OK || r.Placed == 0 || r.Confirmed != r.Placed || r.DurationS < 1.5 || r.Concurrency != 4 {
		t.Fatalf("result %+v", r)
	}
}

func TestFlashSale(t *testing.T) {
	s := newServer(t)
	c := s.config(t)
	c.FlashSale, c.Buyers, c.FlashStock = true, 30, 10
	r := run(t, c)
	if !r.OK || r.Workload != checkoutbench.FlashSale {
		t.Fatalf("not ok: %+v", r)
	}
	if r.Placed != 30 || r.Confirmed != 10 || r.Cancelled != 20 || r.CancelCodes["out_of_stock"] != 20 || r.Concurrency != 30 || !r.StockChecked {
		t.Fatalf("result %+v", r)
	}
}

// A stock reader that misreports what was sold makes the run fail its checks.
func TestInconsistentStockFails(t *testing.T) {
	s := newServer(t)
	c := s.config(t)
	c.FlashSale, c.Buyers, c.FlashStock = true, 12, 5
	read := c.ReadStock
	c.ReadStock = func(ctx context.Context, sku string) (checkoutbench.Stock, error) {
		st, err := read(ctx, sku)
		st.Committed++ // one unit more committed than confirmed orders hold
		return st, err
	}
	r := run(t, c)
	if r.OK || !strings.Contains(r.Error, "committed") {
		t.Fatalf("an oversold SKU passed: %+v", r)
	}
}

// A server that is not there: every journey fails, the run reports it.
func TestUnreachableServer(t *testing.T) {
	_, err := checkoutbench.Run(context.Background(), checkoutbench.Config{
		BaseURL: "http://127.0.0.1:1", AdminToken: "x", CustomerToken: func(int) string { return "y" }, Checkouts: 1,
	})
	if err == nil || !strings.Contains(err.Error(), "seeding") {
		t.Fatalf("err %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	base := checkoutbench.Config{BaseURL: "http://x", AdminToken: "a", CustomerToken: func(int) string { return "c" }}
	if err := base.WithDefaults().Validate(); err != nil {
		t.Fatal(err)
	}
	bad := base
	bad.MinLines, bad.MaxLines = 3, 2
	if err := bad.WithDefaults().Validate(); err == nil {
		t.Fatal("lines 3..2 accepted")
	}
	bad = base
	bad.Products, bad.MaxLines = 2, 5
	if err := bad.WithDefaults().Validate(); err == nil {
		t.Fatal("5 lines from 2 products accepted")
	}
	d := checkoutbench.Config{FlashSale: true}.WithDefaults()
	if d.Buyers != 1000 || d.FlashStock != 100 || d.Concurrency != 1000 || d.Duration != 20*time.Second {
		t.Fatalf("flash defaults %+v", d)
	}
	if d := base.WithDefaults(); d.Concurrency != 32 || d.Products != 200 || d.MinLines != 1 || d.MaxLines != 5 {
		t.Fatalf("defaults %+v", d)
	}
}
