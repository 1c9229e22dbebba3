package commands

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/google/uuid"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/envelope"
	"github.com/orderengine/orderengine/eventstore"
)

// SKUs are unique across products. A product's SKUs are claimed in "sku-<SKU>" index
// streams (NoStream, or exact version after a release) before the product is written, and
// claims the product did not end up using are released when its creation fails. A claim
// by the same product id is its own (a retried create passes), and a claim whose product
// never appeared is taken over after ServiceOptions.ClaimGrace.

func skuStream(sku string) string { return CategorySKU + "-" + sku }

type skuOwner struct {
	exists  bool // the index stream exists
	version uint64
	owner   string // product id; empty when released
	claim   SKUClaimed
}

func (s *Service) readSKU(ctx context.Context, sku string) (skuOwner, error) {
	evs, recs, err := s.readEvents(ctx, skuStream(sku), eventstore.Backward, eventstore.End, 1)
	if err != nil || len(evs) == 0 {
		return skuOwner{}, err
	}
	o := skuOwner{exists: true, version: recs[0].Version}
	if c, ok := evs[0].(SKUClaimed); ok {
		o.owner, o.claim = c.ProductID, c
	}
	return o, nil
}

func hasSKU(p domain.Product, sku string) bool {
	return p.Exists() && (p.SKU == sku || slices.ContainsFunc(p.Variants, func(v domain.Variant) bool { return v.SKU == sku }))
}

// claimSKU makes productID the owner of sku.
func (s *Service) claimSKU(ctx context.Context, sku, productID string, meta Meta) error {
	stream := skuStream(sku)
	for attempt := 0; attempt < s.rt.maxRetries; attempt++ {
		o, err := s.readSKU(ctx, sku)
		if err != nil {
			return err
		}
		if o.owner == productID {
			return nil
		}
		if o.owner != "" {
			taken := fmt.Errorf("%w: SKU %s is already used by product %s", domain.ErrAlreadyExists, sku, o.owner)
			if s.rt.now().Sub(o.claim.At) < s.opt.ClaimGrace {
				return taken
			}
			p, err := Load(ctx, s.rt, s.products, o.owner)
			if err != nil {
				return err
			}
			if hasSKU(p.State, sku) {
				return taken
			}
			s.rt.log.Warn("taking over a left-behind SKU claim", "sku", sku, "from", o.owner, "to", productID)
		}
		expected, next := eventstore.NoStream, uint64(0)
		if o.exists {
			expected, next = eventstore.Exact(o.version), o.version+1
		}
		// deterministic per (product, position): a retried append of this claim is a no-op
		id := envelope.DeterministicID("sku-claim:"+productID, stream, int(next))
		_, err = s.appendEvent(ctx, stream, expected, id, SKUClaimed{SKU: sku, ProductID: productID, At: s.rt.now().UTC()}, meta)
		if errors.Is(err, eventstore.ErrWrongExpectedVersion) {
			if err := backoff(ctx, attempt); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("claim SKU %s: %w", sku, err)
		}
		return nil
	}
	return fmt.Errorf("%w: claiming SKU %s", ErrConflict, sku)
}

// releaseUnused releases the claims productID holds on skus that its product (if any) does
// not use. It runs after a failed create or variant addition.
func (s *Service) releaseUnused(ctx context.Context, productID string, skus []string, reason string, meta Meta) {
	ctx, cancel := compensationContext(ctx)
	defer cancel()
	p, err := Load(ctx, s.rt, s.products, productID)
	if err != nil {
		s.rt.log.Error("releasing SKU claims: load product", "product", productID, "err", err)
		return
	}
	for _, sku := range skus {
		if hasSKU(p.State, sku) {
			continue
		}
		if err := s.releaseSKU(ctx, sku, productID, reason, meta); err != nil {
			// the claim is left behind; ClaimGrace lets the SKU be taken over later
			s.rt.log.Error("releasing SKU claim", "sku", sku, "product", productID, "err", err)
		}
	}
}

