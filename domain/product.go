package domain

import (
	"maps"
	"slices"
	"strconv"
	"time"
)

// ProductStatus is the catalog lifecycle of a product.
type ProductStatus string

const (
	ProductStatusActive   ProductStatus = "active"
	ProductStatusArchived ProductStatus = "archived" // no longer sold; kept for history
)

// Variant is one sellable version of a product (a colour/size combination) with its own
// SKU and price.
type Variant struct {
	SKU        string            `json:"sku"`
	Attributes map[string]string `json:"attributes,omitempty"` // e.g. colour=red, size=M
	Price      Money             `json:"price"`
}

// ProductDetails are the descriptive fields of a product.
type ProductDetails struct {
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Category    string            `json:"category"`
	Brand       string            `json:"brand"`
	Images      []string          `json:"images,omitempty"` // URLs
	Metadata    map[string]string `json:"metadata,omitempty"`
}

func (d ProductDetails) equal(o ProductDetails) bool {
	return d.Name == o.Name && d.Description == o.Description && d.Category == o.Category &&
		d.Brand == o.Brand && slices.Equal(d.Images, o.Images) && maps.Equal(d.Metadata, o.Metadata)
}

func (d ProductDetails) clone() ProductDetails {
	d.Images = cloneSlice(d.Images)
	d.Metadata = cloneMap(d.Metadata)
	return d
}

func (d ProductDetails) validate(p *problems) {
	validateText(p, "name", d.Name, MaxNameLength, true)
	validateMultiline(p, "description", d.Description, MaxTextLength, false)
	validateText(p, "category", d.Category, MaxNameLength, false)
	validateText(p, "brand", d.Brand, MaxNameLength, false)
	if len(d.Images) > MaxImages {
		p.add("images", "at most %d images", MaxImages)
	}
	for i, img := range d.Images {
		validateText(p, fieldIndex("images", i), img, 2048, true)
	}
	validateStringMap(p, "metadata", d.Metadata)
}

// Product is the state of a catalog product. The zero value is a product that does not exist.
type Product struct {
	ID  string `json:"id"`
	SKU string `json:"sku"` // the product's own SKU, sold as such when it has no variants
	ProductDetails
	Price     Money         `json:"price"` // base price; every price of a product is in its currency
	Variants  []Variant     `json:"variants,omitempty"`
	Status    ProductStatus `json:"status"`
	CreatedAt time.Time     `json:"createdAt"`
	UpdatedAt time.Time     `json:"updatedAt"`
}

// Exists reports whether the product has been created.
func (p Product) Exists() bool { return p.Status != "" }

// SKUs lists the sellable SKUs: the variants' when there are any, else the product's own.
func (p Product) SKUs() []string {
	if len(p.Variants) == 0 {
		return []string{p.SKU}
	}
	skus := make([]string, len(p.Variants))
	for i, v := range p.Variants {
		skus[i] = v.SKU
	}
	return skus
}

// PriceOf is the current catalog price of a sellable SKU. Command handlers use it to fill
// cart commands: prices never come from the client.
func (p Product) PriceOf(sku string) (Money, error) {
	if !p.Exists() {
		return Money{}, notFound("product", p.ID)
	}
	if p.Status == ProductStatusArchived {
		return Money{}, invalid("sku", "%s is no longer sold (product archived)", sku)
	}
	if len(p.Variants) == 0 && sku == p.SKU {
		return p.Price, nil
	}
	if i := p.variantIndex(sku); i >= 0 {
		return p.Variants[i].Price, nil
	}
	return Money{}, notFound("SKU", sku)
}

func (p Product) variantIndex(sku string) int {
	return slices.IndexFunc(p.Variants, func(v Variant) bool { return v.SKU == sku })
}

// ProductCommand is a command to the Product decider.
type ProductCommand interface {
	Command
	productCommand()
}

// CreateProduct adds a product to the catalog.
type CreateProduct struct {
	ProductID string
	SKU       string
	ProductDetails
	Price    Money
	Variants []Variant
}

