package commands_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orderengine/orderengine/checkout/request"
	"github.com/orderengine/orderengine/commands"
	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/envelope"
	"github.com/orderengine/orderengine/eventregistry"
	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/eventstore/sqlite"
)

type testClock struct{ ns atomic.Int64 }

func (c *testClock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *testClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

type env struct {
	ctx   context.Context
	store eventstore.Store
	clock *testClock
	svc   *commands.Service
	rt    *commands.Runtime
}

var (
	admin = commands.Meta{Actor: "admin"}
	alice = commands.Meta{Actor: "alice", Customer: "alice"}
	bob   = commands.Meta{Actor: "bob", Customer: "bob"}
	home  = domain.Address{Name: "Alice", Line1: "Hauptstr. 1", City: "Berlin", PostalCode: "10115", Country: "DE"}
)

func newEnv(t *testing.T) *env {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "events.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	e := &env{store: s, clock: &testClock{}}
	e.clock.ns.Store(time.Date(2026, 2, 1, 10, 0, 0, 0, time.UTC).UnixNano())
	e.rt, e.svc = e.service(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	e.ctx = ctx
	return e
}

// service builds another Service on the same clock over store (a faulty wrapper, say).
func (e *env) service(t *testing.T, store commands.EventStore) (*commands.Runtime, *commands.Service) {
	t.Helper()
	rt := commands.NewRuntime(store, eventregistry.New(), commands.RuntimeOptions{Now: e.clock.Now})
	svc, err := commands.NewService(rt, commands.ServiceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return rt, svc
}

func eur(minor int64) domain.Money { return domain.MustMoney(minor, "EUR") }

func (e *env) product(t *testing.T, id, sku string, price int64, variants ...domain.Variant) domain.Product {
	t.Helper()
	r, err := e.svc.CreateProduct(e.ctx, domain.CreateProduct{
		ProductID: id, SKU: sku, ProductDetails: domain.ProductDetails{Name: "Product " + id},
		Price: eur(price), Variants: variants,
	}, admin)
	if err != nil {
		t.Fatalf("create product %s: %v", id, err)
	}
	return r.State
}

func (e *env) cart(t *testing.T, meta commands.Meta) string {
	t.Helper()
	r, err := e.svc.CreateCart(e.ctx, domain.CreateCart{Currency: "EUR"}, meta)
	if err != nil {
		t.Fatalf("create cart: %v", err)
	}
	return r.State.ID
}

// types lists the event types of a stream.
func (e *env) types(t *testing.T, stream string) []string {
	t.Helper()
	recs, err := e.store.ReadStream(e.ctx, stream, eventstore.Forward, 0, 1000)
	if errors.Is(err, eventstore.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.Type
	}
	return out
}

func count(types []string, typ string) int {
	n := 0
	for _, x := range types {
		if x == typ {
			n++
		}
	}
	return n
}

func TestCartPricesComeFromTheCatalog(t *testing.T) {
	e := newEnv(t)
	e.product(t, "p-tee", "TEE", 1500,
		domain.Variant{SKU: "TEE-RED-M", Attributes: map[string]string{"colour": "red"}, Price: eur(1999)},
		domain.Variant{SKU: "TEE-BLU-M", Attributes: map[string]string{"colour": "blue"}, Price: eur(2199)})
	cartID := e.cart(t, alice)

	r, err := e.svc.AddCartItem(e.ctx, cartID, "TEE-RED-M", 2, alice)
	if err != nil {
		t.Fatal(err)
	}
	l, _ := r.State.Line("TEE-RED-M")
	if l.UnitPrice != eur(1999) || l.ProductID != "p-tee" || l.Name != "Product p-tee" || l.Quantity != 2 {
		t.Fatalf("line %+v", l)
	}
	if _, err := e.svc.ChangePrice(e.ctx, domain.ChangePrice{ProductID: "p-tee", SKU: "TEE-RED-M", Price: eur(1799)}, admin); err != nil {
		t.Fatal(err)
	}
	r, err = e.svc.AddCartItem(e.ctx, cartID, "TEE-RED-M", 1, alice)
	if err != nil {
		t.Fatal(err)
	}
	if l, _ := r.State.Line("TEE-RED-M"); l.UnitPrice != eur(1799) || l.Quantity != 3 {
		t.Fatalf("after a price change: %+v", l)
	}
	if _, err := e.svc.AddCartItem(e.ctx, cartID, "NO-SUCH", 1, alice); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("unknown SKU: %v", err)
	}
	if _, err := e.svc.ArchiveProduct(e.ctx, domain.ArchiveProduct{ProductID: "p-tee", Reason: "end of season"}, admin); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.AddCartItem(e.ctx, cartID, "TEE-BLU-M", 1, alice); !errors.Is(err, domain.ErrValidation) {
		t.Fatalf("archived product: %v", err)
	}
	if _, err := e.svc.ChangePrice(e.ctx, domain.ChangePrice{ProductID: "p-tee", SKU: "TEE-RED-M", Price: eur(1)}, alice); !errors.Is(err, commands.ErrForbidden) {
		t.Fatalf("customer changing a price: %v", err)
	}
}

func TestSKUUniqueUnderConcurrentCreates(t *testing.T) {
	e := newEnv(t)
	const n = 20
	var wg sync.WaitGroup
	var wins, taken atomic.Int32
	var winner atomic.Value
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r, err := e.svc.CreateProduct(e.ctx, domain.CreateProduct{
				SKU: "UNIQ-1", ProductDetails: domain.ProductDetails{Name: fmt.Sprint("contender ", i)}, Price: eur(100),
			}, commands.Meta{Actor: "admin", IdempotencyKey: fmt.Sprint("create-", i)})
			switch {
			case err == nil:
				wins.Add(1)
				winner.Store(r.State.ID)
			case errors.Is(err, domain.ErrAlreadyExists):
				taken.Add(1)
			default:
				t.Errorf("create %d: %v", i, err)
			}
		}(i)
	}
	wg.Wait()
	if wins.Load() != 1 || taken.Load() != n-1 {
		t.Fatalf("%d creates won and %d were refused; want 1 and %d", wins.Load(), taken.Load(), n-1)
	}
	p, err := e.svc.ProductBySKU(e.ctx, "UNIQ-1")
	if err != nil || p.State.ID != winner.Load() {
		t.Fatalf("ProductBySKU: %v %v (winner %v)", p.State.ID, err, winner.Load())
	}
	if got := count(e.types(t, "sku-UNIQ-1"), "catalog.sku_claimed"); got != 1 {
		t.Fatalf("%d claims", got)
	}
}

