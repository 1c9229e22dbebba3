package domain

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// run decides c against the folded state, checks that Fold and repeated Evolve agree,
// and returns the new state.
func run[S any, C Command](t *rapid.T, d Decider[S, C], s S, c C, now time.Time) (S, []Event, error) {
	events, err := d.Decide(s, c, now)
	if err != nil && len(events) > 0 {
		t.Fatalf("%T returned events and an error", c)
	}
	next := d.Fold(s, events)
	stepwise := s
	for _, e := range events {
		stepwise = d.Evolve(stepwise, e)
	}
	if !reflect.DeepEqual(next, stepwise) {
		t.Fatalf("Fold and Evolve disagree after %T", c)
	}
	return next, events, err
}

// expectedErr fails the test on an error that is not one of the allowed sentinels.
func expectedErr(t *rapid.T, err error, allowed ...error) {
	if err == nil {
		return
	}
	for _, a := range allowed {
		if errors.Is(err, a) {
			return
		}
	}
	t.Fatalf("unexpected error: %v", err)
}

func TestInventoryProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		d := NewInventoryDecider()
		const sku = "SKU-1"
		orders := rapid.SampledFrom([]string{"o1", "o2", "o3", "o4", "o5"})
		warehouses := rapid.SampledFrom([]string{"ams", "ber", "cdg"})
		qty := rapid.Int64Range(1, 8)
		var s Inventory
		now := t0
		var received, adjusted, committed, restocked int64 // model of on-hand stock
		for i, n := 0, rapid.IntRange(1, 80).Draw(t, "steps"); i < n; i++ {
			now = now.Add(time.Duration(rapid.IntRange(0, 600).Draw(t, "dt")) * time.Second)
			var c InventoryCommand
			switch rapid.IntRange(0, 6).Draw(t, "kind") {
			case 0:
				c = ReceiveStock{SKU: sku, Warehouse: warehouses.Draw(t, "w"), Quantity: qty.Draw(t, "q")}
			case 1:
				c = AdjustStock{SKU: sku, Warehouse: warehouses.Draw(t, "w"), Delta: rapid.Int64Range(-8, 8).Filter(func(v int64) bool { return v != 0 }).Draw(t, "delta"), Reason: "count"}
			case 2:
				c = ReserveStock{SKU: sku, OrderID: orders.Draw(t, "o"), Quantity: qty.Draw(t, "q"), ExpiresAt: now.Add(15 * time.Minute)}
			case 3:
				c = ReleaseReservation{SKU: sku, OrderID: orders.Draw(t, "o"), Reason: "cancelled"}
			case 4:
				c = CommitReservation{SKU: sku, OrderID: orders.Draw(t, "o")}
			case 5:
				c = ExpireReservation{SKU: sku, OrderID: orders.Draw(t, "o")}
			case 6:
				c = RestockReturn{SKU: sku, OrderID: orders.Draw(t, "o"), Quantity: qty.Draw(t, "q")}
			}
			before := s
			var events []Event
			var err error
			s, events, err = run(t, d, s, c, now)
			expectedErr(t, err, ErrOutOfStock, ErrIllegalTransition, ErrNotFound, ErrValidation)

			// an out-of-stock reserve is exactly one asking for more than is available
			if r, ok := c.(ReserveStock); ok && !before.holds(r.OrderID) {
				if (r.Quantity > before.Available()) != errors.Is(err, ErrOutOfStock) {
					t.Fatalf("reserve %d with %d available: %v", r.Quantity, before.Available(), err)
				}
			}
			// reserve/release/commit are idempotent per order
			switch c.(type) {
			case ReserveStock, ReleaseReservation, CommitReservation:
				if err == nil {
					if again, err2 := d.Decide(s, c, now); err2 != nil || len(again) != 0 {
						t.Fatalf("repeated %T: %s %v", c, dump(again), err2)
					}
				}
			}
			for _, e := range events {
				switch e := e.(type) {
				case InventoryReceived:
					received += e.Quantity
				case InventoryAdjusted:
					adjusted += e.Delta
				case InventoryCommitted:
					committed += e.Quantity
				case InventoryRestocked:
					restocked += e.Quantity
				}
			}
			checkInventory(t, s)
			if got, want := s.Totals().OnHand, received+adjusted-committed+restocked; got != want {
				t.Fatalf("on hand %d, want %d", got, want)
			}
		}
	})
}