// UpdateProductDetails changes descriptive fields; nil fields are left as they are.
type UpdateProductDetails struct {
	ProductID   string
	Name        *string
	Description *string
	Category    *string
	Brand       *string
	Images      *[]string
	Metadata    *map[string]string
}

// AddVariant adds a sellable variant.
type AddVariant struct {
	ProductID string
	Variant   Variant
}

// UpdateVariant changes a variant's attributes and/or price; nil fields are left as they are.
type UpdateVariant struct {
	ProductID  string
	SKU        string
	Attributes map[string]string
	Price      *Money
}

// ChangePrice sets the price of a variant, or the base price when SKU is the product's SKU.
type ChangePrice struct {
	ProductID string
	SKU       string
	Price     Money
}

// ArchiveProduct stops selling a product.
type ArchiveProduct struct {
	ProductID string
	Reason    string
}

func (c CreateProduct) AggregateID() string        { return c.ProductID }
func (c UpdateProductDetails) AggregateID() string { return c.ProductID }
func (c AddVariant) AggregateID() string           { return c.ProductID }
func (c UpdateVariant) AggregateID() string        { return c.ProductID }
func (c ChangePrice) AggregateID() string          { return c.ProductID }
func (c ArchiveProduct) AggregateID() string       { return c.ProductID }
func (CreateProduct) productCommand()              {}
func (UpdateProductDetails) productCommand()       {}
func (AddVariant) productCommand()                 {}
func (UpdateVariant) productCommand()              {}
func (ChangePrice) productCommand()                {}
func (ArchiveProduct) productCommand()             {}

// Product events.
type (
	ProductCreated struct {
		ProductID string `json:"productId"`
		SKU       string `json:"sku"`
		ProductDetails
		Price    Money     `json:"price"`
		Variants []Variant `json:"variants,omitempty"`
		At       time.Time `json:"at"`
	}
	// ProductDetailsUpdated carries the complete details after the change.
	ProductDetailsUpdated struct {
		ProductID string `json:"productId"`
		ProductDetails
		At time.Time `json:"at"`
	}
	ProductVariantAdded struct {
		ProductID string    `json:"productId"`
		Variant   Variant   `json:"variant"`
		At        time.Time `json:"at"`
	}
	ProductVariantUpdated struct {
		ProductID  string            `json:"productId"`
		SKU        string            `json:"sku"`
		Attributes map[string]string `json:"attributes,omitempty"`
		At         time.Time         `json:"at"`
	}
	ProductPriceChanged struct {
		ProductID string    `json:"productId"`
		SKU       string    `json:"sku"`
		OldPrice  Money     `json:"oldPrice"`
		NewPrice  Money     `json:"newPrice"`
		At        time.Time `json:"at"`
	}
	ProductArchived struct {
		ProductID string    `json:"productId"`
		Reason    string    `json:"reason,omitempty"`
		At        time.Time `json:"at"`
	}
)

func (ProductCreated) EventType() string        { return "product.created" }
func (ProductDetailsUpdated) EventType() string { return "product.details_updated" }
func (ProductVariantAdded) EventType() string   { return "product.variant_added" }
func (ProductVariantUpdated) EventType() string { return "product.variant_updated" }
func (ProductPriceChanged) EventType() string   { return "product.price_changed" }
func (ProductArchived) EventType() string       { return "product.archived" }

// NewProductDecider returns the Product decider.
func NewProductDecider() Decider[Product, ProductCommand] {
	return newDecider[Product, ProductCommand](CategoryProduct, DecideProduct)
}

// EvolveProduct applies one event to a product.
func EvolveProduct(s Product, e Event) Product { return evolve(s, e) }

// FoldProduct applies events in order.
func FoldProduct(s Product, events []Event) Product { return fold(s, events) }

