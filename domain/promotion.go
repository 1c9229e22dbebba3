package domain

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// CouponKind is how a coupon discounts.
type CouponKind string

const (
	CouponPercent CouponKind = "percent" // PercentOff of every line
	CouponFixed   CouponKind = "fixed"   // AmountOff the order, spread over the lines
)

// Coupon is the terms of a promotion code. Carts carry a snapshot taken from the promotion
// when the coupon is applied; the promotion itself enforces the usage limit at checkout.
type Coupon struct {
	Code        string      `json:"code"`
	Kind        CouponKind  `json:"kind"`
	PercentOff  BasisPoints `json:"percentOff,omitempty"` // for CouponPercent, 1–10000
	AmountOff   Money       `json:"amountOff"`            // for CouponFixed
	MinSubtotal Money       `json:"minSubtotal"`          // zero: no minimum
	StartsAt    time.Time   `json:"startsAt"`             // zero: valid from creation
	EndsAt      time.Time   `json:"endsAt"`               // zero: never ends; exclusive
}

// NormalizeCouponCode upper-cases and trims a code as typed by a customer.
func NormalizeCouponCode(code string) string { return strings.ToUpper(strings.TrimSpace(code)) }

// ValidateCouponCode checks a normalized code: 3–32 of A–Z, 0–9, '-' and '_'.
func ValidateCouponCode(field, code string) error {
	if len(code) < 3 || len(code) > 32 {
		return invalid(field, "must be 3 to 32 characters")
	}
	for _, r := range code {
		if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return invalid(field, "%q may contain only A-Z, 0-9, '-' and '_'", code)
		}
	}
	return nil
}

// Validate checks the terms.
func (c Coupon) Validate() error {
	var p problems
	p.addErr("code", ValidateCouponCode("", c.Code))
	switch c.Kind {
	case CouponPercent:
		if c.PercentOff < 1 || c.PercentOff > BasisPointsPerUnit {
			p.add("percentOff", "must be between 1 and 10000 basis points")
		}
		if c.AmountOff != (Money{}) {
			p.add("amountOff", "must be empty for a percent coupon")
		}
	case CouponFixed:
		if c.AmountOff.Validate() != nil || !c.AmountOff.IsPositive() {
			p.add("amountOff", "must be a positive amount in a supported currency")
		}
		if c.PercentOff != 0 {
			p.add("percentOff", "must be empty for a fixed-amount coupon")
		}
	default:
		p.add("kind", "must be %q or %q", CouponPercent, CouponFixed)
	}
	if c.MinSubtotal != (Money{}) {
		if c.MinSubtotal.Validate() != nil || c.MinSubtotal.IsNegative() {
			p.add("minSubtotal", "must be a non-negative amount in a supported currency")
		} else if c.Kind == CouponFixed && c.MinSubtotal.Currency != c.AmountOff.Currency {
			p.add("minSubtotal", "must be in the currency of amountOff")
		}
	}
	if !c.StartsAt.IsZero() && !c.EndsAt.IsZero() && !c.EndsAt.After(c.StartsAt) {
		p.add("endsAt", "must be after startsAt")
	}
	return p.err()
}

func couponNotApplicable(code, format string, args ...any) error {
	return fmt.Errorf("%w: coupon %s %s", ErrCouponNotApplicable, code, fmt.Sprintf(format, args...))
}

// CheckApplicable reports why the coupon cannot apply to an order with this subtotal
// (before discount) at this time, or nil.
func (c Coupon) CheckApplicable(subtotal Money, now time.Time) error {
	if !c.StartsAt.IsZero() && now.Before(c.StartsAt) {
		return couponNotApplicable(c.Code, "is not valid before %s", c.StartsAt.UTC().Format(time.RFC3339))
	}
	if !c.EndsAt.IsZero() && !now.Before(c.EndsAt) {
		return couponNotApplicable(c.Code, "expired at %s", c.EndsAt.UTC().Format(time.RFC3339))
	}
	if c.Kind == CouponFixed && c.AmountOff.Currency != subtotal.Currency {
		return couponNotApplicable(c.Code, "is only valid for %s orders", c.AmountOff.Currency)
	}
	return c.checkMinimum(subtotal)
}

