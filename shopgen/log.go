package shopgen

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/envelope"
	"github.com/orderengine/orderengine/eventstore"
)

// SeedStart is the time of the first seeded command; each command advances the clock.
var SeedStart = time.Date(2025, 1, 1, 9, 0, 0, 0, time.UTC)

// Seeder appends a realistic, reproducible log through the domain's deciders: products
// with variants, stock receipts, reservations and orders that are paid, shipped,
// delivered, cancelled or refunded.
type Seeder struct {
	Store eventstore.Store
	rnd   *rand.Rand
	reg   *domain.Registry
	now   time.Time
	n     int
	seed  uint64

	versions  map[string]uint64 // stream → version + 1 (0: no stream)
	Products  map[string]domain.Product
	Inventory map[string]domain.Inventory
	Orders    map[string]domain.Order
	// ProductIDs, SKUs and OrderIDs in creation order.
	ProductIDs, SKUs, OrderIDs []string
	// Events appended so far.
	Events int
	// Bulk appends all the events one command batch decides in one append per stream.
	Bulk bool
}

// NewSeeder returns a seeder appending to store with a deterministic random source.
func NewSeeder(store eventstore.Store, seed uint64) *Seeder {
	return &Seeder{
		Store: store, rnd: rand.New(rand.NewPCG(seed, 0x5eed)), reg: domain.NewDomainRegistry(), now: SeedStart, seed: seed,
		versions: map[string]uint64{}, Products: map[string]domain.Product{},
		Inventory: map[string]domain.Inventory{}, Orders: map[string]domain.Order{},
	}
}

// Now is the seeder's clock.
func (s *Seeder) Now() time.Time { return s.now }

func (s *Seeder) tick() time.Time {
	s.now = s.now.Add(time.Minute)
	return s.now
}

// Append encodes events and appends them to stream at the version the seeder tracks.
func (s *Seeder) Append(ctx context.Context, stream string, events ...domain.Event) error {
	if len(events) == 0 {
		return nil
	}
	data := make([]eventstore.EventData, len(events))
	for i, e := range events {
		s.n++
		id := uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "seed-%d-%d", s.seed, s.n))
		var err error
		data[i], err = envelope.Encode(s.reg, id, e, envelope.Metadata{OccurredAt: s.now, Actor: "system:seed", CorrelationID: stream})
		if err != nil {
			return err
		}
	}
	exp := eventstore.NoStream
	if v := s.versions[stream]; v > 0 {
		exp = eventstore.Exact(v - 1)
	}
	if _, err := s.Store.Append(ctx, stream, exp, data...); err != nil {
		return fmt.Errorf("append to %s: %w", stream, err)
	}
	s.versions[stream] += uint64(len(events))
	s.Events += len(events)
	return nil
}

// RunProduct decides a product command on the seeder's state and appends the events.
func (s *Seeder) RunProduct(ctx context.Context, c domain.ProductCommand) error {
	id := c.AggregateID()
	evs, err := domain.DecideProduct(s.Products[id], c, s.tick())
	if err != nil {
		return err
	}
	s.Products[id] = domain.FoldProduct(s.Products[id], evs)
	return s.Append(ctx, "product-"+id, evs...)
}

// RunInventory decides a stock command and appends the events.
func (s *Seeder) RunInventory(ctx context.Context, c domain.InventoryCommand) error {
	id := c.AggregateID()
	evs, err := domain.DecideInventory(s.Inventory[id], c, s.tick())
	if err != nil {
		return err
	}
	s.Inventory[id] = domain.FoldInventory(s.Inventory[id], evs)
	return s.Append(ctx, "inventory-"+id, evs...)
}

// RunOrder decides order commands in turn and appends their events in one append.
func (s *Seeder) RunOrder(ctx context.Context, cs ...domain.OrderCommand) error {
	id := cs[0].AggregateID()
	var all []domain.Event
	for _, c := range cs {
		evs, err := domain.DecideOrder(s.Orders[id], c, s.tick())
		if err != nil {
			return err
		}
		s.Orders[id] = domain.FoldOrder(s.Orders[id], evs)
		all = append(all, evs...)
	}
	return s.Append(ctx, "order-"+id, all...)
}

