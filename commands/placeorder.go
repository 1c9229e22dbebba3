package commands

import (
	"context"
	"errors"
	"fmt"

	"github.com/orderengine/orderengine/checkout/request"
	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/envelope"
	"github.com/orderengine/orderengine/eventstore"
)

// PlaceOrderInput is a checkout request.
type PlaceOrderInput struct {
	CartID string
	// OrderID is optional; when set it must be OrderIDForCart(CartID): a cart becomes at
	// most one order, under an id derived from the cart's.
	OrderID string
	// ShippingAddress, when set, is first set on the cart (it decides the tax); otherwise
	// the cart's own is used.
	ShippingAddress *domain.Address
	// BillingAddress defaults to the shipping address.
	BillingAddress *domain.Address
	// PaymentToken is the gateway token (e.g. "tok_visa"); never card data.
	PaymentToken string
}

// PlaceOrder turns the customer's cart into an order and checks the cart out.
//
// Steps, each idempotent, so a retry after a crash anywhere completes the same order:
//
//  1. validate everything (cart checkout-ready, order lines and addresses, token);
//  2. record the checkout request — one checkoutrequest.recorded event (request.Recorded,
//     package checkout/request) at version 0 of stream "checkoutrequest-<orderId>",
//     holding the payment token;
//  3. append order.placed to "order-<orderId>"; its couponCode is the cart's applied
//     coupon, for the saga to redeem;
//  4. check the cart out into the order (cart.checked_out).
//
// For the checkout saga: when it sees order.placed, the payment token is already durable in
// "checkoutrequest-<orderId>" version 0 (step 2 precedes step 3); read it with
// request.Read. The first recorded request wins: a retry carrying another token does
// not replace it. The order, not the cart, is authoritative: the saga must not wait for
// cart.checked_out (step 4 may be completed by a later retry).
//
// The order id is OrderIDForCart(cartID), so concurrent or repeated calls for one cart
// converge on one order. A cart already checked out into it returns the existing order with
// Replayed set (Replayed is also set when this call only completed step 4). Errors: the
// cart missing or someone else's → domain.ErrNotFound; empty cart, missing address or
// token → domain.ErrValidation; a cart checked out into another order →
// domain.ErrIllegalTransition. meta.IfMatch, when set, is the cart version the client last
// saw (ErrPreconditionFailed otherwise); it is not checked when the order already exists.
func (s *Service) PlaceOrder(ctx context.Context, in PlaceOrderInput, meta Meta) (Result[domain.Order], error) {
	if domain.ValidateID("cartId", in.CartID) != nil {
		return Result[domain.Order]{}, hidden(s.carts.Category, in.CartID)
	}
	orderID := OrderIDForCart(in.CartID)
	if in.OrderID != "" && in.OrderID != orderID {
		return Result[domain.Order]{}, validation("orderId", "must be empty or %s, the order id of cart %s", orderID, in.CartID)
	}
	if err := validateToken(in.PaymentToken); err != nil {
		return Result[domain.Order]{}, err
	}
	res, err := s.placeOrder(ctx, in, orderID, meta)
	if errors.Is(err, domain.ErrIllegalTransition) {
		// a concurrent call for the same cart may have checked it out meanwhile
		if cart, lerr := loadOwned(ctx, s.rt, s.carts, in.CartID, meta); lerr == nil && cart.State.OrderID == orderID {
			return s.placedOrder(ctx, orderID, cart.Position, nil, meta)
		}
	}
	return res, err
}