func (c Coupon) checkMinimum(subtotal Money) error {
	if c.MinSubtotal == (Money{}) || c.MinSubtotal.IsZero() {
		return nil
	}
	if c.MinSubtotal.Currency != subtotal.Currency {
		return couponNotApplicable(c.Code, "is only valid for %s orders", c.MinSubtotal.Currency)
	}
	if subtotal.Amount < c.MinSubtotal.Amount {
		return couponNotApplicable(c.Code, "requires a subtotal of at least %s", c.MinSubtotal)
	}
	return nil
}

// allocate returns each line's discount. Percent coupons round once per line (half to
// even); a fixed amount, capped at the subtotal, is spread in proportion to the line
// subtotals by largest remainder so the line discounts sum to it exactly. A coupon whose
// minimum is no longer met discounts nothing.
func (c *Coupon) allocate(currency string, subs []Money, total Money) ([]Money, error) {
	out := make([]Money, len(subs))
	for i := range out {
		out[i] = Zero(currency)
	}
	if c == nil || c.checkMinimum(total) != nil || total.Amount <= 0 {
		return out, nil
	}
	switch c.Kind {
	case CouponPercent:
		for i, s := range subs {
			d, err := s.ApplyRate(c.PercentOff)
			if err != nil {
				return nil, err
			}
			out[i] = d
		}
	case CouponFixed:
		if c.AmountOff.Currency != currency {
			return out, nil
		}
		d := min(c.AmountOff.Amount, total.Amount)
		rems := make([]int64, len(subs))
		given := int64(0)
		for i, s := range subs {
			q, r, ok := mulDivFloor(d, s.Amount, total.Amount)
			if !ok {
				return nil, ErrAmountOverflow
			}
			out[i].Amount, rems[i] = q, r
			given += q
		}
		order := make([]int, len(subs))
		for i := range order {
			order[i] = i
		}
		sort.SliceStable(order, func(a, b int) bool { return rems[order[a]] > rems[order[b]] })
		for k := 0; given < d; k++ {
			out[order[k]].Amount++
			given++
		}
	}
	return out, nil
}

// PromotionStatus is the lifecycle of a promotion.
type PromotionStatus string

const (
	PromotionStatusActive      PromotionStatus = "active"
	PromotionStatusDeactivated PromotionStatus = "deactivated"
)

// Promotion is the state of a coupon code; its stream id is the code. The zero value does
// not exist.
type Promotion struct {
	Coupon
	UsageLimit int64           `json:"usageLimit"` // 0: unlimited
	Status     PromotionStatus `json:"status"`
	// Redemptions maps order id → time of redemption, for the orders currently using it.
	Redemptions map[string]time.Time `json:"redemptions,omitempty"`
	CreatedAt   time.Time            `json:"createdAt"`
}

// Exists reports whether the promotion has been created.
func (p Promotion) Exists() bool { return p.Status != "" }

// Uses is the number of current redemptions, never above UsageLimit.
func (p Promotion) Uses() int64 { return int64(len(p.Redemptions)) }

// PromotionCommand is a command to the Promotion decider.
type PromotionCommand interface {
	Command
	promotionCommand()
}

// CreatePromotion creates a coupon code.
type CreatePromotion struct {
	Coupon     Coupon
	UsageLimit int64 // 0: unlimited
}

// RedeemCoupon uses the coupon for an order at checkout. It fails with ErrCouponExhausted
// at the usage limit and is a no-op for an order that already redeemed it.
type RedeemCoupon struct {
	Code     string
	OrderID  string
	Subtotal Money // the order's subtotal before discount, to check the minimum
}

// ReleaseRedemption gives a use back when the order is cancelled; a no-op for an order
// that holds no redemption.
type ReleaseRedemption struct {
	Code    string
	OrderID string
}

// DeactivatePromotion stops new redemptions.
type DeactivatePromotion struct {
	Code string
}

func (c CreatePromotion) AggregateID() string     { return c.Coupon.Code }
func (c RedeemCoupon) AggregateID() string        { return c.Code }
func (c ReleaseRedemption) AggregateID() string   { return c.Code }
func (c DeactivatePromotion) AggregateID() string { return c.Code }
func (CreatePromotion) promotionCommand()         {}
func (RedeemCoupon) promotionCommand()            {}
func (ReleaseRedemption) promotionCommand()       {}
func (DeactivatePromotion) promotionCommand()     {}