// DecideProduct decides a catalog command.
func DecideProduct(s Product, c ProductCommand, now time.Time) ([]Event, error) {
	now = now.UTC()
	if create, ok := c.(CreateProduct); ok {
		return decideCreateProduct(s, create, now)
	}
	if !s.Exists() {
		return nil, notFound("product", c.AggregateID())
	}
	if s.Status == ProductStatusArchived {
		if _, ok := c.(ArchiveProduct); ok {
			return nil, nil // already archived
		}
		return nil, illegal("product", s.ID, string(s.Status), "change", "archived products cannot be changed")
	}
	switch c := c.(type) {
	case UpdateProductDetails:
		d := s.ProductDetails.clone()
		setIf(&d.Name, c.Name)
		setIf(&d.Description, c.Description)
		setIf(&d.Category, c.Category)
		setIf(&d.Brand, c.Brand)
		if c.Images != nil {
			d.Images = cloneSlice(*c.Images)
		}
		if c.Metadata != nil {
			d.Metadata = cloneMap(*c.Metadata)
		}
		var p problems
		d.validate(&p)
		if err := p.err(); err != nil {
			return nil, err
		}
		if d.equal(s.ProductDetails) {
			return nil, nil
		}
		return []Event{ProductDetailsUpdated{ProductID: s.ID, ProductDetails: d, At: now}}, nil

	case AddVariant:
		var p problems
		validateVariant(&p, "variant", c.Variant, s.Price.Currency)
		if err := p.err(); err != nil {
			return nil, err
		}
		if c.Variant.SKU == s.SKU || s.variantIndex(c.Variant.SKU) >= 0 {
			return nil, alreadyExists("variant", c.Variant.SKU)
		}
		if len(s.Variants) >= MaxVariants {
			return nil, invalid("variant", "a product has at most %d variants", MaxVariants)
		}
		v := c.Variant
		v.Attributes = cloneMap(v.Attributes)
		return []Event{ProductVariantAdded{ProductID: s.ID, Variant: v, At: now}}, nil

	case UpdateVariant:
		i := s.variantIndex(c.SKU)
		if i < 0 {
			return nil, notFound("variant", c.SKU)
		}
		cur := s.Variants[i]
		var p problems
		validateStringMap(&p, "attributes", c.Attributes)
		if c.Price != nil {
			validatePrice(&p, "price", *c.Price, s.Price.Currency)
		}
		if err := p.err(); err != nil {
			return nil, err
		}
		var events []Event
		if c.Attributes != nil && !maps.Equal(c.Attributes, cur.Attributes) {
			events = append(events, ProductVariantUpdated{ProductID: s.ID, SKU: c.SKU, Attributes: cloneMap(c.Attributes), At: now})
		}
		if c.Price != nil && *c.Price != cur.Price {
			events = append(events, ProductPriceChanged{ProductID: s.ID, SKU: c.SKU, OldPrice: cur.Price, NewPrice: *c.Price, At: now})
		}
		return events, nil

	case ChangePrice:
		var p problems
		validatePrice(&p, "price", c.Price, s.Price.Currency)
		if err := p.err(); err != nil {
			return nil, err
		}
		old := s.Price
		if c.SKU != s.SKU {
			i := s.variantIndex(c.SKU)
			if i < 0 {
				return nil, notFound("SKU", c.SKU)
			}
			old = s.Variants[i].Price
		}
		if old == c.Price {
			return nil, nil
		}
		return []Event{ProductPriceChanged{ProductID: s.ID, SKU: c.SKU, OldPrice: old, NewPrice: c.Price, At: now}}, nil

	case ArchiveProduct:
		var p problems
		validateText(&p, "reason", c.Reason, MaxNameLength, false)
		if err := p.err(); err != nil {
			return nil, err
		}
		return []Event{ProductArchived{ProductID: s.ID, Reason: c.Reason, At: now}}, nil
	}
	return nil, invalid("", "unsupported product command %T", c)
}

