package domain

import (
	"slices"
	"time"
)

// CartStatus is the lifecycle of a cart.
type CartStatus string

const (
	CartStatusOpen       CartStatus = "open"
	CartStatusCheckedOut CartStatus = "checked_out" // immutable from then on
)

// Cart is the state of a shopping cart. The zero value does not exist.
type Cart struct {
	ID              string     `json:"id"`
	CustomerID      string     `json:"customerId"`
	Currency        string     `json:"currency"`
	Status          CartStatus `json:"status"`
	Lines           []Line     `json:"lines"`
	Coupon          *Coupon    `json:"coupon,omitempty"`
	ShippingAddress *Address   `json:"shippingAddress,omitempty"`
	// TaxCountry is the destination the lines were last taxed for: the shipping address's
	// country, or the tax table's default before there is one; empty until the first line.
	TaxCountry string    `json:"taxCountry,omitempty"`
	Totals     Totals    `json:"totals"`
	OrderID    string    `json:"orderId,omitempty"` // set by checkout
	CreatedAt  time.Time `json:"createdAt"`
	UpdatedAt  time.Time `json:"updatedAt"`
}

// Exists reports whether the cart has been created.
func (c Cart) Exists() bool { return c.Status != "" }

// Line returns the line of a SKU.
func (c Cart) Line(sku string) (Line, bool) {
	if i := c.lineIndex(sku); i >= 0 {
		return c.Lines[i], true
	}
	return Line{}, false
}

// AppliedCoupon is the coupon that actually discounts the cart (its minimum is met), or nil;
// checkout redeems only this one.
func (c Cart) AppliedCoupon() *Coupon {
	if c.Coupon == nil || c.Coupon.checkMinimum(c.Totals.Subtotal) != nil {
		return nil
	}
	cp := *c.Coupon
	return &cp
}

func (c Cart) lineIndex(sku string) int {
	return slices.IndexFunc(c.Lines, func(l Line) bool { return l.SKU == sku })
}

// CartCommand is a command to the Cart decider.
type CartCommand interface {
	Command
	cartCommand()
}

// CreateCart opens a cart for a customer in a currency.
type CreateCart struct {
	CartID     string
	CustomerID string
	Currency   string
}

// AddCartItem adds quantity units of a SKU (to its line if it has one). ProductID, Name and
// UnitPrice are filled in by the command handler from the catalog, never from the client.
type AddCartItem struct {
	CartID    string
	SKU       string
	Quantity  int64
	ProductID string
	Name      string
	UnitPrice Money
}

// ChangeCartItemQuantity sets a line's quantity; 0 removes the line.
type ChangeCartItemQuantity struct {
	CartID   string
	SKU      string
	Quantity int64
}

// RemoveCartItem removes a line.
type RemoveCartItem struct {
	CartID string
	SKU    string
}

// ApplyCoupon attaches a coupon; its terms are filled in by the handler from the promotion.
// Applying another code replaces the current one.
type ApplyCoupon struct {
	CartID string
	Coupon Coupon
}

// RemoveCoupon detaches the coupon with this code.
type RemoveCoupon struct {
	CartID string
	Code   string
}

// SetShippingAddress sets the destination, which also decides the tax rate.
type SetShippingAddress struct {
	CartID  string
	Address Address
}

// CheckOutCart freezes the cart for an order. Repeating it for the same order is a no-op.
type CheckOutCart struct {
	CartID  string
	OrderID string
}

func (c CreateCart) AggregateID() string             { return c.CartID }
func (c AddCartItem) AggregateID() string            { return c.CartID }
func (c ChangeCartItemQuantity) AggregateID() string { return c.CartID }
func (c RemoveCartItem) AggregateID() string         { return c.CartID }
func (c ApplyCoupon) AggregateID() string            { return c.CartID }
func (c RemoveCoupon) AggregateID() string           { return c.CartID }
func (c SetShippingAddress) AggregateID() string     { return c.CartID }
func (c CheckOutCart) AggregateID() string           { return c.CartID }
func (CreateCart) cartCommand()                      {}
func (AddCartItem) cartCommand()                     {}
func (ChangeCartItemQuantity) cartCommand()          {}
func (RemoveCartItem) cartCommand()                  {}
func (ApplyCoupon) cartCommand()                     {}
func (RemoveCoupon) cartCommand()                    {}
func (SetShippingAddress) cartCommand()              {}
func (CheckOutCart) cartCommand()                    {}

// PricedLine is the amounts of one cart line after repricing.
type PricedLine struct {
	SKU string `json:"sku"`
	LineAmounts
}

