package searchtest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/projections/projectionstest"
	"github.com/orderengine/orderengine/search"
)

// Product is a product of the suite's catalog.
type Product struct {
	ID, Name, Brand, Category, Description string
	// Price is the base price (EUR cents); variants add their own.
	Price    int64
	Variants []Variant
	// Stock is received for every sellable SKU (0: none); Reserved is then reserved
	// from the first SKU.
	Stock, Reserved int64
	Archived        bool
}

// Variant is a variant: SKU suffix, attributes and price.
type Variant struct {
	Suffix string
	Attrs  map[string]string
	Price  int64
}

func v(suffix string, price int64, kv ...string) Variant {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return Variant{Suffix: suffix, Attrs: m, Price: price}
}

// Catalog is the suite's catalog: 32 products over five brands and six categories,
// with variants, some out of stock (never stocked, or fully reserved), one archived.
// Words near "shirt" (skirt, short…) are avoided so that typo matching has one answer.
var Catalog = []Product{
	{ID: "p01", Name: "Blue Cotton T-Shirt", Brand: "Acme", Category: "tops", Description: "Soft everyday tee made from organic cotton.", Price: 1999,
		Variants: []Variant{v("s", 1999, "colour", "blue", "size", "S"), v("m", 1999, "colour", "blue", "size", "M"), v("l", 2199, "colour", "blue", "size", "L")}, Stock: 10},
	{ID: "p02", Name: "Classic White T-Shirt", Brand: "Globex", Category: "tops", Description: "A crisp crew neck essential.", Price: 1499,
		Variants: []Variant{v("m", 1499, "colour", "white", "size", "M"), v("l", 1499, "colour", "white", "size", "L")}, Stock: 5},
	{ID: "p03", Name: "Striped Linen Shirt", Brand: "Initech", Category: "tops", Description: "Breathable linen with a relaxed fit.", Price: 3999,
		Variants: []Variant{v("w", 3999, "colour", "white"), v("n", 4299, "colour", "navy")}, Stock: 3},
	{ID: "p04", Name: "Oxford Button-Down Shirt", Brand: "Stark", Category: "tops", Description: "Tailored oxford cloth for the office.", Price: 4999,
		Variants: []Variant{v("b", 4999, "colour", "blue")}},
	{ID: "p05", Name: "Denim Jacket", Brand: "Acme", Category: "outerwear", Description: "Rugged denim layer to wear over a shirt or hoodie.", Price: 7999,
		Variants: []Variant{v("b", 7999, "colour", "blue")}, Stock: 4},
	{ID: "p06", Name: "Quilted Puffer Jacket", Brand: "Umbrella", Category: "outerwear", Description: "Warm and light for winter walks.", Price: 12999,
		Variants: []Variant{v("k", 12999, "colour", "black"), v("r", 12999, "colour", "red")}, Stock: 2},
	{ID: "p07", Name: "Waterproof Rain Jacket", Brand: "Umbrella", Category: "outerwear", Description: "Taped seams keep the weather out.", Price: 8999, Stock: 6},
	{ID: "p08", Name: "Wool Overcoat", Brand: "Stark", Category: "outerwear", Description: "Double-breasted coat in pure wool.", Price: 24999},
	{ID: "p09", Name: "Trail Running Shoes", Brand: "Globex", Category: "footwear", Description: "Grippy soles for muddy trails.", Price: 10999,
		Variants: []Variant{v("42", 10999, "size", "42"), v("43", 10999, "size", "43"), v("44", 11499, "size", "44")}, Stock: 2},
	{ID: "p10", Name: "Leather Chelsea Boots", Brand: "Stark", Category: "footwear", Description: "Handmade boots with elastic sides.", Price: 18999, Stock: 1},
	{ID: "p11", Name: "Canvas Sneakers", Brand: "Acme", Category: "footwear", Description: "Lightweight low tops.", Price: 5999,
		Variants: []Variant{v("w", 5999, "colour", "white"), v("b", 5999, "colour", "blue")}, Stock: 8},
	{ID: "p12", Name: "Hiking Boots", Brand: "Initech", Category: "footwear", Description: "Waterproof boots for rocky paths.", Price: 15999, Stock: 2},
	{ID: "p13", Name: "Leather Messenger Bag", Brand: "Stark", Category: "bags", Description: "Fits a fifteen inch laptop.", Price: 14999, Stock: 1},
	{ID: "p14", Name: "Canvas Tote Bag", Brand: "Globex", Category: "bags", Description: "Roomy tote for the market.", Price: 2499, Stock: 20},
	{ID: "p15", Name: "Rolling Suitcase", Brand: "Umbrella", Category: "bags", Description: "Hard shell carry-on with spinner wheels.", Price: 19999, Stock: 2, Reserved: 2},
	{ID: "p16", Name: "Hiking Backpack", Brand: "Initech", Category: "bags", Description: "Thirty litre pack with a rain cover.", Price: 8999, Stock: 3},
	{ID: "p17", Name: "Wool Beanie", Brand: "Acme", Category: "accessories", Description: "Ribbed knit hat.", Price: 1999,
		Variants: []Variant{v("r", 1999, "colour", "red"), v("g", 1999, "colour", "grey")}, Stock: 12},
	{ID: "p18", Name: "Leather Belt", Brand: "Stark", Category: "accessories", Description: "Full grain leather with a brass buckle.", Price: 3499, Stock: 7},
	{ID: "p19", Name: "Silk Scarf", Brand: "Globex", Category: "accessories", Description: "Printed silk square.", Price: 4499, Stock: 4},
	{ID: "p20", Name: "Aviator Sunglasses", Brand: "Umbrella", Category: "accessories", Description: "Polarized lenses in a metal frame.", Price: 9999},
	{ID: "p21", Name: "Bluetooth Headphones", Brand: "Initech", Category: "accessories", Description: "Wireless over-ear headphones with noise cancelling.", Price: 12999, Stock: 5},
	{ID: "p22", Name: "Navy Hoodie", Brand: "Acme", Category: "tops", Description: "Fleece-lined pullover.", Price: 4999,
		Variants: []Variant{v("m", 4999, "colour", "navy", "size", "M"), v("l", 4999, "colour", "navy", "size", "L")}, Stock: 9},
	{ID: "p23", Name: "Graphic Tee", Brand: "Globex", Category: "tops", Description: "Screen printed cotton tee.", Price: 2499, Stock: 11},
	{ID: "p24", Name: "Merino Sweater", Brand: "Initech", Category: "tops", Description: "Fine merino wool crew neck.", Price: 6999,
		Variants: []Variant{v("g", 6999, "colour", "grey")}, Stock: 3},
	{ID: "p25", Name: "Cargo Trousers", Brand: "Umbrella", Category: "bottoms", Description: "Six pockets and a relaxed fit.", Price: 5999, Stock: 5},
	{ID: "p26", Name: "Slim Fit Jeans", Brand: "Acme", Category: "bottoms", Description: "Stretch denim with five pockets.", Price: 6999,
		Variants: []Variant{v("b", 6999, "colour", "blue"), v("k", 7499, "colour", "black")}, Stock: 6},
	{ID: "p27", Name: "Chino Trousers", Brand: "Stark", Category: "bottoms", Description: "Cotton twill chinos.", Price: 5499, Stock: 4},
	{ID: "p28", Name: "Running Tights", Brand: "Globex", Category: "bottoms", Description: "Compression tights for long runs.", Price: 3999, Stock: 2},
	{ID: "p29", Name: "Rain Poncho", Brand: "Umbrella", Category: "outerwear", Description: "Packable emergency layer.", Price: 2999, Stock: 10},
	{ID: "p30", Name: "Yoga Mat", Brand: "Initech", Category: "accessories", Description: "Non-slip mat for studio practice.", Price: 3499, Stock: 6},
	{ID: "p31", Name: "Vintage Band T-Shirt", Brand: "Acme", Category: "tops", Description: "Faded tour tee from the archive.", Price: 2999, Stock: 1, Archived: true},
	{ID: "p32", Name: "Sport Socks", Brand: "Globex", Category: "accessories", Description: "Cushioned ankle socks, pack of three.", Price: 999, Stock: 30},
}