func decideCreateProduct(s Product, c CreateProduct, now time.Time) ([]Event, error) {
	if s.Exists() {
		return nil, alreadyExists("product", s.ID)
	}
	var p problems
	p.addErr("productId", ValidateID("", c.ProductID))
	p.addErr("sku", ValidateSKU("", c.SKU))
	c.ProductDetails.validate(&p)
	validatePrice(&p, "price", c.Price, c.Price.Currency)
	if len(c.Variants) > MaxVariants {
		p.add("variants", "at most %d variants", MaxVariants)
	}
	seen := map[string]bool{c.SKU: true}
	for i, v := range c.Variants {
		f := fieldIndex("variants", i)
		validateVariant(&p, f, v, c.Price.Currency)
		if seen[v.SKU] {
			p.add(f+".sku", "%s is used twice in this product", v.SKU)
		}
		seen[v.SKU] = true
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	variants := make([]Variant, len(c.Variants))
	for i, v := range c.Variants {
		v.Attributes = cloneMap(v.Attributes)
		variants[i] = v
	}
	if len(variants) == 0 {
		variants = nil
	}
	return []Event{ProductCreated{
		ProductID: c.ProductID, SKU: c.SKU, ProductDetails: c.ProductDetails.clone(),
		Price: c.Price, Variants: variants, At: now,
	}}, nil
}

func validateVariant(p *problems, field string, v Variant, currency string) {
	p.addErr(field+".sku", ValidateSKU("", v.SKU))
	validateStringMap(p, field+".attributes", v.Attributes)
	validatePrice(p, field+".price", v.Price, currency)
}

// validatePrice checks a catalog price: non-negative, in the product's currency.
func validatePrice(p *problems, field string, m Money, currency string) {
	switch {
	case m.Validate() != nil:
		p.add(field, "must be an amount in a supported currency")
	case m.IsNegative():
		p.add(field, "must not be negative")
	case m.Currency != currency:
		p.add(field, "must be in %s like the product's other prices", currency)
	}
}

func validateStringMap(p *problems, field string, m map[string]string) {
	if len(m) > MaxMetadataEntries {
		p.add(field, "at most %d entries", MaxMetadataEntries)
		return
	}
	for _, k := range sortedKeys(m) {
		validateText(p, field, k, 64, true)
		validateText(p, field+"."+k, m[k], 1000, false)
	}
}

func setIf(dst *string, v *string) {
	if v != nil {
		*dst = *v
	}
}

func fieldIndex(field string, i int) string {
	return field + "[" + strconv.Itoa(i) + "]"
}

func (s Product) clone() Product {
	s.ProductDetails = s.ProductDetails.clone()
	s.Variants = cloneSlice(s.Variants)
	return s
}

func (s *Product) apply(e Event) {
	switch e := e.(type) {
	case ProductCreated:
		*s = Product{
			ID: e.ProductID, SKU: e.SKU, ProductDetails: e.ProductDetails.clone(), Price: e.Price,
			Variants: cloneSlice(e.Variants), Status: ProductStatusActive, CreatedAt: e.At, UpdatedAt: e.At,
		}
	case ProductDetailsUpdated:
		s.ProductDetails = e.ProductDetails.clone()
		s.UpdatedAt = e.At
	case ProductVariantAdded:
		s.Variants = append(s.Variants, e.Variant)
		s.UpdatedAt = e.At
	case ProductVariantUpdated:
		if i := s.variantIndex(e.SKU); i >= 0 {
			s.Variants[i].Attributes = cloneMap(e.Attributes)
		}
		s.UpdatedAt = e.At
	case ProductPriceChanged:
		if e.SKU == s.SKU {
			s.Price = e.NewPrice
		} else if i := s.variantIndex(e.SKU); i >= 0 {
			s.Variants[i].Price = e.NewPrice
		}
		s.UpdatedAt = e.At
	case ProductArchived:
		s.Status = ProductStatusArchived
		s.UpdatedAt = e.At
	}
}
