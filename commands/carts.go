package commands

import (
	"context"
	"fmt"

	"github.com/orderengine/orderengine/domain"
)

// ReceiveStock books incoming units (admin). The SKU must be in the catalog, else
// domain.ErrNotFound.
func (s *Service) ReceiveStock(ctx context.Context, cmd domain.ReceiveStock, meta Meta) (Result[domain.Inventory], error) {
	if err := adminOnly(meta); err != nil {
		return Result[domain.Inventory]{}, err
	}
	if _, err := s.ProductBySKU(ctx, cmd.SKU); err != nil {
		return Result[domain.Inventory]{}, err
	}
	return Execute(ctx, s.rt, s.inventory, cmd, meta)
}

// AdjustStock corrects on-hand stock (admin); the SKU must be in the catalog.
func (s *Service) AdjustStock(ctx context.Context, cmd domain.AdjustStock, meta Meta) (Result[domain.Inventory], error) {
	if err := adminOnly(meta); err != nil {
		return Result[domain.Inventory]{}, err
	}
	if _, err := s.ProductBySKU(ctx, cmd.SKU); err != nil {
		return Result[domain.Inventory]{}, err
	}
	return Execute(ctx, s.rt, s.inventory, cmd, meta)
}

// Inventory reads a SKU's stock; a catalog SKU with no stock movements yet is a zero
// Inventory (Exists false), not an error.
func (s *Service) Inventory(ctx context.Context, sku string) (Loaded[domain.Inventory], error) {
	if _, err := s.ProductBySKU(ctx, sku); err != nil {
		return Loaded[domain.Inventory]{}, err
	}
	return Load(ctx, s.rt, s.inventory, sku)
}

// CreatePromotion creates a coupon code (admin); the code is normalized (trimmed, upper case).
func (s *Service) CreatePromotion(ctx context.Context, cmd domain.CreatePromotion, meta Meta) (Result[domain.Promotion], error) {
	if err := adminOnly(meta); err != nil {
		return Result[domain.Promotion]{}, err
	}
	cmd.Coupon.Code = domain.NormalizeCouponCode(cmd.Coupon.Code)
	if err := domain.ValidateCouponCode("coupon.code", cmd.Coupon.Code); err != nil {
		return Result[domain.Promotion]{}, err
	}
	return Execute(ctx, s.rt, s.promotions, cmd, meta)
}

// DeactivatePromotion stops new redemptions of a code (admin).
func (s *Service) DeactivatePromotion(ctx context.Context, code string, meta Meta) (Result[domain.Promotion], error) {
	if err := adminOnly(meta); err != nil {
		return Result[domain.Promotion]{}, err
	}
	code = domain.NormalizeCouponCode(code)
	if domain.ValidateCouponCode("code", code) != nil {
		return Result[domain.Promotion]{}, fmt.Errorf("%w: coupon %s does not exist", domain.ErrNotFound, code)
	}
	return Execute(ctx, s.rt, s.promotions, domain.DeactivatePromotion{Code: code}, meta)
}

// CreateCart opens a cart. CartID may be empty: it is then generated, or derived from
// meta.IdempotencyKey (keyed by ServiceOptions.IDKey) so a retry addresses the same cart.
// For a customer, CustomerID defaults to meta.Customer and may not name anyone else. A
// customer's cart takes one of their MaxOpenCarts slots first (ErrTooManyOpenCarts).
func (s *Service) CreateCart(ctx context.Context, cmd domain.CreateCart, meta Meta) (Result[domain.Cart], error) {
	if meta.Customer != "" {
		if cmd.CustomerID != "" && cmd.CustomerID != meta.Customer {
			return Result[domain.Cart]{}, validation("customerId", "must be your own")
		}
		cmd.CustomerID = meta.Customer
	}
	if cmd.CartID == "" {
		cmd.CartID = s.newID("cart", meta)
	}
	if err := domain.ValidateID("cartId", cmd.CartID); err != nil {
		return Result[domain.Cart]{}, err
	}
	if cmd.CustomerID != "" {
		if err := domain.ValidateCurrency(cmd.Currency); err != nil {
			return Result[domain.Cart]{}, err // before a slot is taken
		}
		if err := s.reserveCartSlot(ctx, cmd.CustomerID, cmd.CartID, meta.step("slot")); err != nil {
			return Result[domain.Cart]{}, err
		}
	}
	return Execute(ctx, s.rt, s.carts, cmd, meta)
}

// AddCartItem adds quantity units of sku. The unit price, product id and name come from
// the catalog at this moment, never from the client; an unknown SKU is domain.ErrNotFound,
// an archived product's domain.ErrValidation.
func (s *Service) AddCartItem(ctx context.Context, cartID, sku string, quantity int64, meta Meta) (Result[domain.Cart], error) {
	if err := domain.ValidateSKU("sku", sku); err != nil {
		return Result[domain.Cart]{}, err
	}
	p, err := s.ProductBySKU(ctx, sku)
	if err != nil {
		return Result[domain.Cart]{}, err
	}
	price, err := p.State.PriceOf(sku)
	if err != nil {
		return Result[domain.Cart]{}, err
	}
	return s.cartCommand(ctx, domain.AddCartItem{
		CartID: cartID, SKU: sku, Quantity: quantity,
		ProductID: p.State.ID, Name: p.State.Name, UnitPrice: price,
	}, meta)
}