// SKUs are the sellable SKUs of a product.
func (p Product) SKUs() []string {
	if len(p.Variants) == 0 {
		return []string{"sku-" + p.ID}
	}
	var out []string
	for _, v := range p.Variants {
		out = append(out, "sku-"+p.ID+"-"+v.Suffix)
	}
	return out
}

// MinPrice is the lowest sellable price.
func (p Product) MinPrice() int64 {
	if len(p.Variants) == 0 {
		return p.Price
	}
	lo := p.Variants[0].Price
	for _, v := range p.Variants {
		lo = min(lo, v.Price)
	}
	return lo
}

// InStock reports available stock.
func (p Product) InStock() bool { return p.Stock*int64(len(p.SKUs()))-p.Reserved > 0 }

// Attrs are the variant attribute values by key.
func (p Product) Attrs() map[string][]string {
	m := map[string][]string{}
	for _, v := range p.Variants {
		for k, val := range v.Attrs {
			if !slices.Contains(m[k], val) {
				m[k] = append(m[k], val)
			}
		}
	}
	return m
}

// Seed appends the catalog through the domain's deciders: products, stock received in
// warehouse w1, reservations, the archive. It returns the seeder (its clock goes on).
func Seed(ctx context.Context, s *projectionstest.Seeder) error {
	for _, p := range Catalog {
		c := domain.CreateProduct{
			ProductID: p.ID, SKU: "sku-" + p.ID, Price: domain.MustMoney(p.Price, "EUR"),
			ProductDetails: domain.ProductDetails{Name: p.Name, Brand: p.Brand, Category: p.Category, Description: p.Description,
				Images: []string{"https://img.example/" + p.ID + ".jpg"}},
		}
		for _, v := range p.Variants {
			c.Variants = append(c.Variants, domain.Variant{SKU: "sku-" + p.ID + "-" + v.Suffix, Attributes: maps.Clone(v.Attrs),
				Price: domain.MustMoney(v.Price, "EUR")})
		}
		if err := s.RunProduct(ctx, c); err != nil {
			return fmt.Errorf("create %s: %w", p.ID, err)
		}
		if p.Stock > 0 {
			for _, sku := range p.SKUs() {
				if err := s.RunInventory(ctx, domain.ReceiveStock{SKU: sku, Warehouse: "w1", Quantity: p.Stock}); err != nil {
					return fmt.Errorf("stock %s: %w", sku, err)
				}
			}
		}
		if p.Reserved > 0 {
			if err := s.RunInventory(ctx, domain.ReserveStock{SKU: p.SKUs()[0], OrderID: "order-" + p.ID, Quantity: p.Reserved,
				ExpiresAt: s.Now().Add(365 * 24 * time.Hour)}); err != nil {
				return fmt.Errorf("reserve %s: %w", p.ID, err)
			}
		}
		if p.Archived {
			if err := s.RunProduct(ctx, domain.ArchiveProduct{ProductID: p.ID, Reason: "discontinued"}); err != nil {
				return fmt.Errorf("archive %s: %w", p.ID, err)
			}
		}
	}
	return nil
}