func TestCreateProductRetries(t *testing.T) {
	e := newEnv(t)
	cmd := domain.CreateProduct{SKU: "MUG-1", ProductDetails: domain.ProductDetails{Name: "Mug"}, Price: eur(900),
		Variants: []domain.Variant{{SKU: "MUG-1-XL", Price: eur(1100)}}}
	meta := commands.Meta{Actor: "admin", IdempotencyKey: "k-mug"}
	first, err := e.svc.CreateProduct(e.ctx, cmd, meta)
	if err != nil {
		t.Fatal(err)
	}
	again, err := e.svc.CreateProduct(e.ctx, cmd, meta)
	if err != nil || !again.Replayed || again.State.ID != first.State.ID {
		t.Fatalf("retry with the same key: %+v %v", again, err)
	}
	// same product id without a key: the product exists, its claims are untouched
	cmd.ProductID = first.State.ID
	if _, err := e.svc.CreateProduct(e.ctx, cmd, admin); !errors.Is(err, domain.ErrAlreadyExists) {
		t.Fatalf("same id again: %v", err)
	}
	for _, sku := range []string{"MUG-1", "MUG-1-XL"} {
		if p, err := e.svc.ProductBySKU(e.ctx, sku); err != nil || p.State.ID != first.State.ID {
			t.Fatalf("%s after retries: %v", sku, err)
		}
	}
}