// Cart events. Item and coupon events record what the customer did; CartPriced follows
// each change that moves any amount and records the computed line amounts and totals.
type (
	CartCreated struct {
		CartID     string    `json:"cartId"`
		CustomerID string    `json:"customerId"`
		Currency   string    `json:"currency"`
		At         time.Time `json:"at"`
	}
	// CartItemAdded is schema version 2: version 1 carried the price as "unitPriceMinor"
	// plus a top-level "currency" (see upcastCartItemAddedV1).
	CartItemAdded struct {
		CartID    string    `json:"cartId"`
		SKU       string    `json:"sku"`
		ProductID string    `json:"productId"`
		Name      string    `json:"name"`
		Quantity  int64     `json:"quantity"`
		UnitPrice Money     `json:"unitPrice"`
		At        time.Time `json:"at"`
	}
	CartItemQuantityChanged struct {
		CartID   string    `json:"cartId"`
		SKU      string    `json:"sku"`
		Quantity int64     `json:"quantity"`
		At       time.Time `json:"at"`
	}
	CartItemRemoved struct {
		CartID string    `json:"cartId"`
		SKU    string    `json:"sku"`
		At     time.Time `json:"at"`
	}
	CartCouponApplied struct {
		CartID string    `json:"cartId"`
		Coupon Coupon    `json:"coupon"`
		At     time.Time `json:"at"`
	}
	CartCouponRemoved struct {
		CartID string    `json:"cartId"`
		Code   string    `json:"code"`
		At     time.Time `json:"at"`
	}
	CartShippingAddressSet struct {
		CartID string `json:"cartId"`
		// CustomerID is the data subject of the address (empty in events recorded
		// before it was added: those addresses are not sealed).
		CustomerID string    `json:"customerId,omitempty" privacy:"subject"`
		Address    Address   `json:"address"`
		At         time.Time `json:"at"`
	}
	CartPriced struct {
		CartID     string       `json:"cartId"`
		TaxCountry string       `json:"taxCountry"`
		Lines      []PricedLine `json:"lines"`
		Totals     Totals       `json:"totals"`
		At         time.Time    `json:"at"`
	}
	CartCheckedOut struct {
		CartID  string    `json:"cartId"`
		OrderID string    `json:"orderId"`
		At      time.Time `json:"at"`
	}
)

func (CartCreated) EventType() string             { return "cart.created" }
func (CartItemAdded) EventType() string           { return "cart.item_added" }
func (CartItemQuantityChanged) EventType() string { return "cart.item_quantity_changed" }
func (CartItemRemoved) EventType() string         { return "cart.item_removed" }
func (CartCouponApplied) EventType() string       { return "cart.coupon_applied" }
func (CartCouponRemoved) EventType() string       { return "cart.coupon_removed" }
func (CartShippingAddressSet) EventType() string  { return "cart.shipping_address_set" }
func (CartPriced) EventType() string              { return "cart.priced" }
func (CartCheckedOut) EventType() string          { return "cart.checked_out" }

// NewCartDecider returns the Cart decider for a pricing configuration. Pricing is the only
// configuration any decider takes: its results are stored in events, so Evolve needs none.
func NewCartDecider(p Pricing) Decider[Cart, CartCommand] {
	return newDecider[Cart, CartCommand](CategoryCart, p.DecideCart)
}

// EvolveCart applies one event to a cart.
func EvolveCart(s Cart, e Event) Cart { return evolve(s, e) }

// FoldCart applies events in order.
func FoldCart(s Cart, events []Event) Cart { return fold(s, events) }

// DecideCart decides a cart command under this pricing configuration.
func (p Pricing) DecideCart(s Cart, c CartCommand, now time.Time) ([]Event, error) {
	now = now.UTC()
	events, err := p.decideCart(s, c, now)
	if err != nil || len(events) == 0 {
		return events, err
	}
	switch events[len(events)-1].(type) {
	case CartCreated, CartCheckedOut: // nothing to price yet / any more
		return events, nil
	}
	priced, err := p.priceCart(fold(s, events), now)
	if err != nil {
		return nil, err
	}
	if priced != nil {
		events = append(events, *priced)
	}
	return events, nil
}