// active are the catalog's active products.
func active() []Product {
	var out []Product
	for _, p := range Catalog {
		if !p.Archived {
			out = append(out, p)
		}
	}
	return out
}

func ids(ps []Product) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.ID
	}
	return out
}

func where(ps []Product, keep func(Product) bool) []Product {
	var out []Product
	for _, p := range ps {
		if keep(p) {
			out = append(out, p)
		}
	}
	return out
}

// sorted orders products by a sort of the search package (ties by id).
func sorted(ps []Product, sort string) []Product {
	out := slices.Clone(ps)
	key := func(p Product) (int64, string) {
		switch strings.TrimPrefix(sort, "-") {
		case search.SortPrice:
			return p.MinPrice(), ""
		case search.SortCreated:
			return int64(slices.IndexFunc(Catalog, func(c Product) bool { return c.ID == p.ID })), ""
		}
		return 0, strings.ToLower(p.Name)
	}
	desc := strings.HasPrefix(sort, "-")
	slices.SortStableFunc(out, func(a, b Product) int {
		an, as := key(a)
		bn, bs := key(b)
		c := 0
		switch {
		case an != bn:
			c = cmpInt(an, bn)
		case as != bs:
			c = strings.Compare(as, bs)
		}
		if c != 0 {
			if desc {
				return -c
			}
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// termCounts counts products per value (brand, category or an attribute), sorted by
// count then value.
func termCounts(ps []Product, values func(Product) []string) []search.FacetCount {
	m := map[string]int64{}
	for _, p := range ps {
		for _, v := range values(p) {
			m[v]++
		}
	}
	out := []search.FacetCount{}
	for v, n := range m {
		out = append(out, search.FacetCount{Value: v, Count: n})
	}
	slices.SortFunc(out, func(a, b search.FacetCount) int {
		if a.Count != b.Count {
			return -cmpInt(a.Count, b.Count)
		}
		return strings.Compare(a.Value, b.Value)
	})
	return out
}

func priceCounts(ps []Product, ranges []search.PriceRange) []search.FacetCount {
	out := make([]search.FacetCount, len(ranges))
	for i, r := range ranges {
		out[i] = search.FacetCount{Value: r.Key()}
		for _, p := range ps {
			if r.Contains(p.MinPrice()) {
				out[i].Count++
			}
		}
	}
	return out
}