func TestSKUClaimsAreReleasedWhenCreationFails(t *testing.T) {
	e := newEnv(t)
	e.product(t, "p-z", "ZZZ-1", 100)
	// claims AAA-1 first (sorted), then fails on ZZZ-1 and must give AAA-1 back
	_, err := e.svc.CreateProduct(e.ctx, domain.CreateProduct{ProductID: "p-b", SKU: "AAA-1", ProductDetails: domain.ProductDetails{Name: "B"},
		Price: eur(100), Variants: []domain.Variant{{SKU: "ZZZ-1", Price: eur(100)}}}, admin)
	if !errors.Is(err, domain.ErrAlreadyExists) || !strings.Contains(err.Error(), "p-z") {
		t.Fatalf("taken SKU: %v", err)
	}
	if _, err := e.svc.ProductBySKU(e.ctx, "AAA-1"); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("AAA-1 still resolves: %v", err)
	}
	e.product(t, "p-c", "AAA-1", 100)

	// invalid products claim nothing
	if _, err := e.svc.CreateProduct(e.ctx, domain.CreateProduct{ProductID: "p-d", SKU: "BBB-1", Price: eur(100)}, admin); !errors.Is(err, domain.ErrValidation) {
		t.Fatalf("nameless product: %v", err)
	}
	if got := e.types(t, "sku-BBB-1"); got != nil {
		t.Fatalf("an invalid product claimed its SKU: %v", got)
	}

	// a variant whose SKU is taken is not added and leaves no claim
	if _, err := e.svc.AddVariant(e.ctx, domain.AddVariant{ProductID: "p-c", Variant: domain.Variant{SKU: "ZZZ-1", Price: eur(1)}}, admin); !errors.Is(err, domain.ErrAlreadyExists) {
		t.Fatalf("variant with a taken SKU: %v", err)
	}
	if _, err := e.svc.AddVariant(e.ctx, domain.AddVariant{ProductID: "p-c", Variant: domain.Variant{SKU: "AAA-1-RED", Price: eur(1)}}, admin); err != nil {
		t.Fatal(err)
	}
	if p, err := e.svc.ProductBySKU(e.ctx, "AAA-1-RED"); err != nil || p.State.ID != "p-c" {
		t.Fatalf("new variant: %v", err)
	}
}

func TestLeftBehindSKUClaimIsTakenOver(t *testing.T) {
	e := newEnv(t)
	// a request that claimed the SKU and crashed before creating its product
	ev, err := envelope.Encode(e.rt.Registry(), uuid.New(), commands.SKUClaimed{SKU: "GHOST-1", ProductID: "p-ghost", At: e.clock.Now()}, envelope.Metadata{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Append(e.ctx, "sku-GHOST-1", eventstore.NoStream, ev); err != nil {
		t.Fatal(err)
	}
	create := domain.CreateProduct{ProductID: "p-real", SKU: "GHOST-1", ProductDetails: domain.ProductDetails{Name: "Real"}, Price: eur(100)}
	if _, err := e.svc.CreateProduct(e.ctx, create, admin); !errors.Is(err, domain.ErrAlreadyExists) {
		t.Fatalf("within the grace period: %v", err)
	}
	if _, err := e.svc.ProductBySKU(e.ctx, "GHOST-1"); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("a claim without product resolves: %v", err)
	}
	e.clock.Advance(6 * time.Minute)
	if _, err := e.svc.CreateProduct(e.ctx, create, admin); err != nil {
		t.Fatalf("after the grace period: %v", err)
	}
	if p, err := e.svc.ProductBySKU(e.ctx, "GHOST-1"); err != nil || p.State.ID != "p-real" {
		t.Fatalf("taken over: %v", err)
	}
}

func TestInventoryNeedsCatalogSKU(t *testing.T) {
	e := newEnv(t)
	e.product(t, "p-cap", "CAP-1", 1000)
	if _, err := e.svc.ReceiveStock(e.ctx, domain.ReceiveStock{SKU: "NOPE-1", Warehouse: "main", Quantity: 5}, admin); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("unknown SKU: %v", err)
	}
	r, err := e.svc.ReceiveStock(e.ctx, domain.ReceiveStock{SKU: "CAP-1", Warehouse: "main", Quantity: 5}, admin)
	if err != nil || r.State.Available() != 5 {
		t.Fatalf("receive: %v", err)
	}
	if _, err := e.svc.AdjustStock(e.ctx, domain.AdjustStock{SKU: "CAP-1", Warehouse: "main", Delta: -6, Reason: "count"}, admin); !errors.Is(err, domain.ErrOutOfStock) {
		t.Fatalf("adjust below zero: %v", err)
	}
	if _, err := e.svc.AdjustStock(e.ctx, domain.AdjustStock{SKU: "CAP-1", Warehouse: "main", Delta: -2, Reason: "damaged"}, admin); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.ReceiveStock(e.ctx, domain.ReceiveStock{SKU: "CAP-1", Warehouse: "main", Quantity: 5}, alice); !errors.Is(err, commands.ErrForbidden) {
		t.Fatalf("customer receiving stock: %v", err)
	}
	if inv, err := e.svc.Inventory(e.ctx, "CAP-1"); err != nil || inv.State.Available() != 3 {
		t.Fatalf("inventory: %+v %v", inv.State, err)
	}
}

