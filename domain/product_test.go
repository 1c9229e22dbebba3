package domain

import (
	"errors"
	"testing"
)

var teeCreated = ProductCreated{
	ProductID: "p1", SKU: "TEE",
	ProductDetails: ProductDetails{
		Name: "Organic tee", Description: "Soft.", Category: "shirts", Brand: "Acme",
		Images: []string{"https://img/tee.jpg"}, Metadata: map[string]string{"material": "cotton"},
	},
	Price: eur(1999),
	Variants: []Variant{
		{SKU: "TEE-RED-M", Attributes: map[string]string{"colour": "red", "size": "M"}, Price: eur(1999)},
		{SKU: "TEE-RED-L", Attributes: map[string]string{"colour": "red", "size": "L"}, Price: eur(2199)},
	},
	At: t0,
}

func TestProductCreate(t *testing.T) {
	d := NewProductDecider()
	given(t, d).when(CreateProduct{
		ProductID: "p1", SKU: "TEE", ProductDetails: teeCreated.ProductDetails, Price: eur(1999), Variants: teeCreated.Variants,
	}).then(teeCreated).thenState(func(t *testing.T, p Product) {
		if p.Status != ProductStatusActive || len(p.SKUs()) != 2 {
			t.Fatalf("state %+v", p)
		}
		if price, err := p.PriceOf("TEE-RED-L"); err != nil || price != eur(2199) {
			t.Fatalf("PriceOf = %v, %v", price, err)
		}
		if _, err := p.PriceOf("TEE"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("base SKU of a product with variants is not sold: %v", err)
		}
	})

	given(t, d, teeCreated).when(CreateProduct{ProductID: "p1", SKU: "TEE", ProductDetails: ProductDetails{Name: "x"}, Price: eur(1)}).
		thenError(ErrAlreadyExists)

	o := given(t, d).when(CreateProduct{
		ProductID: "p 1", SKU: "", Price: MustMoney(-1, "EUR"),
		Variants: []Variant{{SKU: "A", Price: MustMoney(1, "USD")}, {SKU: "A", Price: eur(1)}},
	}).thenError(ErrValidation)
	var ve *ValidationError
	errors.As(o.err, &ve)
	fields := map[string]bool{}
	for _, p := range ve.Problems {
		fields[p.Field] = true
	}
	for _, f := range []string{"productId", "sku", "name", "price", "variants[0].price", "variants[1].sku"} {
		if !fields[f] {
			t.Errorf("no problem reported for %s in %v", f, ve)
		}
	}
}

func TestProductSimpleSKU(t *testing.T) {
	given(t, NewProductDecider()).
		when(CreateProduct{ProductID: "p2", SKU: "MUG", ProductDetails: ProductDetails{Name: "Mug"}, Price: eur(899)}).
		thenState(func(t *testing.T, p Product) {
			if price, err := p.PriceOf("MUG"); err != nil || price != eur(899) {
				t.Fatalf("PriceOf = %v, %v", price, err)
			}
		})
}

func TestProductUpdateDetails(t *testing.T) {
	d := NewProductDecider()
	name, brand := "Organic tee v2", "Acme"
	imgs := []string{"a.jpg", "b.jpg"}
	want := teeCreated.ProductDetails.clone()
	want.Name, want.Images = name, imgs
	given(t, d, teeCreated).at(t0.Add(1)).when(UpdateProductDetails{ProductID: "p1", Name: &name, Brand: &brand, Images: &imgs}).
		then(ProductDetailsUpdated{ProductID: "p1", ProductDetails: want, At: t0.Add(1)})
	// nothing changes → nothing happens
	given(t, d, teeCreated).when(UpdateProductDetails{ProductID: "p1", Brand: &brand}).thenNothing()
	empty := ""
	given(t, d, teeCreated).when(UpdateProductDetails{ProductID: "p1", Name: &empty}).thenError(ErrValidation)
	given(t, d).when(UpdateProductDetails{ProductID: "p9", Name: &name}).thenError(ErrNotFound)
}