// ChangeCartItemQuantity sets a line's quantity; 0 removes the line.
func (s *Service) ChangeCartItemQuantity(ctx context.Context, cartID, sku string, quantity int64, meta Meta) (Result[domain.Cart], error) {
	return s.cartCommand(ctx, domain.ChangeCartItemQuantity{CartID: cartID, SKU: sku, Quantity: quantity}, meta)
}

// RemoveCartItem removes a line.
func (s *Service) RemoveCartItem(ctx context.Context, cartID, sku string, meta Meta) (Result[domain.Cart], error) {
	return s.cartCommand(ctx, domain.RemoveCartItem{CartID: cartID, SKU: sku}, meta)
}

// ApplyCoupon attaches a coupon code with the terms of its promotion (never the client's).
// An unknown or deactivated code is domain.ErrCouponNotApplicable (not ErrNotFound, which
// would read as "no such cart"); a used-up one domain.ErrCouponExhausted. The usage limit
// is enforced again, atomically, when the checkout saga redeems the code.
func (s *Service) ApplyCoupon(ctx context.Context, cartID, code string, meta Meta) (Result[domain.Cart], error) {
	code = domain.NormalizeCouponCode(code)
	if err := domain.ValidateCouponCode("code", code); err != nil {
		return Result[domain.Cart]{}, err
	}
	p, err := Load(ctx, s.rt, s.promotions, code)
	if err != nil {
		return Result[domain.Cart]{}, err
	}
	switch {
	case !p.Exists:
		return Result[domain.Cart]{}, fmt.Errorf("%w: coupon %s does not exist", domain.ErrCouponNotApplicable, code)
	case p.State.Status != domain.PromotionStatusActive:
		return Result[domain.Cart]{}, fmt.Errorf("%w: coupon %s is no longer active", domain.ErrCouponNotApplicable, code)
	case p.State.UsageLimit > 0 && p.State.Uses() >= p.State.UsageLimit:
		return Result[domain.Cart]{}, fmt.Errorf("%w: coupon %s has been used %d of %d times", domain.ErrCouponExhausted, code, p.State.Uses(), p.State.UsageLimit)
	}
	return s.cartCommand(ctx, domain.ApplyCoupon{CartID: cartID, Coupon: p.State.Coupon}, meta)
}

// RemoveCoupon detaches a coupon code from the cart.
func (s *Service) RemoveCoupon(ctx context.Context, cartID, code string, meta Meta) (Result[domain.Cart], error) {
	return s.cartCommand(ctx, domain.RemoveCoupon{CartID: cartID, Code: code}, meta)
}

// SetShippingAddress sets the destination, which also decides the tax rate.
func (s *Service) SetShippingAddress(ctx context.Context, cartID string, addr domain.Address, meta Meta) (Result[domain.Cart], error) {
	return s.cartCommand(ctx, domain.SetShippingAddress{CartID: cartID, Address: addr}, meta)
}

// cartCommand runs a command on an existing cart; an id that cannot name a cart is
// domain.ErrNotFound, like any other unknown cart.
func (s *Service) cartCommand(ctx context.Context, cmd domain.CartCommand, meta Meta) (Result[domain.Cart], error) {
	if domain.ValidateID("cartId", cmd.AggregateID()) != nil {
		return Result[domain.Cart]{}, hidden(s.carts.Category, cmd.AggregateID())
	}
	return Execute(ctx, s.rt, s.carts, cmd, meta)
}

// Cart reads a cart: domain.ErrNotFound when it does not exist or, with meta.Customer set,
// belongs to someone else.
func (s *Service) Cart(ctx context.Context, cartID string, meta Meta) (Loaded[domain.Cart], error) {
	return loadOwned(ctx, s.rt, s.carts, cartID, meta)
}

// Order reads an order: domain.ErrNotFound when it does not exist or, with meta.Customer
// set, belongs to someone else.
func (s *Service) Order(ctx context.Context, orderID string, meta Meta) (Loaded[domain.Order], error) {
	return loadOwned(ctx, s.rt, s.orders, orderID, meta)
}

func loadOwned[S any, C domain.Command](ctx context.Context, rt *Runtime, d domain.Decider[S, C], id string, meta Meta) (Loaded[S], error) {
	if domain.ValidateID("id", id) != nil { // not a stream name we could have written
		return Loaded[S]{}, hidden(d.Category, id)
	}
	l, err := Load(ctx, rt, d, id)
	if err != nil {
		return Loaded[S]{}, err
	}
	if err := CheckOwner(rt, d, id, l, meta.Customer); err != nil {
		return Loaded[S]{}, err
	}
	return l, nil
}