func TestCustomersReachOnlyTheirOwnCartsAndOrders(t *testing.T) {
	e := newEnv(t)
	e.product(t, "p-tee", "TEE-1", 2000)
	if _, err := e.svc.CreatePromotion(e.ctx, domain.CreatePromotion{Coupon: domain.Coupon{Code: "TENOFF", Kind: domain.CouponPercent, PercentOff: 1000}}, admin); err != nil {
		t.Fatal(err)
	}
	cartID := e.cart(t, alice)
	if _, err := e.svc.AddCartItem(e.ctx, cartID, "TEE-1", 1, alice); err != nil {
		t.Fatal(err)
	}
	v := uint64(0)
	bobIfMatch := bob
	bobIfMatch.IfMatch = &v
	for name, call := range map[string]func() error{
		"read":        func() error { _, err := e.svc.Cart(e.ctx, cartID, bob); return err },
		"add item":    func() error { _, err := e.svc.AddCartItem(e.ctx, cartID, "TEE-1", 1, bob); return err },
		"change qty":  func() error { _, err := e.svc.ChangeCartItemQuantity(e.ctx, cartID, "TEE-1", 5, bob); return err },
		"remove item": func() error { _, err := e.svc.RemoveCartItem(e.ctx, cartID, "TEE-1", bob); return err },
		"coupon":      func() error { _, err := e.svc.ApplyCoupon(e.ctx, cartID, "TENOFF", bob); return err },
		"address":     func() error { _, err := e.svc.SetShippingAddress(e.ctx, cartID, home, bob); return err },
		"if-match":    func() error { _, err := e.svc.RemoveCartItem(e.ctx, cartID, "TEE-1", bobIfMatch); return err },
		"place order": func() error {
			_, err := e.svc.PlaceOrder(e.ctx, commands.PlaceOrderInput{CartID: cartID, ShippingAddress: &home, PaymentToken: "tok_visa"}, bob)
			return err
		},
		"recreate": func() error {
			_, err := e.svc.CreateCart(e.ctx, domain.CreateCart{CartID: cartID, Currency: "EUR"}, bob)
			return err
		},
		"malformed id": func() error { _, err := e.svc.Cart(e.ctx, "no such/cart", bob); return err },
	} {
		if err := call(); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("bob %s alice's cart: %v, want not found", name, err)
		}
	}
	if _, err := e.svc.CreateCart(e.ctx, domain.CreateCart{CustomerID: "alice", Currency: "EUR"}, bob); !errors.Is(err, domain.ErrValidation) {
		t.Errorf("bob creating a cart for alice: %v", err)
	}
	if c, err := e.svc.Cart(e.ctx, cartID, alice); err != nil || len(c.State.Lines) != 1 || c.State.Lines[0].Quantity != 1 {
		t.Fatalf("alice's cart after bob's attempts: %+v %v", c.State, err)
	}
	o, err := e.svc.PlaceOrder(e.ctx, commands.PlaceOrderInput{CartID: cartID, ShippingAddress: &home, PaymentToken: "tok_visa"}, alice)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Order(e.ctx, o.State.ID, bob); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("bob reading alice's order: %v", err)
	}
	for _, m := range []commands.Meta{alice, admin} {
		if got, err := e.svc.Order(e.ctx, o.State.ID, m); err != nil || got.State.CustomerID != "alice" {
			t.Fatalf("%s reading alice's order: %v", m.Actor, err)
		}
	}
	if _, err := e.svc.Order(e.ctx, uuid.NewString(), alice); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("unknown order: %v", err)
	}
}