func (s *Service) releaseSKU(ctx context.Context, sku, productID, reason string, meta Meta) error {
	stream := skuStream(sku)
	for attempt := 0; attempt < s.rt.maxRetries; attempt++ {
		o, err := s.readSKU(ctx, sku)
		if err != nil || o.owner != productID {
			return err
		}
		_, err = s.appendEvent(ctx, stream, eventstore.Exact(o.version), uuid.New(),
			SKUReleased{SKU: sku, ProductID: productID, Reason: reason, At: s.rt.now().UTC()}, meta)
		if !errors.Is(err, eventstore.ErrWrongExpectedVersion) {
			return err
		}
	}
	return fmt.Errorf("%w: releasing SKU %s", ErrConflict, sku)
}

// claimAll claims skus (sorted, so concurrent creates contend on the same first SKU) and
// releases what it claimed if any claim fails.
func (s *Service) claimAll(ctx context.Context, productID string, skus []string, meta Meta) error {
	for _, sku := range skus {
		if err := s.claimSKU(ctx, sku, productID, meta); err != nil {
			s.releaseUnused(ctx, productID, skus, "product not created: "+err.Error(), meta)
			return err
		}
	}
	return nil
}

func productSKUs(c domain.CreateProduct) []string {
	skus := []string{c.SKU}
	for _, v := range c.Variants {
		skus = append(skus, v.SKU)
	}
	slices.Sort(skus)
	return slices.Compact(skus)
}

// CreateProduct adds a product (admin). ProductID may be empty: it is then generated, or
// derived from meta.IdempotencyKey so that a retry addresses the same product. SKU taken by
// another product → domain.ErrAlreadyExists.
func (s *Service) CreateProduct(ctx context.Context, cmd domain.CreateProduct, meta Meta) (Result[domain.Product], error) {
	if err := adminOnly(meta); err != nil {
		return Result[domain.Product]{}, err
	}
	if cmd.ProductID == "" {
		cmd.ProductID = s.newID("product", meta)
	}
	// validate before claiming anything
	if _, err := domain.DecideProduct(domain.Product{}, cmd, s.rt.now()); err != nil {
		return Result[domain.Product]{}, err
	}
	skus := productSKUs(cmd)
	if err := s.claimAll(ctx, cmd.ProductID, skus, meta.step("claim")); err != nil {
		return Result[domain.Product]{}, err
	}
	res, err := Execute(ctx, s.rt, s.products, cmd, meta)
	if err != nil {
		s.releaseUnused(ctx, cmd.ProductID, skus, "product not created", meta.step("release"))
		return res, err
	}
	// A concurrent failed attempt with the same product id may have released a claim
	// between our claim and the create; claim again (normally a read per SKU).
	for _, sku := range skus {
		if err := s.claimSKU(ctx, sku, cmd.ProductID, meta.step("claim")); err != nil {
			s.rt.log.Error("product created without its SKU claim", "product", cmd.ProductID, "sku", sku, "err", err)
		}
	}
	return res, nil
}

// UpdateProductDetails changes descriptive fields (admin).
func (s *Service) UpdateProductDetails(ctx context.Context, cmd domain.UpdateProductDetails, meta Meta) (Result[domain.Product], error) {
	if err := adminOnly(meta); err != nil {
		return Result[domain.Product]{}, err
	}
	return s.productCommand(ctx, cmd, meta)
}