func TestProductVariantsAndPrices(t *testing.T) {
	d := NewProductDecider()
	blue := Variant{SKU: "TEE-BLUE-M", Attributes: map[string]string{"colour": "blue", "size": "M"}, Price: eur(1999)}
	given(t, d, teeCreated).when(AddVariant{ProductID: "p1", Variant: blue}).
		then(ProductVariantAdded{ProductID: "p1", Variant: blue, At: t0})
	given(t, d, teeCreated).when(AddVariant{ProductID: "p1", Variant: Variant{SKU: "TEE-RED-M", Price: eur(1)}}).thenError(ErrAlreadyExists)
	given(t, d, teeCreated).when(AddVariant{ProductID: "p1", Variant: Variant{SKU: "TEE-X", Price: MustMoney(1, "USD")}}).thenError(ErrValidation)

	newPrice := eur(1799)
	given(t, d, teeCreated).when(UpdateVariant{ProductID: "p1", SKU: "TEE-RED-M", Attributes: map[string]string{"colour": "crimson", "size": "M"}, Price: &newPrice}).
		then(
			ProductVariantUpdated{ProductID: "p1", SKU: "TEE-RED-M", Attributes: map[string]string{"colour": "crimson", "size": "M"}, At: t0},
			ProductPriceChanged{ProductID: "p1", SKU: "TEE-RED-M", OldPrice: eur(1999), NewPrice: eur(1799), At: t0},
		).thenState(func(t *testing.T, p Product) {
		if price, _ := p.PriceOf("TEE-RED-M"); price != eur(1799) {
			t.Fatalf("price %v", price)
		}
	})
	given(t, d, teeCreated).when(UpdateVariant{ProductID: "p1", SKU: "NOPE", Price: &newPrice}).thenError(ErrNotFound)

	given(t, d, teeCreated).when(ChangePrice{ProductID: "p1", SKU: "TEE-RED-L", Price: eur(2499)}).
		then(ProductPriceChanged{ProductID: "p1", SKU: "TEE-RED-L", OldPrice: eur(2199), NewPrice: eur(2499), At: t0})
	given(t, d, teeCreated).when(ChangePrice{ProductID: "p1", SKU: "TEE", Price: eur(1500)}).
		then(ProductPriceChanged{ProductID: "p1", SKU: "TEE", OldPrice: eur(1999), NewPrice: eur(1500), At: t0})
	given(t, d, teeCreated).when(ChangePrice{ProductID: "p1", SKU: "TEE-RED-L", Price: eur(2199)}).thenNothing()
	given(t, d, teeCreated).when(ChangePrice{ProductID: "p1", SKU: "TEE-RED-L", Price: eur(-1)}).thenError(ErrValidation)
	given(t, d, teeCreated).when(ChangePrice{ProductID: "p1", SKU: "TEE-RED-L", Price: MustMoney(100, "JPY")}).thenError(ErrValidation)
}

func TestProductArchive(t *testing.T) {
	d := NewProductDecider()
	archived := ProductArchived{ProductID: "p1", Reason: "discontinued", At: t0}
	given(t, d, teeCreated).when(ArchiveProduct{ProductID: "p1", Reason: "discontinued"}).then(archived).
		thenState(func(t *testing.T, p Product) {
			if _, err := p.PriceOf("TEE-RED-M"); !errors.Is(err, ErrValidation) {
				t.Fatalf("archived product still sells: %v", err)
			}
		})
	given(t, d, teeCreated, archived).when(ArchiveProduct{ProductID: "p1"}).thenNothing()
	given(t, d, teeCreated, archived).when(ChangePrice{ProductID: "p1", SKU: "TEE", Price: eur(1)}).thenError(ErrIllegalTransition)
}

func TestEvolveIsPure(t *testing.T) {
	p := FoldProduct(Product{}, []Event{teeCreated})
	before := p.clone()
	_ = EvolveProduct(p, ProductVariantUpdated{ProductID: "p1", SKU: "TEE-RED-M", Attributes: map[string]string{"x": "y"}})
	_ = EvolveProduct(p, ProductPriceChanged{ProductID: "p1", SKU: "TEE-RED-L", NewPrice: eur(1)})
	if p.Variants[0].Attributes["colour"] != "red" || p.Variants[1].Price != before.Variants[1].Price {
		t.Fatal("Evolve mutated its input")
	}
	// and folding never mutates the events it was given
	if teeCreated.Variants[1].Price != eur(2199) {
		t.Fatal("Fold mutated an event")
	}
}