func (s *Service) placeOrder(ctx context.Context, in PlaceOrderInput, orderID string, meta Meta) (Result[domain.Order], error) {
	cart, err := loadOwned(ctx, s.rt, s.carts, in.CartID, meta)
	if err != nil {
		return Result[domain.Order]{}, err
	}
	ifMatch := meta.IfMatch // the cart's version, checked once below; not for each append
	meta.IfMatch = nil
	if cart.State.Status == domain.CartStatusCheckedOut {
		if cart.State.OrderID != orderID {
			return Result[domain.Order]{}, &domain.TransitionError{Aggregate: "cart", ID: in.CartID, State: string(cart.State.Status), Action: "check out", Reason: "it became order " + cart.State.OrderID}
		}
		return s.placedOrder(ctx, orderID, cart.Position, nil, meta)
	}
	order, err := Load(ctx, s.rt, s.orders, orderID)
	if err != nil {
		return Result[domain.Order]{}, err
	}
	var placed []domain.Event
	if order.Exists {
		// an earlier call crashed after step 3: make sure step 2 happened, then finish
		o := order.State
		cr := request.Recorded{OrderID: o.ID, CartID: o.CartID, CustomerID: o.CustomerID, PaymentToken: in.PaymentToken, CouponCode: o.CouponCode}
		if err := s.recordCheckoutRequest(ctx, cr, meta.step("request")); err != nil {
			return Result[domain.Order]{}, err
		}
	} else {
		if ifMatch != nil && cart.Version != *ifMatch {
			return Result[domain.Order]{}, fmt.Errorf("%w: %s is at version %d, not %d", ErrPreconditionFailed, cart.Stream, cart.Version, *ifMatch)
		}
		build := func(c domain.Cart) (domain.PlaceOrder, error) {
			now := s.rt.now()
			if in.ShippingAddress != nil {
				evs, err := s.opt.Pricing.DecideCart(c, domain.SetShippingAddress{CartID: in.CartID, Address: *in.ShippingAddress}, now)
				if err != nil {
					return domain.PlaceOrder{}, err
				}
				c = domain.FoldCart(c, evs)
			}
			billing := in.BillingAddress
			if billing == nil {
				billing = c.ShippingAddress
			}
			if billing == nil {
				billing = &domain.Address{} // CheckOutCart reports the missing address
			}
			po := domain.PlaceOrderFromCart(orderID, c, *billing)
			if _, err := s.opt.Pricing.DecideCart(c, domain.CheckOutCart{CartID: in.CartID, OrderID: orderID}, now); err != nil {
				return po, err
			}
			_, err := domain.DecideOrder(domain.Order{}, po, now)
			return po, err
		}
		// validate every write before making any, so a bad request leaves nothing behind
		po, err := build(cart.State)
		if err != nil {
			return Result[domain.Order]{}, err
		}
		if in.ShippingAddress != nil {
			r, err := Execute(ctx, s.rt, s.carts, domain.SetShippingAddress{CartID: in.CartID, Address: *in.ShippingAddress}, meta.step("shipping"))
			if err != nil {
				return Result[domain.Order]{}, err
			}
			if po, err = build(r.State); err != nil { // the cart as it is now
				return Result[domain.Order]{}, err
			}
		}
		cr := request.Recorded{OrderID: orderID, CartID: po.CartID, CustomerID: po.CustomerID, PaymentToken: in.PaymentToken, CouponCode: po.CouponCode}
		if err := s.recordCheckoutRequest(ctx, cr, meta.step("request")); err != nil {
			return Result[domain.Order]{}, err
		}
		r, err := Execute(ctx, s.rt, s.orders, po, meta.step("order"))
		switch {
		case errors.Is(err, domain.ErrAlreadyExists): // a concurrent call placed it
		case err != nil:
			return Result[domain.Order]{}, err
		default:
			placed = r.Events
		}
	}
	co, err := Execute(ctx, s.rt, s.carts, domain.CheckOutCart{CartID: in.CartID, OrderID: orderID}, meta.step("checkout"))
	if err != nil {
		return Result[domain.Order]{}, err
	}
	return s.placedOrder(ctx, orderID, co.Position, placed, meta)
}

// placedOrder reads the order back; placed are the events this call appended (none: Replayed).
func (s *Service) placedOrder(ctx context.Context, orderID string, cartPosition uint64, placed []domain.Event, meta Meta) (Result[domain.Order], error) {
	o, err := loadOwned(ctx, s.rt, s.orders, orderID, meta)
	if err != nil {
		return Result[domain.Order]{}, err
	}
	return Result[domain.Order]{
		State: o.State, Stream: o.Stream, Version: o.Version,
		Position: max(o.Position, cartPosition), // read-your-writes must cover the cart too
		Events:   placed, Replayed: len(placed) == 0,
	}, nil
}

// recordCheckoutRequest writes step 2 once: every writer uses the same event id at
// NoStream, so the first one's token stays and later ones are no-ops.
func (s *Service) recordCheckoutRequest(ctx context.Context, cr request.Recorded, meta Meta) error {
	stream := request.StreamName(cr.OrderID)
	id := envelope.DeterministicID("checkoutrequest", stream, 0)
	cr.At = s.rt.now().UTC()
	_, err := s.appendEvent(ctx, stream, eventstore.NoStream, id, cr, meta)
	if err != nil && !errors.Is(err, eventstore.ErrWrongExpectedVersion) {
		return fmt.Errorf("record checkout request: %w", err)
	}
	return nil
}

func validateToken(token string) error {
	if token == "" {
		return validation("payment.token", "is required")
	}
	if len(token) > 255 {
		return validation("payment.token", "must be at most 255 characters")
	}
	for _, r := range token {
		if r <= ' ' || r >= 0x7f {
			return validation("payment.token", "must be printable ASCII without spaces")
		}
	}
	return nil
}