// AddVariant adds a sellable variant (admin), claiming its SKU first.
func (s *Service) AddVariant(ctx context.Context, cmd domain.AddVariant, meta Meta) (Result[domain.Product], error) {
	if err := adminOnly(meta); err != nil {
		return Result[domain.Product]{}, err
	}
	if domain.ValidateID("productId", cmd.ProductID) != nil {
		return Result[domain.Product]{}, hidden(s.products.Category, cmd.ProductID)
	}
	cur, err := Load(ctx, s.rt, s.products, cmd.ProductID)
	if err != nil {
		return Result[domain.Product]{}, err
	}
	if hasSKU(cur.State, cmd.Variant.SKU) {
		return Execute(ctx, s.rt, s.products, cmd, meta) // a replay, or ErrAlreadyExists
	}
	if _, err := domain.DecideProduct(cur.State, cmd, s.rt.now()); err != nil {
		return Result[domain.Product]{}, err
	}
	if err := s.claimAll(ctx, cmd.ProductID, []string{cmd.Variant.SKU}, meta.step("claim")); err != nil {
		return Result[domain.Product]{}, err
	}
	res, err := Execute(ctx, s.rt, s.products, cmd, meta)
	if err != nil {
		s.releaseUnused(ctx, cmd.ProductID, []string{cmd.Variant.SKU}, "variant not added", meta.step("release"))
	}
	return res, err
}

// UpdateVariant changes a variant's attributes and/or price (admin).
func (s *Service) UpdateVariant(ctx context.Context, cmd domain.UpdateVariant, meta Meta) (Result[domain.Product], error) {
	if err := adminOnly(meta); err != nil {
		return Result[domain.Product]{}, err
	}
	return s.productCommand(ctx, cmd, meta)
}

// ChangePrice sets the price of a variant or of the product's own SKU (admin).
func (s *Service) ChangePrice(ctx context.Context, cmd domain.ChangePrice, meta Meta) (Result[domain.Product], error) {
	if err := adminOnly(meta); err != nil {
		return Result[domain.Product]{}, err
	}
	return s.productCommand(ctx, cmd, meta)
}

// ArchiveProduct stops selling a product (admin). Its SKUs stay claimed: their inventory
// streams and order history still refer to it.
func (s *Service) ArchiveProduct(ctx context.Context, cmd domain.ArchiveProduct, meta Meta) (Result[domain.Product], error) {
	if err := adminOnly(meta); err != nil {
		return Result[domain.Product]{}, err
	}
	return s.productCommand(ctx, cmd, meta)
}

// productCommand runs a command on an existing product; an id that cannot name a product
// is domain.ErrNotFound.
func (s *Service) productCommand(ctx context.Context, cmd domain.ProductCommand, meta Meta) (Result[domain.Product], error) {
	if domain.ValidateID("productId", cmd.AggregateID()) != nil {
		return Result[domain.Product]{}, hidden(s.products.Category, cmd.AggregateID())
	}
	return Execute(ctx, s.rt, s.products, cmd, meta)
}

// Product reads a product; domain.ErrNotFound when it does not exist.
func (s *Service) Product(ctx context.Context, productID string) (Loaded[domain.Product], error) {
	if err := domain.ValidateID("productId", productID); err != nil {
		return Loaded[domain.Product]{}, fmt.Errorf("%w: product %s does not exist", domain.ErrNotFound, productID)
	}
	l, err := Load(ctx, s.rt, s.products, productID)
	if err != nil {
		return l, err
	}
	return l, CheckOwner(s.rt, s.products, productID, l, "")
}

// ProductBySKU reads the product selling sku (archived ones included); domain.ErrNotFound
// when no product has it.
func (s *Service) ProductBySKU(ctx context.Context, sku string) (Loaded[domain.Product], error) {
	notFound := fmt.Errorf("%w: SKU %s does not exist", domain.ErrNotFound, sku)
	if domain.ValidateSKU("sku", sku) != nil {
		return Loaded[domain.Product]{}, notFound
	}
	o, err := s.readSKU(ctx, sku)
	if err != nil {
		return Loaded[domain.Product]{}, err
	}
	if o.owner == "" {
		return Loaded[domain.Product]{}, notFound
	}
	l, err := Load(ctx, s.rt, s.products, o.owner)
	if err != nil {
		return l, err
	}
	if !hasSKU(l.State, sku) { // claimed, but the product was never created or lacks it
		return Loaded[domain.Product]{}, notFound
	}
	return l, nil
}