func checkInventory(t *rapid.T, s Inventory) {
	reserved := map[string]int64{}
	for id, r := range s.Reservations {
		var sum int64
		for _, a := range r.Allocations {
			reserved[a.Warehouse] += a.Quantity
			sum += a.Quantity
		}
		if sum != r.Quantity || r.Quantity <= 0 {
			t.Fatalf("reservation %s allocations %v do not add to %d", id, r.Allocations, r.Quantity)
		}
		if _, settled := s.Settled[id]; settled {
			t.Fatalf("reservation %s both active and settled", id)
		}
	}
	for w, l := range s.Warehouses {
		if l.Reserved < 0 || l.Available() < 0 {
			t.Fatalf("warehouse %s: on hand %d, reserved %d", w, l.OnHand, l.Reserved)
		}
		if l.Reserved != reserved[w] {
			t.Fatalf("warehouse %s reserved %d, reservations hold %d", w, l.Reserved, reserved[w])
		}
	}
	if s.Available() < 0 {
		t.Fatalf("available %d", s.Available())
	}
}

func TestOrderProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		d := NewOrderDecider()
		cur := rapid.SampledFrom([]string{"EUR", "JPY", "KWD"}).Draw(t, "currency")
		var lines []Line
		for i, n := 0, rapid.IntRange(1, 5).Draw(t, "lines"); i < n; i++ {
			unit := MustMoney(rapid.Int64Range(0, 100_000).Draw(t, "unit"), cur)
			q := rapid.Int64Range(1, 20).Draw(t, "qty")
			sub, _ := unit.Mul(q)
			disc := Money{Amount: rapid.Int64Range(0, sub.Amount).Draw(t, "discount"), Currency: cur}
			rate := TaxRate{Rate: BasisPoints(rapid.Int64Range(0, 2700).Draw(t, "rate")), Inclusive: rapid.Bool().Draw(t, "incl")}
			a, err := priceLine(unit, q, disc, rate)
			if err != nil {
				t.Fatal(err)
			}
			lines = append(lines, Line{SKU: fmt.Sprintf("SKU-%d", i), ProductID: "p", Quantity: q, UnitPrice: unit, LineAmounts: a})
		}
		place := PlaceOrder{OrderID: "o1", CustomerID: "alice", Currency: cur, Lines: lines,
			Shipping: MustMoney(rapid.Int64Range(0, 1000).Draw(t, "ship"), cur), ShippingAddress: berlin, BillingAddress: berlin}
		s, _, err := run(t, d, Order{}, OrderCommand(place), t0)
		if err != nil {
			t.Fatal(err)
		}
		checkTotals(t, s.Currency, s.Lines, s.Totals)
		total := s.Totals.GrandTotal
		amount := rapid.Custom(func(t *rapid.T) Money {
			return Money{Amount: rapid.Int64Range(-1, total.Amount+1).Draw(t, "amount"), Currency: cur}
		})
		refunds := rapid.SampledFrom([]string{"r1", "r2", "r3", "r4"})
		for i, n := 0, rapid.IntRange(1, 40).Draw(t, "steps"); i < n; i++ {
			var c OrderCommand
			switch rapid.IntRange(0, 9).Draw(t, "kind") {
			case 0:
				a := total
				if rapid.Bool().Draw(t, "wrongAmount") {
					a = amount.Draw(t, "auth")
				}
				c = MarkOrderPaymentAuthorized{OrderID: "o1", PaymentID: "pay1", Amount: a}
			case 1:
				c = MarkOrderPaymentFailed{OrderID: "o1", Reason: "declined"}
			case 2:
				c = ConfirmOrder{OrderID: "o1"}
			case 3:
				c = MarkOrderPaymentCaptured{OrderID: "o1", Amount: amount.Draw(t, "capture")}
			case 4:
				c = MarkOrderPaymentVoided{OrderID: "o1"}
			case 5:
				c = ShipOrder{OrderID: "o1", Carrier: "DHL", TrackingNumber: "T1"}
			case 6:
				c = DeliverOrder{OrderID: "o1"}
			case 7:
				c = CancelOrder{OrderID: "o1", Reason: "customer request"}
			case 8, 9:
				c = RefundOrder{OrderID: "o1", RefundID: refunds.Draw(t, "refund"), Amount: amount.Draw(t, "refundAmount")}
			}
			before := s
			s, _, err = run(t, d, s, c, t0)
			expectedErr(t, err, ErrIllegalTransition, ErrValidation)
			if s.Status != before.Status && !CanTransition(before.Status, s.Status) {
				t.Fatalf("illegal transition %s → %s by %T", before.Status, s.Status, c)
			}
			if s.Refunded.Amount > s.Captured.Amount || s.Captured.Amount > s.Authorized.Amount || s.Refunded.Amount < 0 {
				t.Fatalf("refunded %v, captured %v, authorized %v", s.Refunded, s.Captured, s.Authorized)
			}
			if s.Status == OrderStatusPaid && s.PaymentStatus == PaymentStatusPending {
				t.Fatalf("paid without authorization")
			}
			if s.Totals != before.Totals || len(s.Lines) != len(before.Lines) {
				t.Fatalf("totals changed after placement")
			}
		}
	})
}