// priceCart reprices a cart; nil when nothing would change.
func (p Pricing) priceCart(s Cart, now time.Time) (*CartPriced, error) {
	country := p.Tax.DefaultCountry
	if s.ShippingAddress != nil {
		country = s.ShippingAddress.Country
	}
	rate, err := p.Tax.Lookup(country)
	if err != nil {
		return nil, err
	}
	ship, ok := p.Shipping[s.Currency]
	if !ok {
		return nil, invalid("currency", "%s is not sold in this shop", s.Currency)
	}
	lines, totals, err := priceCart(s.Currency, s.Lines, s.Coupon, rate, ship)
	if err != nil {
		return nil, err
	}
	// the tax country matters only once there is something to tax
	changed := totals != s.Totals || (len(lines) > 0 && country != s.TaxCountry)
	priced := make([]PricedLine, len(lines))
	for i, l := range lines {
		priced[i] = PricedLine{SKU: l.SKU, LineAmounts: l.LineAmounts}
		changed = changed || l.LineAmounts != s.Lines[i].LineAmounts
	}
	if !changed {
		return nil, nil
	}
	return &CartPriced{CartID: s.ID, TaxCountry: country, Lines: priced, Totals: totals, At: now}, nil
}

func (p Pricing) decideCart(s Cart, c CartCommand, now time.Time) ([]Event, error) {
	if create, ok := c.(CreateCart); ok {
		if s.Exists() {
			return nil, alreadyExists("cart", s.ID)
		}
		var ps problems
		ps.addErr("cartId", ValidateID("", create.CartID))
		validateCustomer(&ps, "customerId", create.CustomerID)
		if err := ValidateCurrency(create.Currency); err != nil {
			ps.addErr("", err)
		} else if _, ok := p.Shipping[create.Currency]; !ok {
			ps.add("currency", "%s is not sold in this shop", create.Currency)
		}
		if err := ps.err(); err != nil {
			return nil, err
		}
		return []Event{CartCreated{CartID: create.CartID, CustomerID: create.CustomerID, Currency: create.Currency, At: now}}, nil
	}
	if !s.Exists() {
		return nil, notFound("cart", c.AggregateID())
	}
	if s.Status == CartStatusCheckedOut {
		if co, ok := c.(CheckOutCart); ok && co.OrderID == s.OrderID {
			return nil, nil
		}
		return nil, illegal("cart", s.ID, string(s.Status), "change", "a checked-out cart is immutable")
	}
	switch c := c.(type) {
	case AddCartItem:
		var ps problems
		ps.addErr("sku", ValidateSKU("", c.SKU))
		if c.Quantity < 1 || c.Quantity > MaxLineQuantity {
			ps.add("quantity", "must be between 1 and %d", MaxLineQuantity)
		}
		ps.addErr("productId", ValidateID("", c.ProductID))
		validateText(&ps, "name", c.Name, MaxNameLength, false)
		switch {
		case c.UnitPrice.Validate() != nil || c.UnitPrice.IsNegative():
			ps.add("unitPrice", "must be a non-negative catalog price")
		case c.UnitPrice.Currency != s.Currency:
			ps.add("sku", "%s is priced in %s but the cart is in %s", c.SKU, c.UnitPrice.Currency, s.Currency)
		}
		if err := ps.err(); err != nil {
			return nil, err
		}
		if l, ok := s.Line(c.SKU); ok {
			if l.Quantity+c.Quantity > MaxLineQuantity {
				return nil, invalid("quantity", "at most %d units of %s per order", MaxLineQuantity, c.SKU)
			}
		} else if len(s.Lines) >= MaxCartLines {
			return nil, invalid("sku", "a cart holds at most %d different SKUs", MaxCartLines)
		}
		return []Event{CartItemAdded{CartID: s.ID, SKU: c.SKU, ProductID: c.ProductID, Name: c.Name, Quantity: c.Quantity, UnitPrice: c.UnitPrice, At: now}}, nil

	case ChangeCartItemQuantity:
		l, ok := s.Line(c.SKU)
		if !ok {
			return nil, notFound("cart item", c.SKU)
		}
		switch {
		case c.Quantity < 0 || c.Quantity > MaxLineQuantity:
			return nil, invalid("quantity", "must be between 0 and %d", MaxLineQuantity)
		case c.Quantity == 0:
			return []Event{CartItemRemoved{CartID: s.ID, SKU: c.SKU, At: now}}, nil
		case c.Quantity == l.Quantity:
			return nil, nil
		}
		return []Event{CartItemQuantityChanged{CartID: s.ID, SKU: c.SKU, Quantity: c.Quantity, At: now}}, nil

	case RemoveCartItem:
		if _, ok := s.Line(c.SKU); !ok {
			return nil, notFound("cart item", c.SKU)
		}
		return []Event{CartItemRemoved{CartID: s.ID, SKU: c.SKU, At: now}}, nil

	case ApplyCoupon:
		if err := c.Coupon.Validate(); err != nil {
			return nil, err
		}
		if s.Coupon != nil && s.Coupon.Code == c.Coupon.Code {
			return nil, nil
		}
		if err := c.Coupon.CheckApplicable(s.Totals.Subtotal, now); err != nil {
			return nil, err
		}
		var events []Event
		if s.Coupon != nil {
			events = append(events, CartCouponRemoved{CartID: s.ID, Code: s.Coupon.Code, At: now})
		}
		return append(events, CartCouponApplied{CartID: s.ID, Coupon: c.Coupon, At: now}), nil

	case RemoveCoupon:
		if s.Coupon == nil || s.Coupon.Code != NormalizeCouponCode(c.Code) {
			return nil, notFound("coupon", NormalizeCouponCode(c.Code)+" on this cart")
		}
		return []Event{CartCouponRemoved{CartID: s.ID, Code: s.Coupon.Code, At: now}}, nil

	case SetShippingAddress:
		if err := c.Address.Validate(); err != nil {
			return nil, err
		}
		if _, err := p.Tax.Lookup(c.Address.Country); err != nil {
			return nil, invalid("address.country", "we do not ship to %s", c.Address.Country)
		}
		if s.ShippingAddress != nil && *s.ShippingAddress == c.Address {
			return nil, nil
		}
		return []Event{CartShippingAddressSet{CartID: s.ID, CustomerID: s.CustomerID, Address: c.Address, At: now}}, nil

	case CheckOutCart:
		var ps problems
		ps.addErr("orderId", ValidateID("", c.OrderID))
		if len(s.Lines) == 0 {
			ps.add("lines", "the cart is empty")
		}
		if s.ShippingAddress == nil {
			ps.add("shippingAddress", "set a shipping address before checkout")
		}
		if err := ps.err(); err != nil {
			return nil, err
		}
		return []Event{CartCheckedOut{CartID: s.ID, OrderID: c.OrderID, At: now}}, nil
	}
	return nil, invalid("", "unsupported cart command %T", c)
}

