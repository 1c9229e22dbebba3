package shopgen

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/orderengine/orderengine/commands"
	"github.com/orderengine/orderengine/domain"
)

// The demo catalog: every combination of these makes a product name such as
// "Blue Organic Cotton T-Shirt".
var (
	demoBrands     = []string{"Acme", "Northwind", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Stark"}
	demoColours    = []string{"Red", "Blue", "Green", "Black", "White", "Grey", "Navy", "Yellow"}
	demoMaterials  = []string{"Cotton", "Organic Cotton", "Linen", "Wool", "Recycled Polyester", "Bamboo"}
	demoCategories = []struct {
		name, noun string
		sizes      []string
		base       int64 // cents
	}{
		{"tees", "T-Shirt", []string{"S", "M", "L", "XL"}, 1499},
		{"hoodies", "Hoodie", []string{"S", "M", "L", "XL"}, 4999},
		{"socks", "Socks", []string{"39-42", "43-46"}, 899},
		{"caps", "Cap", nil, 1999},
		{"bags", "Tote Bag", nil, 2499},
		{"mugs", "Mug", nil, 1199},
	}
)

// DemoCategories are the categories of the demo catalog.
func DemoCategories() []string {
	out := make([]string, len(demoCategories))
	for i, c := range demoCategories {
		out[i] = c.name
	}
	return out
}

// CatalogStats is what DemoCatalog created.
type CatalogStats struct {
	Created, Skipped, Units int64
	SKUs                    []string
	ProductIDs              []string
}

// DemoCatalog creates products demo-<seed>-<n> with variants and stock through the
// command service; re-running it with the same seed is a no-op. progress, if not nil,
// is called after each product.
func DemoCatalog(ctx context.Context, svc *commands.Service, products int, seed uint64, progress func(done int)) (CatalogStats, error) {
	var st CatalogStats
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	meta := commands.Meta{Actor: "system:seed", CorrelationID: "seed"}
	for i := 0; i < products; i++ {
		cmd, skus := demoProduct(rng, seed, i)
		res, err := svc.CreateProduct(ctx, cmd, meta)
		switch {
		case errors.Is(err, domain.ErrAlreadyExists):
			st.Skipped++
		case err != nil:
			return st, fmt.Errorf("create %s: %w", cmd.SKU, err)
		default:
			st.Created++
			if res.Replayed {
				st.Skipped++
			}
			units, err := demoStock(ctx, svc, rng, skus, meta)
			st.Units += units
			if err != nil {
				return st, err
			}
		}
		st.SKUs = append(st.SKUs, skus...)
		st.ProductIDs = append(st.ProductIDs, cmd.ProductID)
		if progress != nil {
			progress(i + 1)
		}
	}
	return st, nil
}

// demoProduct is the i-th product of the seed's catalog and its SKUs.
func demoProduct(rng *rand.Rand, seed uint64, i int) (domain.CreateProduct, []string) {
	cat := demoCategories[rng.IntN(len(demoCategories))]
	brand := demoBrands[rng.IntN(len(demoBrands))]
	colour := demoColours[rng.IntN(len(demoColours))]
	material := demoMaterials[rng.IntN(len(demoMaterials))]
	name := fmt.Sprintf("%s %s %s", colour, material, cat.noun)
	sku := fmt.Sprintf("%s-%s-%04d", strings.ToUpper(cat.name[:3]), strings.ToUpper(brand[:3]), i+1)
	price := cat.base + int64(rng.IntN(20))*100
	cmd := domain.CreateProduct{
		// A fixed id per seed and index makes re-running the seed a no-op.
		ProductID: fmt.Sprintf("demo-%d-%05d", seed, i+1),
		SKU:       sku,
		ProductDetails: domain.ProductDetails{
			Name:        name,
			Description: fmt.Sprintf("A %s %s by %s, made of %s. Soft, durable and easy to care for.", strings.ToLower(colour), strings.ToLower(cat.noun), brand, strings.ToLower(material)),
			Category:    cat.name, Brand: brand,
			Images:   []string{fmt.Sprintf("https://img.example.com/%s.jpg", strings.ToLower(sku))},
			Metadata: map[string]string{"colour": strings.ToLower(colour), "material": strings.ToLower(material)},
		},
		Price: domain.MustMoney(price, "EUR"),
	}
	skus := []string{sku}
	if len(cat.sizes) > 0 {
		skus = nil
		for _, size := range cat.sizes {
			vs := sku + "-" + size
			cmd.Variants = append(cmd.Variants, domain.Variant{SKU: vs,
				Attributes: map[string]string{"colour": strings.ToLower(colour), "size": size},
				Price:      domain.MustMoney(price, "EUR")})
			skus = append(skus, vs)
		}
	}
	return cmd, skus
}

// demoStock receives 0–39 units of each SKU (some sold out).
func demoStock(ctx context.Context, svc *commands.Service, rng *rand.Rand, skus []string, meta commands.Meta) (int64, error) {
	var units int64
	for _, s := range skus {
		q := int64(rng.IntN(40))
		if rng.IntN(10) == 0 {
			q = 0 // some sold out
		}
		if q == 0 {
			continue
		}
		if _, err := svc.ReceiveStock(ctx, domain.ReceiveStock{SKU: s, Warehouse: "main", Quantity: q, Reference: "seed"}, meta); err != nil {
			return units, fmt.Errorf("stock %s: %w", s, err)
		}
		units += q
	}
	return units, nil
}

// DemoOrders places n orders of 1–3 lines for customers reader-0…reader-<customers-1>
// through the command service and starts their checkouts with start.
func DemoOrders(ctx context.Context, svc *commands.Service, start func(context.Context, string) error, skus []string, n, customers int) error {
	rng := rand.New(rand.NewPCG(7, 7))
	addr := &domain.Address{Name: "Reader", Line1: "1 Main St", City: "Berlin", PostalCode: "10115", Country: "DE"}
	for i := 0; i < n; i++ {
		who := DemoCustomer(i % customers)
		meta := commands.Meta{Actor: who, Customer: who}
		cart, err := svc.CreateCart(ctx, domain.CreateCart{Currency: "EUR"}, meta)
		if err != nil {
			return err
		}
		for l := 0; l < 1+rng.IntN(3); l++ {
			if _, err := svc.AddCartItem(ctx, cart.State.ID, skus[rng.IntN(len(skus))], 1, meta); err != nil && !errors.Is(err, domain.ErrValidation) {
				return err
			}
		}
		if len(cart.State.Lines) == 0 {
			if c, err := svc.Cart(ctx, cart.State.ID, meta); err != nil || len(c.State.Lines) == 0 {
				continue
			}
		}
		o, err := svc.PlaceOrder(ctx, commands.PlaceOrderInput{CartID: cart.State.ID, ShippingAddress: addr, PaymentToken: "tok_visa"}, meta)
		if err != nil {
			return err
		}
		if err := start(ctx, o.State.ID); err != nil {
			return err
		}
	}
	return nil
}

// DemoCustomer is the i-th customer DemoOrders places orders for.
func DemoCustomer(i int) string { return fmt.Sprintf("reader-%d", i) }