// checkTotals asserts totals = Σ lines exactly and each line's gross = net + tax.
func checkTotals(t *rapid.T, cur string, lines []Line, tot Totals) {
	var sub, disc, net, tax, gross int64
	for _, l := range lines {
		if err := l.Check(); err != nil {
			t.Fatalf("line %s: %v", l.SKU, err)
		}
		if l.Gross.Amount != l.Net.Amount+l.Tax.Amount || l.Tax.Amount < 0 || l.Discount.Amount > l.Subtotal.Amount {
			t.Fatalf("line %s: %+v", l.SKU, l.LineAmounts)
		}
		for _, m := range []Money{l.Subtotal, l.Discount, l.Net, l.Tax, l.Gross} {
			if m.Currency != cur {
				t.Fatalf("line %s has a %s amount in a %s cart", l.SKU, m.Currency, cur)
			}
		}
		sub, disc, net, tax, gross = sub+l.Subtotal.Amount, disc+l.Discount.Amount, net+l.Net.Amount, tax+l.Tax.Amount, gross+l.Gross.Amount
	}
	if tot.Subtotal.Amount != sub || tot.Discount.Amount != disc || tot.Net.Amount != net || tot.Tax.Amount != tax || tot.Gross.Amount != gross {
		t.Fatalf("totals %+v are not the sum of the lines", tot)
	}
	if tot.GrandTotal.Amount != tot.Gross.Amount+tot.Shipping.Amount || tot.Shipping.Amount < 0 {
		t.Fatalf("grand total %v ≠ gross %v + shipping %v", tot.GrandTotal, tot.Gross, tot.Shipping)
	}
}

func TestCartProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		pricing := DefaultPricing()
		d := NewCartDecider(pricing)
		cur := rapid.SampledFrom([]string{"EUR", "JPY", "KWD", "USD"}).Draw(t, "currency")
		s, _, err := run(t, d, Cart{}, CartCommand(CreateCart{CartID: "c1", CustomerID: "alice", Currency: cur}), t0)
		if err != nil {
			t.Fatal(err)
		}
		skus := rapid.SampledFrom([]string{"A", "B", "C", "D"})
		prices := map[string]Money{}
		for _, k := range []string{"A", "B", "C", "D"} {
			prices[k] = MustMoney(rapid.Int64Range(0, 50_000).Draw(t, "price-"+k), cur)
		}
		countries := rapid.SampledFrom([]string{"DE", "US", "JP", "CH", "SE", "CA"})
		for i, n := 0, rapid.IntRange(1, 40).Draw(t, "steps"); i < n; i++ {
			var c CartCommand
			switch rapid.IntRange(0, 6).Draw(t, "kind") {
			case 0, 1:
				k := skus.Draw(t, "sku")
				c = AddCartItem{CartID: "c1", SKU: k, Quantity: rapid.Int64Range(1, 30).Draw(t, "qty"), ProductID: "p-" + k, UnitPrice: prices[k]}
			case 2:
				c = ChangeCartItemQuantity{CartID: "c1", SKU: skus.Draw(t, "sku"), Quantity: rapid.Int64Range(0, 30).Draw(t, "qty")}
			case 3:
				c = RemoveCartItem{CartID: "c1", SKU: skus.Draw(t, "sku")}
			case 4:
				cp := Coupon{Code: fmt.Sprintf("PCT%d", i), Kind: CouponPercent, PercentOff: BasisPoints(rapid.Int64Range(1, 10000).Draw(t, "pct"))}
				if rapid.Bool().Draw(t, "fixed") {
					cp = Coupon{Code: fmt.Sprintf("FIX%d", i), Kind: CouponFixed, AmountOff: MustMoney(rapid.Int64Range(1, 100_000).Draw(t, "off"), cur)}
				}
				if rapid.Bool().Draw(t, "min") {
					cp.MinSubtotal = MustMoney(rapid.Int64Range(0, 100_000).Draw(t, "minSubtotal"), cur)
				}
				c = ApplyCoupon{CartID: "c1", Coupon: cp}
			case 5:
				a := berlin
				a.Country = countries.Draw(t, "country")
				c = SetShippingAddress{CartID: "c1", Address: a}
			case 6:
				code := "NONE"
				if s.Coupon != nil {
					code = s.Coupon.Code
				}
				c = RemoveCoupon{CartID: "c1", Code: code}
			}
			s, _, err = run(t, d, s, c, t0)
			expectedErr(t, err, ErrNotFound, ErrCouponNotApplicable)
			checkTotals(t, cur, s.Lines, s.Totals)
			// stored amounts are what pricing the current state gives: nothing is stale
			if again, err := pricing.priceCart(s, t0); err != nil || again != nil {
				t.Fatalf("cart amounts are stale after %T: %v", c, err)
			}
		}
		// checkout, then the order carries exactly the cart's totals
		if len(s.Lines) > 0 {
			if s.ShippingAddress == nil {
				s, _, _ = run(t, d, s, CartCommand(SetShippingAddress{CartID: "c1", Address: berlin}), t0)
			}
			s, _, err = run(t, d, s, CartCommand(CheckOutCart{CartID: "c1", OrderID: "o1"}), t0)
			if err != nil {
				t.Fatal(err)
			}
			evs, err := DecideOrder(Order{}, PlaceOrderFromCart("o1", s, berlin), t0)
			if err != nil {
				t.Fatal(err)
			}
			if o := FoldOrder(Order{}, evs); o.Totals != s.Totals {
				t.Fatalf("order totals %+v ≠ cart totals %+v", o.Totals, s.Totals)
			}
		}
	})
}

func TestPaymentProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		d := NewPaymentDecider()
		amount := MustMoney(rapid.Int64Range(1, 100_000).Draw(t, "amount"), "EUR")
		s, _, err := run(t, d, Payment{}, PaymentCommand(RequestAuthorization{PaymentID: "pay1", OrderID: "o1", Amount: amount, Method: "tok_visa"}), t0)
		if err != nil {
			t.Fatal(err)
		}
		some := rapid.Custom(func(t *rapid.T) Money { return eur(rapid.Int64Range(-1, amount.Amount+1).Draw(t, "m")) })
		legal := map[PaymentState][]PaymentState{
			PaymentStateRequested:         {PaymentStateAuthorized, PaymentStateDeclined, PaymentStateFailed},
			PaymentStateAuthorized:        {PaymentStateCaptured, PaymentStateVoided},
			PaymentStateCaptured:          {PaymentStatePartiallyRefunded, PaymentStateRefunded},
			PaymentStatePartiallyRefunded: {PaymentStateRefunded},
		}
		var refundedSum int64
		for i, n := 0, rapid.IntRange(1, 30).Draw(t, "steps"); i < n; i++ {
			var c PaymentCommand
			switch rapid.IntRange(0, 6).Draw(t, "kind") {
			case 0:
				c = RecordAuthorization{PaymentID: "pay1", GatewayRef: "g1", Amount: amount}
			case 1:
				c = RecordDecline{PaymentID: "pay1", Reason: "no"}
			case 2:
				c = RecordFailure{PaymentID: "pay1", Reason: "timeout"}
			case 3:
				c = CapturePayment{PaymentID: "pay1", Amount: some.Draw(t, "capture")}
			case 4:
				c = VoidPayment{PaymentID: "pay1"}
			case 5, 6:
				c = RefundPayment{PaymentID: "pay1", RefundID: fmt.Sprintf("r%d", rapid.IntRange(1, 4).Draw(t, "rid")), Amount: some.Draw(t, "refund")}
			}
			before := s
			var events []Event
			s, events, err = run(t, d, s, c, t0)
			expectedErr(t, err, ErrIllegalTransition, ErrValidation)
			for _, e := range events {
				if r, ok := e.(PaymentRefunded); ok {
					refundedSum += r.Amount.Amount
				}
			}
			if s.State != before.State {
				ok := false
				for _, to := range legal[before.State] {
					ok = ok || to == s.State
				}
				if !ok {
					t.Fatalf("illegal payment transition %s → %s", before.State, s.State)
				}
			}
			if refundedSum != s.Refunded.Amount || s.Refunded.Amount > s.Captured.Amount || s.Captured.Amount > s.Amount.Amount {
				t.Fatalf("refunded %d (events %d), captured %v, authorized %v", s.Refunded.Amount, refundedSum, s.Captured, s.Amount)
			}
		}
	})
}

func TestPromotionProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		d := NewPromotionDecider()
		limit := rapid.Int64Range(0, 5).Draw(t, "limit")
		s, _, err := run(t, d, Promotion{}, PromotionCommand(CreatePromotion{Coupon: Coupon{Code: "LIMITED", Kind: CouponPercent, PercentOff: 500}, UsageLimit: limit}), t0)
		if err != nil {
			t.Fatal(err)
		}
		orders := rapid.SampledFrom([]string{"o1", "o2", "o3", "o4", "o5", "o6", "o7", "o8"})
		model := map[string]bool{}
		for i, n := 0, rapid.IntRange(1, 60).Draw(t, "steps"); i < n; i++ {
			o := orders.Draw(t, "order")
			var c PromotionCommand = RedeemCoupon{Code: "LIMITED", OrderID: o, Subtotal: eur(1000)}
			if rapid.IntRange(0, 2).Draw(t, "kind") == 0 {
				c = ReleaseRedemption{Code: "LIMITED", OrderID: o}
			}
			before := s.Uses()
			s, _, err = run(t, d, s, c, t0)
			expectedErr(t, err, ErrCouponExhausted)
			switch c.(type) {
			case RedeemCoupon:
				if errors.Is(err, ErrCouponExhausted) != (!model[o] && limit > 0 && before >= limit) {
					t.Fatalf("redeem for %s at %d/%d uses: %v", o, before, limit, err)
				}
				if err == nil {
					model[o] = true
				}
			case ReleaseRedemption:
				delete(model, o)
			}
			if limit > 0 && s.Uses() > limit {
				t.Fatalf("%d uses exceed the limit %d", s.Uses(), limit)
			}
			if s.Uses() != int64(len(model)) {
				t.Fatalf("%d uses, model %d", s.Uses(), len(model))
			}
		}
	})
}