func TestCouponTermsComeFromThePromotion(t *testing.T) {
	e := newEnv(t)
	e.product(t, "p-tee", "TEE-1", 2000)
	terms := domain.Coupon{Code: "save10", Kind: domain.CouponPercent, PercentOff: 1000, MinSubtotal: eur(1000)}
	if _, err := e.svc.CreatePromotion(e.ctx, domain.CreatePromotion{Coupon: terms, UsageLimit: 100}, admin); err != nil {
		t.Fatal(err)
	}
	cartID := e.cart(t, alice)
	if _, err := e.svc.AddCartItem(e.ctx, cartID, "TEE-1", 2, alice); err != nil {
		t.Fatal(err)
	}
	r, err := e.svc.ApplyCoupon(e.ctx, cartID, " save10 ", alice)
	if err != nil {
		t.Fatal(err)
	}
	want := terms
	want.Code = "SAVE10"
	if r.State.Coupon == nil || *r.State.Coupon != want {
		t.Fatalf("coupon on the cart %+v, want %+v", r.State.Coupon, want)
	}
	if r.State.Totals.Discount != eur(400) {
		t.Fatalf("discount %s, want 4.00 EUR", r.State.Totals.Discount)
	}
	if _, err := e.svc.ApplyCoupon(e.ctx, cartID, "NOSUCH", alice); !errors.Is(err, domain.ErrCouponNotApplicable) {
		t.Fatalf("unknown code: %v", err)
	}
	if _, err := e.svc.ApplyCoupon(e.ctx, cartID, "bad code!", alice); !errors.Is(err, domain.ErrValidation) {
		t.Fatalf("malformed code: %v", err)
	}

	// a used-up code is refused at once
	if _, err := e.svc.CreatePromotion(e.ctx, domain.CreatePromotion{Coupon: domain.Coupon{Code: "ONCE", Kind: domain.CouponFixed, AmountOff: eur(500)}, UsageLimit: 1}, admin); err != nil {
		t.Fatal(err)
	}
	if _, err := commands.Execute(e.ctx, e.rt, domain.NewPromotionDecider(), domain.RedeemCoupon{Code: "ONCE", OrderID: "o-other", Subtotal: eur(5000)}, admin); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.ApplyCoupon(e.ctx, cartID, "once", alice); !errors.Is(err, domain.ErrCouponExhausted) {
		t.Fatalf("exhausted code: %v", err)
	}
	if _, err := e.svc.DeactivatePromotion(e.ctx, "save10", admin); err != nil {
		t.Fatal(err)
	}
	other := e.cart(t, alice)
	if _, err := e.svc.ApplyCoupon(e.ctx, other, "SAVE10", alice); !errors.Is(err, domain.ErrCouponNotApplicable) {
		t.Fatalf("deactivated code: %v", err)
	}

	// the applied coupon travels into the order and the checkout request
	o, err := e.svc.PlaceOrder(e.ctx, commands.PlaceOrderInput{CartID: cartID, ShippingAddress: &home, PaymentToken: "tok_visa"}, alice)
	if err != nil {
		t.Fatal(err)
	}
	if o.State.CouponCode != "SAVE10" || o.State.Totals.Discount != eur(400) {
		t.Fatalf("order coupon %q, discount %s", o.State.CouponCode, o.State.Totals.Discount)
	}
	cr, err := request.Read(e.ctx, e.store, o.State.ID)
	if err != nil || cr.CouponCode != "SAVE10" || cr.PaymentToken != "tok_visa" || cr.CartID != cartID || cr.CustomerID != "alice" {
		t.Fatalf("checkout request %+v %v", cr, err)
	}
}

// readyCart is alice's cart with a line, ready for checkout but for the address.
func (e *env) readyCart(t *testing.T) string {
	t.Helper()
	if _, err := e.svc.ProductBySKU(e.ctx, "TEE-1"); err != nil {
		e.product(t, "p-tee", "TEE-1", 2000)
	}
	cartID := e.cart(t, alice)
	if _, err := e.svc.AddCartItem(e.ctx, cartID, "TEE-1", 3, alice); err != nil {
		t.Fatal(err)
	}
	return cartID
}

func (e *env) assertOnce(t *testing.T, cartID string) {
	t.Helper()
	orderID := commands.OrderIDForCart(cartID)
	if got := e.types(t, "order-"+orderID); len(got) != 1 || got[0] != "order.placed" {
		t.Errorf("order stream %v, want one order.placed", got)
	}
	if got := count(e.types(t, "cart-"+cartID), "cart.checked_out"); got != 1 {
		t.Errorf("cart checked out %d times", got)
	}
	if got := e.types(t, "checkoutrequest-"+orderID); len(got) != 1 {
		t.Errorf("checkout request stream %v", got)
	}
	c, err := e.svc.Cart(e.ctx, cartID, alice)
	if err != nil || c.State.Status != domain.CartStatusCheckedOut || c.State.OrderID != orderID {
		t.Errorf("cart %+v %v", c.State, err)
	}
}