func (s Cart) clone() Cart {
	s.Lines = cloneSlice(s.Lines)
	if s.Coupon != nil {
		cp := *s.Coupon
		s.Coupon = &cp
	}
	if s.ShippingAddress != nil {
		a := *s.ShippingAddress
		s.ShippingAddress = &a
	}
	return s
}

func (s *Cart) apply(e Event) {
	switch e := e.(type) {
	case CartCreated:
		z := Zero(e.Currency)
		*s = Cart{
			ID: e.CartID, CustomerID: e.CustomerID, Currency: e.Currency, Status: CartStatusOpen,
			Totals:    Totals{Subtotal: z, Discount: z, Net: z, Tax: z, Gross: z, Shipping: z, GrandTotal: z},
			CreatedAt: e.At, UpdatedAt: e.At,
		}
	case CartItemAdded:
		if i := s.lineIndex(e.SKU); i >= 0 {
			s.Lines[i].Quantity += e.Quantity
			s.Lines[i].UnitPrice = e.UnitPrice // the latest catalog price
			s.Lines[i].ProductID, s.Lines[i].Name = e.ProductID, e.Name
		} else {
			s.Lines = append(s.Lines, Line{SKU: e.SKU, ProductID: e.ProductID, Name: e.Name, Quantity: e.Quantity, UnitPrice: e.UnitPrice})
		}
		s.UpdatedAt = e.At
	case CartItemQuantityChanged:
		if i := s.lineIndex(e.SKU); i >= 0 {
			s.Lines[i].Quantity = e.Quantity
		}
		s.UpdatedAt = e.At
	case CartItemRemoved:
		if i := s.lineIndex(e.SKU); i >= 0 {
			s.Lines = slices.Delete(s.Lines, i, i+1)
		}
		s.UpdatedAt = e.At
	case CartCouponApplied:
		cp := e.Coupon
		s.Coupon = &cp
		s.UpdatedAt = e.At
	case CartCouponRemoved:
		s.Coupon = nil
		s.UpdatedAt = e.At
	case CartShippingAddressSet:
		a := e.Address
		s.ShippingAddress = &a
		s.UpdatedAt = e.At
	case CartPriced:
		for _, pl := range e.Lines {
			if i := s.lineIndex(pl.SKU); i >= 0 {
				s.Lines[i].LineAmounts = pl.LineAmounts
			}
		}
		s.TaxCountry, s.Totals = e.TaxCountry, e.Totals
		s.UpdatedAt = e.At
	case CartCheckedOut:
		s.Status, s.OrderID = CartStatusCheckedOut, e.OrderID
		s.UpdatedAt = e.At
	}
}