// TestInventorySettledBounded: over months of orders, the settled reservations an
// Inventory remembers are bounded by the recent ones, none is forgotten while a command
// could still depend on it, and a retried reserve (same order, same expiry) never reserves
// an order a second time, remembered or not.
func TestInventorySettledBounded(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		d := NewInventoryDecider()
		const sku = "SKU-1"
		type placed struct {
			expires   time.Time
			outcome   ReservationOutcome
			settledAt time.Time
		}
		orders := map[string]*placed{}
		var ids []string
		s := FoldInventory(Inventory{}, []Event{InventoryReceived{SKU: sku, Warehouse: "ams", Quantity: 1_000_000, At: t0}})
		now := t0
		for i, n := 0, rapid.IntRange(1, 300).Draw(t, "steps"); i < n; i++ {
			now = now.Add(time.Duration(rapid.Int64Range(0, int64(72*time.Hour)).Draw(t, "dt")))
			var c InventoryCommand
			switch k := rapid.IntRange(0, 5).Draw(t, "kind"); {
			case k == 0 || len(ids) == 0:
				id := fmt.Sprintf("o%d", len(ids))
				ids = append(ids, id)
				orders[id] = &placed{expires: now.Add(time.Duration(rapid.Int64Range(int64(time.Minute), int64(48*time.Hour)).Draw(t, "ttl")))}
				c = ReserveStock{SKU: sku, OrderID: id, Quantity: 1, ExpiresAt: orders[id].expires}
			default:
				id := rapid.SampledFrom(ids).Draw(t, "order")
				switch k {
				case 1:
					c = CommitReservation{SKU: sku, OrderID: id}
				case 2:
					c = ReleaseReservation{SKU: sku, OrderID: id}
				case 3:
					c = ExpireReservation{SKU: sku, OrderID: id}
				case 4:
					c = RestockReturn{SKU: sku, OrderID: id, Quantity: 1}
				case 5:
					// A retry of the order's reserve, as the checkout would send it.
					c = ReserveStock{SKU: sku, OrderID: id, Quantity: 1, ExpiresAt: orders[id].expires}
				}
			}
			before := s
			var events []Event
			var err error
			s, events, err = run(t, d, s, c, now)
			expectedErr(t, err, ErrOutOfStock, ErrIllegalTransition, ErrNotFound, ErrValidation)
			for _, e := range events {
				switch e := e.(type) {
				case InventoryReserved:
					if o := orders[e.OrderID]; o.outcome != "" || before.Reservations[e.OrderID].OrderID != "" {
						t.Fatalf("order %s reserved again after it was %s", e.OrderID, o.outcome)
					}
				case InventoryCommitted:
					orders[e.OrderID].outcome, orders[e.OrderID].settledAt = ReservationCommitted, e.At
				case InventoryReleased:
					orders[e.OrderID].outcome, orders[e.OrderID].settledAt = ReservationReleased, e.At
				case InventoryReservationExpired:
					orders[e.OrderID].outcome, orders[e.OrderID].settledAt = ReservationExpired, e.At
				}
			}
			// Nothing is forgotten early; what is remembered is bounded by recent orders.
			last := s.UpdatedAt
			for id, o := range orders {
				if o.outcome == "" {
					continue
				}
				keep := o.expires.Add(SettledGrace)
				if o.outcome == ReservationCommitted && o.settledAt.Add(SaleRetention).After(keep) {
					keep = o.settledAt.Add(SaleRetention)
				}
				_, remembered := s.Settled[id]
				if last.Before(keep) && !remembered {
					t.Fatalf("order %s (%s at %s, expiring %s) forgotten at %s, before %s", id, o.outcome, o.settledAt, o.expires, last, keep)
				}
				// Sweeps run at most hourly by event time, after the event that settles.
				due := keep
				if o.settledAt.After(due) {
					due = o.settledAt
				}
				if remembered && !last.Before(due.Add(settledSweepEvery)) {
					t.Fatalf("order %s still remembered at %s, due to be forgotten at %s", id, last, due)
				}
			}
		}
	})
}