func TestPlaceOrderIsIdempotent(t *testing.T) {
	e := newEnv(t)
	cartID := e.readyCart(t)
	in := commands.PlaceOrderInput{CartID: cartID, ShippingAddress: &home, PaymentToken: "tok_visa"}
	stale := uint64(0)
	staleMeta := alice
	staleMeta.IfMatch = &stale
	if _, err := e.svc.PlaceOrder(e.ctx, in, staleMeta); !errors.Is(err, commands.ErrPreconditionFailed) {
		t.Fatalf("stale If-Match: %v", err)
	}
	cur, _ := e.svc.Cart(e.ctx, cartID, alice)
	current := alice
	current.IfMatch = &cur.Version
	first, err := e.svc.PlaceOrder(e.ctx, in, current)
	if err != nil {
		t.Fatal(err)
	}
	if first.Replayed || first.State.ID != commands.OrderIDForCart(cartID) || first.State.Status != domain.OrderStatusPending ||
		len(first.Events) != 1 || first.State.Totals.Subtotal != eur(6000) || first.State.BillingAddress != home {
		t.Fatalf("first: %+v", first)
	}
	// the committed position covers the cart checkout, which comes after order.placed
	cartLoaded, _ := e.svc.Cart(e.ctx, cartID, alice)
	if first.Position < cartLoaded.Position {
		t.Fatalf("position %d is before the cart checkout at %d", first.Position, cartLoaded.Position)
	}
	in.PaymentToken = "tok_decline" // a retry cannot swap the token
	again, err := e.svc.PlaceOrder(e.ctx, in, alice)
	if err != nil || !again.Replayed || again.State.ID != first.State.ID || again.Version != first.Version {
		t.Fatalf("again: %+v %v", again, err)
	}
	if cr, _ := request.Read(e.ctx, e.store, first.State.ID); cr.PaymentToken != "tok_visa" {
		t.Fatalf("token %q", cr.PaymentToken)
	}
	in.OrderID = "some-other-id"
	if _, err := e.svc.PlaceOrder(e.ctx, in, alice); !errors.Is(err, domain.ErrValidation) {
		t.Fatalf("foreign order id: %v", err)
	}
	e.assertOnce(t, cartID)
}

func TestPlaceOrderConcurrently(t *testing.T) {
	e := newEnv(t)
	cartID := e.readyCart(t)
	const n = 10
	var wg sync.WaitGroup
	var fresh atomic.Int32
	ids := make(chan string, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			meta := alice
			meta.IdempotencyKey = fmt.Sprint("attempt-", i)
			r, err := e.svc.PlaceOrder(e.ctx, commands.PlaceOrderInput{CartID: cartID, ShippingAddress: &home, PaymentToken: "tok_visa"}, meta)
			if err != nil {
				t.Errorf("attempt %d: %v", i, err)
				return
			}
			if !r.Replayed {
				fresh.Add(1)
			}
			ids <- r.State.ID
		}(i)
	}
	wg.Wait()
	close(ids)
	for id := range ids {
		if id != commands.OrderIDForCart(cartID) {
			t.Fatalf("order %s", id)
		}
	}
	if fresh.Load() != 1 {
		t.Fatalf("%d calls report placing the order", fresh.Load())
	}
	e.assertOnce(t, cartID)
}

// faultyStore fails appends matching fail once each, as a crash between two appends would.
type faultyStore struct {
	commands.EventStore
	fail func(stream string, events []eventstore.EventData) bool
}

var errCrash = errors.New("simulated crash")

func (f faultyStore) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	if f.fail(stream, events) {
		return eventstore.AppendResult{}, errCrash
	}
	return f.EventStore.Append(ctx, stream, expected, events...)
}

