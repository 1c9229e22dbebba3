package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/orderengine/orderengine/commands"
	"github.com/orderengine/orderengine/domain"
)

// The demo catalog: every combination of these makes a product name such as
// "Blue Organic Cotton T-Shirt".
var (
	seedBrands     = []string{"Acme", "Northwind", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Stark"}
	seedColours    = []string{"Red", "Blue", "Green", "Black", "White", "Grey", "Navy", "Yellow"}
	seedMaterials  = []string{"Cotton", "Organic Cotton", "Linen", "Wool", "Recycled Polyester", "Bamboo"}
	seedCategories = []struct {
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

func runSeed(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var (
		c        Config
		products int
		seed     uint64
	)
	fs := newFlagSet("seed", "seed [--products N] [flags]", getenv, stderr)
	commonFlags(fs, &c)
	fs.IntVar(&products, "products", 200, "products to create (each with variants and stock)")
	fs.Uint64Var(&seed, "seed", 1, "random seed: the same seed gives the same catalog")
	if err := fs.parse(args); err != nil {
		if errors.Is(err, errHelp) {
			return nil
		}
		return err
	}
	if err := c.Validate(); err != nil {
		return usagef("%v", err)
	}
	if products < 1 || products > 100_000 {
		return usagef("--products must be between 1 and 100000")
	}
	log := newLogger(c, io.Discard)
	store, err := openEventStore(ctx, c, log)
	if err != nil {
		return fmt.Errorf("open event store %s: %w", redactURL(c.Events), err)
	}
	defer store.Close()
	svc, err := commands.NewService(commands.NewRuntime(store, commands.RuntimeOptions{Logger: log}), commands.ServiceOptions{})
	if err != nil {
		return err
	}
	bar := newProgressBar(stderr)
	start := time.Now()
	st, err := seedCatalog(ctx, svc, products, seed, func(done int) {
		el := time.Since(start).Seconds()
		rate := float64(done) / max(el, 1e-9)
		eta := time.Duration(float64(products-done) / rate * float64(time.Second))
		bar.update(100*float64(done)/float64(products), fmt.Sprintf("%d/%d products  %.0f/s  ETA %s", done, products, rate, eta.Round(time.Second)))
	})
	bar.done()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "seeded %d products (%d already there), %d units of stock, in %s\n", st.created, st.skipped, st.units, time.Since(start).Round(time.Millisecond))
	return nil
}

type seedStats struct {
	created, skipped, units int64
	skus                    []string
	productIDs              []string
}

// seedCatalog creates products demo-<seed>-<n> with variants and stock through the
// command service; re-running it with the same seed is a no-op.
func seedCatalog(ctx context.Context, svc *commands.Service, products int, seed uint64, progress func(done int)) (seedStats, error) {
	var st seedStats
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for i := 0; i < products; i++ {
		cat := seedCategories[rng.IntN(len(seedCategories))]
		brand := seedBrands[rng.IntN(len(seedBrands))]
		colour := seedColours[rng.IntN(len(seedColours))]
		material := seedMaterials[rng.IntN(len(seedMaterials))]
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
		meta := commands.Meta{Actor: "system:seed", CorrelationID: "seed"}
		res, err := svc.CreateProduct(ctx, cmd, meta)
		switch {
		case errors.Is(err, domain.ErrAlreadyExists):
			st.skipped++
		case err != nil:
			return st, fmt.Errorf("create %s: %w", sku, err)
		default:
			st.created++
			if res.Replayed {
				st.skipped++
			}
			for _, s := range skus {
				q := int64(rng.IntN(40))
				if rng.IntN(10) == 0 {
					q = 0 // some sold out
				}
				if q == 0 {
					continue
				}
				if _, err := svc.ReceiveStock(ctx, domain.ReceiveStock{SKU: s, Warehouse: "main", Quantity: q, Reference: "seed"}, meta); err != nil {
					return st, fmt.Errorf("stock %s: %w", s, err)
				}
				st.units += q
			}
		}
		st.skus = append(st.skus, skus...)
		st.productIDs = append(st.productIDs, cmd.ProductID)
		if progress != nil {
			progress(i + 1)
		}
	}
	return st, nil
}