// Promotion events.
type (
	PromotionCreated struct {
		Coupon     Coupon    `json:"coupon"`
		UsageLimit int64     `json:"usageLimit"`
		At         time.Time `json:"at"`
	}
	PromotionRedeemed struct {
		Code    string    `json:"code"`
		OrderID string    `json:"orderId"`
		At      time.Time `json:"at"`
	}
	PromotionRedemptionReleased struct {
		Code    string    `json:"code"`
		OrderID string    `json:"orderId"`
		At      time.Time `json:"at"`
	}
	PromotionDeactivated struct {
		Code string    `json:"code"`
		At   time.Time `json:"at"`
	}
)

func (PromotionCreated) EventType() string            { return "promotion.created" }
func (PromotionRedeemed) EventType() string           { return "promotion.redeemed" }
func (PromotionRedemptionReleased) EventType() string { return "promotion.redemption_released" }
func (PromotionDeactivated) EventType() string        { return "promotion.deactivated" }

// NewPromotionDecider returns the Promotion decider.
func NewPromotionDecider() Decider[Promotion, PromotionCommand] {
	return newDecider[Promotion, PromotionCommand](CategoryPromotion, DecidePromotion)
}

// EvolvePromotion applies one event to a promotion.
func EvolvePromotion(s Promotion, e Event) Promotion { return evolve(s, e) }

// FoldPromotion applies events in order.
func FoldPromotion(s Promotion, events []Event) Promotion { return fold(s, events) }

// DecidePromotion decides a promotion command.
func DecidePromotion(s Promotion, c PromotionCommand, now time.Time) ([]Event, error) {
	now = now.UTC()
	if create, ok := c.(CreatePromotion); ok {
		if s.Exists() {
			return nil, alreadyExists("coupon", s.Code)
		}
		var p problems
		p.addErr("coupon", create.Coupon.Validate())
		if create.UsageLimit < 0 {
			p.add("usageLimit", "must not be negative (0 means unlimited)")
		}
		if err := p.err(); err != nil {
			return nil, err
		}
		cp := create.Coupon
		cp.StartsAt, cp.EndsAt = utcOrZero(cp.StartsAt), utcOrZero(cp.EndsAt)
		return []Event{PromotionCreated{Coupon: cp, UsageLimit: create.UsageLimit, At: now}}, nil
	}
	if !s.Exists() {
		return nil, notFound("coupon", c.AggregateID())
	}
	switch c := c.(type) {
	case RedeemCoupon:
		if err := ValidateID("orderId", c.OrderID); err != nil {
			return nil, err
		}
		if _, done := s.Redemptions[c.OrderID]; done {
			return nil, nil
		}
		if s.Status != PromotionStatusActive {
			return nil, couponNotApplicable(s.Code, "is no longer active")
		}
		if err := c.Subtotal.Validate(); err != nil {
			return nil, invalid("subtotal", "must be an amount in a supported currency")
		}
		if err := s.Coupon.CheckApplicable(c.Subtotal, now); err != nil {
			return nil, err
		}
		if s.UsageLimit > 0 && s.Uses() >= s.UsageLimit {
			return nil, fmt.Errorf("%w: coupon %s has been used %d of %d times", ErrCouponExhausted, s.Code, s.Uses(), s.UsageLimit)
		}
		return []Event{PromotionRedeemed{Code: s.Code, OrderID: c.OrderID, At: now}}, nil

	case ReleaseRedemption:
		if _, held := s.Redemptions[c.OrderID]; !held {
			return nil, nil
		}
		return []Event{PromotionRedemptionReleased{Code: s.Code, OrderID: c.OrderID, At: now}}, nil

	case DeactivatePromotion:
		if s.Status == PromotionStatusDeactivated {
			return nil, nil
		}
		return []Event{PromotionDeactivated{Code: s.Code, At: now}}, nil
	}
	return nil, invalid("", "unsupported promotion command %T", c)
}

func utcOrZero(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

func (s Promotion) clone() Promotion {
	s.Redemptions = cloneMap(s.Redemptions)
	return s
}

func (s *Promotion) apply(e Event) {
	switch e := e.(type) {
	case PromotionCreated:
		*s = Promotion{Coupon: e.Coupon, UsageLimit: e.UsageLimit, Status: PromotionStatusActive, CreatedAt: e.At}
	case PromotionRedeemed:
		if s.Redemptions == nil {
			s.Redemptions = map[string]time.Time{}
		}
		s.Redemptions[e.OrderID] = e.At
	case PromotionRedemptionReleased:
		delete(s.Redemptions, e.OrderID)
	case PromotionDeactivated:
		s.Status = PromotionStatusDeactivated
	}
}