func TestPlaceOrderCompletesAfterACrash(t *testing.T) {
	for _, crashAt := range []string{"cart.checked_out", "order.placed"} {
		t.Run("before "+crashAt, func(t *testing.T) {
			e := newEnv(t)
			cartID := e.readyCart(t)
			_, crashing := e.service(t, faultyStore{e.store, func(_ string, evs []eventstore.EventData) bool { return evs[0].Type == crashAt }})
			in := commands.PlaceOrderInput{CartID: cartID, ShippingAddress: &home, PaymentToken: "tok_visa"}
			if _, err := crashing.PlaceOrder(e.ctx, in, alice); !errors.Is(err, errCrash) {
				t.Fatalf("crashing call: %v", err)
			}
			orderID := commands.OrderIDForCart(cartID)
			if cr, err := request.Read(e.ctx, e.store, orderID); err != nil || cr.PaymentToken != "tok_visa" {
				t.Fatalf("the token is not recorded before order.placed: %+v %v", cr, err)
			}
			placed := crashAt == "cart.checked_out"
			if got := e.types(t, "order-"+orderID); (len(got) == 1) != placed {
				t.Fatalf("order stream after the crash: %v", got)
			}
			if c, _ := e.svc.Cart(e.ctx, cartID, alice); c.State.Status != domain.CartStatusOpen {
				t.Fatalf("cart %s after the crash", c.State.Status)
			}
			r, err := e.svc.PlaceOrder(e.ctx, in, alice)
			if err != nil || r.State.ID != orderID || r.Replayed != placed {
				t.Fatalf("retry: %+v %v", r, err)
			}
			e.assertOnce(t, cartID)
		})
	}
}

func TestPlaceOrderValidatesBeforeWriting(t *testing.T) {
	e := newEnv(t)
	cartID := e.readyCart(t)
	orderID := commands.OrderIDForCart(cartID)
	for _, c := range []struct {
		name string
		in   commands.PlaceOrderInput
	}{
		{"bad billing", commands.PlaceOrderInput{CartID: cartID, ShippingAddress: &home, PaymentToken: "tok_visa", BillingAddress: &domain.Address{Name: "x"}}},
		{"no address", commands.PlaceOrderInput{CartID: cartID, PaymentToken: "tok_visa"}},
		{"bad address", commands.PlaceOrderInput{CartID: cartID, ShippingAddress: &domain.Address{Name: "x", Country: "DE"}, PaymentToken: "tok_visa"}},
		{"no token", commands.PlaceOrderInput{CartID: cartID, ShippingAddress: &home}},
		{"token with spaces", commands.PlaceOrderInput{CartID: cartID, ShippingAddress: &home, PaymentToken: "tok visa"}},
	} {
		if _, err := e.svc.PlaceOrder(e.ctx, c.in, alice); !errors.Is(err, domain.ErrValidation) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	if got := e.types(t, "cart-"+cartID); count(got, "cart.shipping_address_set") != 0 {
		t.Fatalf("a rejected checkout changed the cart: %v", got)
	}
	if got := e.types(t, "checkoutrequest-"+orderID); got != nil {
		t.Fatalf("a rejected checkout left %v", got)
	}
	empty := e.cart(t, alice)
	if _, err := e.svc.PlaceOrder(e.ctx, commands.PlaceOrderInput{CartID: empty, ShippingAddress: &home, PaymentToken: "tok_visa"}, alice); !errors.Is(err, domain.ErrValidation) {
		t.Fatalf("empty cart: %v", err)
	}
}

func TestCreateCartRetryWithKey(t *testing.T) {
	e := newEnv(t)
	meta := alice
	meta.IdempotencyKey = "cart-key"
	a, err := e.svc.CreateCart(e.ctx, domain.CreateCart{Currency: "EUR"}, meta)
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.svc.CreateCart(e.ctx, domain.CreateCart{Currency: "EUR"}, meta)
	if err != nil || !b.Replayed || b.State.ID != a.State.ID {
		t.Fatalf("retry: %+v %v", b, err)
	}
	// bob's identical key names another cart
	bm := bob
	bm.IdempotencyKey = "cart-key"
	c, err := e.svc.CreateCart(e.ctx, domain.CreateCart{Currency: "EUR"}, bm)
	if err != nil || c.State.ID == a.State.ID || c.State.CustomerID != "bob" {
		t.Fatalf("bob: %+v %v", c, err)
	}
}

func TestNewServiceNeedsARegistryThatKnowsItsEvents(t *testing.T) {
	store, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "events.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if _, err := commands.NewService(commands.NewRuntime(store, domain.NewDomainRegistry(), commands.RuntimeOptions{}), commands.ServiceOptions{}); err == nil || !strings.Contains(err.Error(), "catalog.sku_claimed") {
		t.Fatalf("domain-only registry accepted: %v", err)
	}
}
