package domain

import (
	"errors"
	"testing"
	"time"
)

var (
	spring        = Coupon{Code: "SPRING10", Kind: CouponPercent, PercentOff: 1000, MinSubtotal: eur(2000), StartsAt: t0.Add(-time.Hour), EndsAt: t0.Add(24 * time.Hour)}
	springCreated = PromotionCreated{Coupon: spring, UsageLimit: 2, At: t0}
)

func TestPromotionCreate(t *testing.T) {
	d := NewPromotionDecider()
	given(t, d).when(CreatePromotion{Coupon: spring, UsageLimit: 2}).then(springCreated)
	given(t, d, springCreated).when(CreatePromotion{Coupon: spring}).thenError(ErrAlreadyExists)
	bad := spring
	bad.Code = "spring 10"
	given(t, d).when(CreatePromotion{Coupon: bad}).thenError(ErrValidation)
	bad = spring
	bad.EndsAt = bad.StartsAt
	given(t, d).when(CreatePromotion{Coupon: bad}).thenError(ErrValidation)
	given(t, d).when(CreatePromotion{Coupon: spring, UsageLimit: -1}).thenError(ErrValidation)
	given(t, d).when(CreatePromotion{Coupon: Coupon{Code: "FIX", Kind: CouponFixed}}).thenError(ErrValidation)
	if NormalizeCouponCode(" spring10 ") != "SPRING10" {
		t.Fatal("normalize")
	}
}

func TestPromotionRedeem(t *testing.T) {
	d := NewPromotionDecider()
	r1 := PromotionRedeemed{Code: "SPRING10", OrderID: "o1", At: t0}
	r2 := PromotionRedeemed{Code: "SPRING10", OrderID: "o2", At: t0}
	given(t, d, springCreated).when(RedeemCoupon{Code: "SPRING10", OrderID: "o1", Subtotal: eur(3000)}).then(r1)
	given(t, d, springCreated, r1).when(RedeemCoupon{Code: "SPRING10", OrderID: "o1", Subtotal: eur(3000)}).thenNothing()
	o := given(t, d, springCreated, r1, r2).when(RedeemCoupon{Code: "SPRING10", OrderID: "o3", Subtotal: eur(3000)}).thenError(ErrCouponExhausted)
	if o.err.Error() != "coupon usage limit reached: coupon SPRING10 has been used 2 of 2 times" {
		t.Errorf("message %q", o.err)
	}
	// the order that holds a use can still re-redeem idempotently at the limit
	given(t, d, springCreated, r1, r2).when(RedeemCoupon{Code: "SPRING10", OrderID: "o2", Subtotal: eur(3000)}).thenNothing()
	// releasing a use frees it
	rel := PromotionRedemptionReleased{Code: "SPRING10", OrderID: "o1", At: t0}
	given(t, d, springCreated, r1, r2).when(ReleaseRedemption{Code: "SPRING10", OrderID: "o1"}).then(rel)
	given(t, d, springCreated, r1, r2, rel).when(RedeemCoupon{Code: "SPRING10", OrderID: "o3", Subtotal: eur(3000)}).
		then(PromotionRedeemed{Code: "SPRING10", OrderID: "o3", At: t0})
	given(t, d, springCreated).when(ReleaseRedemption{Code: "SPRING10", OrderID: "unknown"}).thenNothing()

	// not applicable
	given(t, d, springCreated).when(RedeemCoupon{Code: "SPRING10", OrderID: "o1", Subtotal: eur(1999)}).thenError(ErrCouponNotApplicable)
	given(t, d, springCreated).at(spring.EndsAt).when(RedeemCoupon{Code: "SPRING10", OrderID: "o1", Subtotal: eur(3000)}).thenError(ErrCouponNotApplicable)
	given(t, d, springCreated).at(spring.StartsAt.Add(-1)).when(RedeemCoupon{Code: "SPRING10", OrderID: "o1", Subtotal: eur(3000)}).thenError(ErrCouponNotApplicable)
	given(t, d, springCreated).when(RedeemCoupon{Code: "SPRING10", OrderID: "o1", Subtotal: MustMoney(3000, "USD")}).thenError(ErrCouponNotApplicable)
	deact := PromotionDeactivated{Code: "SPRING10", At: t0}
	given(t, d, springCreated).when(DeactivatePromotion{Code: "SPRING10"}).then(deact)
	given(t, d, springCreated, deact).when(DeactivatePromotion{Code: "SPRING10"}).thenNothing()
	given(t, d, springCreated, deact).when(RedeemCoupon{Code: "SPRING10", OrderID: "o1", Subtotal: eur(3000)}).thenError(ErrCouponNotApplicable)
	given(t, d).when(RedeemCoupon{Code: "NOPE", OrderID: "o1", Subtotal: eur(1)}).thenError(ErrNotFound)

	unlimited := PromotionCreated{Coupon: Coupon{Code: "ALWAYS", Kind: CouponFixed, AmountOff: eur(100)}, At: t0}
	given(t, d, unlimited, PromotionRedeemed{Code: "ALWAYS", OrderID: "o1"}).when(RedeemCoupon{Code: "ALWAYS", OrderID: "o2", Subtotal: eur(1)}).
		then(PromotionRedeemed{Code: "ALWAYS", OrderID: "o2", At: t0})
}

func TestErrorMessagesForClients(t *testing.T) {
	err := invalid("quantity", "must be between %d and %d", 1, 10)
	if err.Error() != "validation failed: quantity: must be between 1 and 10" {
		t.Errorf("%q", err)
	}
	oos := &OutOfStockError{SKU: "A", Requested: 3, Available: 1}
	if oos.Error() != "out of stock: SKU A has 1 available, 3 requested" || !errors.Is(oos, ErrOutOfStock) {
		t.Errorf("%q", oos)
	}
	te := illegal("order", "o1", "shipped", "cancel", "it has already shipped")
	if te.Error() != `illegal state transition: cannot cancel order o1 in state "shipped": it has already shipped` {
		t.Errorf("%q", te)
	}
}