var (
	categories = []string{"shoes", "shirts", "bags", "hats"}
	brands     = []string{"acme", "globex", "initech"}
	colours    = []string{"red", "blue", "green", "black"}
)

// AddProducts creates n products with 0–3 variants each and receives stock for most SKUs
// in one or two warehouses.
func (s *Seeder) AddProducts(ctx context.Context, n int) error {
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("p%04d", len(s.ProductIDs)+1)
		price := domain.MustMoney(int64(500+s.rnd.IntN(20000)), "EUR")
		c := domain.CreateProduct{
			ProductID: id, SKU: "sku-" + id, Price: price,
			ProductDetails: domain.ProductDetails{
				Name:        fmt.Sprintf("%s %s %d", brands[i%len(brands)], categories[i%len(categories)], s.rnd.IntN(1000)),
				Description: "A seeded product.", Category: categories[s.rnd.IntN(len(categories))],
				Brand: brands[s.rnd.IntN(len(brands))], Images: []string{"https://img.example/" + id + ".jpg"},
			},
		}
		for v := 0; v < s.rnd.IntN(4); v++ {
			c.Variants = append(c.Variants, domain.Variant{
				SKU: fmt.Sprintf("sku-%s-%d", id, v), Attributes: map[string]string{"colour": colours[v]},
				Price: domain.MustMoney(price.Amount+int64(100*v), "EUR"),
			})
		}
		if err := s.RunProduct(ctx, c); err != nil {
			return err
		}
		s.ProductIDs = append(s.ProductIDs, id)
		for _, sku := range s.Products[id].SKUs() {
			s.SKUs = append(s.SKUs, sku)
			if s.rnd.IntN(6) == 0 {
				continue // out of stock
			}
			for _, w := range []string{"w1", "w2"}[:1+s.rnd.IntN(2)] {
				if err := s.RunInventory(ctx, domain.ReceiveStock{SKU: sku, Warehouse: w, Quantity: int64(1 + s.rnd.IntN(30))}); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// ChangeProducts applies n random catalog changes: details, prices, variants, archive.
func (s *Seeder) ChangeProducts(ctx context.Context, n int) error {
	for i := 0; i < n; i++ {
		id := s.ProductIDs[s.rnd.IntN(len(s.ProductIDs))]
		p := s.Products[id]
		if p.Status == domain.ProductStatusArchived {
			continue
		}
		var c domain.ProductCommand
		switch k := s.rnd.IntN(10); {
		case k < 3:
			name := p.Name + " v2"
			c = domain.UpdateProductDetails{ProductID: id, Name: &name}
		case k < 6:
			sku := p.SKU
			if len(p.Variants) > 0 {
				sku = p.Variants[s.rnd.IntN(len(p.Variants))].SKU
			}
			c = domain.ChangePrice{ProductID: id, SKU: sku, Price: domain.MustMoney(int64(500+s.rnd.IntN(20000)), "EUR")}
		case k < 9:
			sku := fmt.Sprintf("sku-%s-x%d", id, len(p.Variants))
			c = domain.AddVariant{ProductID: id, Variant: domain.Variant{SKU: sku, Attributes: map[string]string{"size": "XL"}, Price: p.Price}}
			defer func() { s.SKUs = append(s.SKUs, sku) }()
		default:
			c = domain.ArchiveProduct{ProductID: id, Reason: "discontinued"}
		}
		if err := s.RunProduct(ctx, c); err != nil {
			return err
		}
	}
	return nil
}

var address = domain.Address{Name: "Ada Lovelace", Line1: "1 Main St", City: "Berlin", PostalCode: "10115", Country: "DE"}

// PlaceOrders places n orders of customers cust-1..cust-k, reserving stock for every
// line first (orders whose stock runs out are skipped), and moves each through a random
// part of its life cycle.
func (s *Seeder) PlaceOrders(ctx context.Context, n, customers int) error {
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("o%05d", len(s.OrderIDs)+1)
		var lines []domain.Line
		seen := map[string]bool{}
		for l := 0; l < 1+s.rnd.IntN(3); l++ {
			sku := s.SKUs[s.rnd.IntN(len(s.SKUs))]
			if seen[sku] || s.Inventory[sku].Available() < 2 {
				continue
			}
			seen[sku] = true
			pid, price := s.owner(sku)
			if pid == "" {
				continue
			}
			lines = append(lines, Line(sku, pid, int64(1+s.rnd.IntN(2)), price))
		}
		if len(lines) == 0 {
			continue
		}
		var reserved []string
		ok := true
		for _, l := range lines {
			err := s.RunInventory(ctx, domain.ReserveStock{SKU: l.SKU, OrderID: id, Quantity: l.Quantity, ExpiresAt: s.now.Add(time.Hour)})
			var oos *domain.OutOfStockError
			if errors.As(err, &oos) {
				ok = false
				break
			}
			if err != nil {
				return err
			}
			reserved = append(reserved, l.SKU)
		}
		if !ok {
			for _, sku := range reserved {
				if err := s.RunInventory(ctx, domain.ReleaseReservation{SKU: sku, OrderID: id, Reason: "out of stock"}); err != nil {
					return err
				}
			}
			continue
		}
		if err := s.Lifecycle(ctx, id, fmt.Sprintf("cust-%d", 1+s.rnd.IntN(customers)), lines, s.rnd.IntN(7)); err != nil {
			return err
		}
	}
	return nil
}

// Lifecycle places order id and moves it `steps` steps along: authorize+confirm (with
// reservations committed), ship+capture, deliver, refund; or, at random, cancel.
func (s *Seeder) Lifecycle(ctx context.Context, id, customer string, lines []domain.Line, steps int) error {
	place := domain.PlaceOrder{OrderID: id, CustomerID: customer, Currency: "EUR", Lines: lines,
		Shipping: domain.MustMoney(495, "EUR"), ShippingAddress: address, BillingAddress: address}
	if err := s.RunOrder(ctx, place); err != nil {
		return err
	}
	s.OrderIDs = append(s.OrderIDs, id)
	stock := func(c func(sku string) domain.InventoryCommand) error {
		if s.Bulk {
			return nil
		}
		for _, l := range lines {
			if err := s.RunInventory(ctx, c(l.SKU)); err != nil {
				return err
			}
		}
		return nil
	}
	o := s.Orders[id]
	var cmds []domain.OrderCommand
	flush := func() error {
		if len(cmds) == 0 {
			return nil
		}
		err := s.RunOrder(ctx, cmds...)
		cmds = nil
		return err
	}
	if steps == 1 {
		if err := s.RunOrder(ctx, domain.CancelOrder{OrderID: id, Reason: "changed mind"}); err != nil {
			return err
		}
		return stock(func(sku string) domain.InventoryCommand {
			return domain.ReleaseReservation{SKU: sku, OrderID: id, Reason: "cancelled"}
		})
	}
	if steps >= 2 {
		cmds = append(cmds, domain.MarkOrderPaymentAuthorized{OrderID: id, PaymentID: "pay-" + id, Amount: o.Totals.GrandTotal},
			domain.ConfirmOrder{OrderID: id})
		if !s.Bulk {
			if err := flush(); err != nil {
				return err
			}
		}
		if err := stock(func(sku string) domain.InventoryCommand { return domain.CommitReservation{SKU: sku, OrderID: id} }); err != nil {
			return err
		}
	}
	if steps >= 3 {
		cmds = append(cmds, domain.ShipOrder{OrderID: id, Carrier: "dhl", TrackingNumber: "trk-" + id},
			domain.MarkOrderPaymentCaptured{OrderID: id, Amount: o.Totals.GrandTotal})
	}
	if steps >= 4 {
		cmds = append(cmds, domain.DeliverOrder{OrderID: id})
	}
	if steps >= 6 {
		cmds = append(cmds, domain.RefundOrder{OrderID: id, RefundID: "r1", Amount: domain.MustMoney(100, "EUR"), Reason: "scratch"})
	}
	return flush()
}

// owner finds the product selling sku and its price.
func (s *Seeder) owner(sku string) (string, domain.Money) {
	for _, id := range s.ProductIDs {
		p := s.Products[id]
		if price, err := p.PriceOf(sku); err == nil {
			return id, price
		}
	}
	return "", domain.Money{}
}

// Line is an order line at unit price without tax or discount.
func Line(sku, productID string, qty int64, unit domain.Money) domain.Line {
	sub := domain.Money{Amount: unit.Amount * qty, Currency: unit.Currency}
	return domain.Line{SKU: sku, ProductID: productID, Name: "item " + sku, Quantity: qty, UnitPrice: unit,
		LineAmounts: domain.LineAmounts{Subtotal: sub, Discount: domain.Zero(unit.Currency), Net: sub, Tax: domain.Zero(unit.Currency), Gross: sub}}
}

// Shop seeds a small shop: products, changes, orders, more changes and orders.
func Shop(ctx context.Context, store eventstore.Store, seed uint64, products, orders int) (*Seeder, error) {
	s := NewSeeder(store, seed)
	if err := s.AddProducts(ctx, products); err != nil {
		return nil, err
	}
	if err := s.PlaceOrders(ctx, orders/2, 10); err != nil {
		return nil, err
	}
	if err := s.ChangeProducts(ctx, products/2); err != nil {
		return nil, err
	}
	if err := s.PlaceOrders(ctx, orders-orders/2, 10); err != nil {
		return nil, err
	}
	return s, nil
}

// BulkOrders appends orders until at least n order events are in the log, each order's
// events in one append (placed, paid, shipped, captured, delivered…), for benchmarks.
// When the seeder has products, lines sell their SKUs and every line's stock is
// reserved and committed (inventory events the catalog consumes).
func (s *Seeder) BulkOrders(ctx context.Context, n int) error {
	s.Bulk = true
	defer func() { s.Bulk = false }()
	type sellable struct {
		sku, product string
		price        domain.Money
	}
	var catalog []sellable
	for _, id := range s.ProductIDs {
		p := s.Products[id]
		for _, sku := range p.SKUs() {
			price, err := p.PriceOf(sku)
			if err != nil {
				continue
			}
			catalog = append(catalog, sellable{sku, id, price})
			if err := s.RunInventory(ctx, domain.ReceiveStock{SKU: sku, Warehouse: "w9", Quantity: 1_000_000_000}); err != nil {
				return err
			}
		}
	}
	orderEvents := 0
	for orderEvents < n {
		id := fmt.Sprintf("b%07d", len(s.OrderIDs)+1)
		var lines []domain.Line
		for l := 0; l < 1+s.rnd.IntN(3); l++ {
			qty := int64(1 + s.rnd.IntN(3))
			if len(catalog) == 0 {
				lines = append(lines, Line(fmt.Sprintf("sku-b%d", l+s.rnd.IntN(100)*3), "pb", qty, domain.MustMoney(int64(100+s.rnd.IntN(9000)), "EUR")))
				continue
			}
			c := catalog[s.rnd.IntN(len(catalog))]
			if !slices.ContainsFunc(lines, func(x domain.Line) bool { return x.SKU == c.sku }) {
				lines = append(lines, Line(c.sku, c.product, qty, c.price))
			}
		}
		steps := 2 + s.rnd.IntN(5)
		before := s.Events
		for _, l := range lines {
			if len(catalog) > 0 {
				if err := s.RunInventory(ctx, domain.ReserveStock{SKU: l.SKU, OrderID: id, Quantity: l.Quantity, ExpiresAt: s.now.Add(time.Hour)}); err != nil {
					return err
				}
			}
		}
		inv := s.Events - before
		if err := s.Lifecycle(ctx, id, fmt.Sprintf("cust-%d", s.rnd.IntN(1000)), lines, steps); err != nil {
			return err
		}
		orderEvents += s.Events - before - inv
		if len(catalog) > 0 {
			for _, l := range lines {
				if err := s.RunInventory(ctx, domain.CommitReservation{SKU: l.SKU, OrderID: id}); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
