package checkout

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/orderengine/orderengine/checkout/request"
	"github.com/orderengine/orderengine/commands"
	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/envelope"
	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/payment"
)

var (
	orders     = domain.NewOrderDecider()
	inventory  = domain.NewInventoryDecider()
	payments   = domain.NewPaymentDecider()
	promotions = domain.NewPromotionDecider()
)

// tokenPoll is how often a checkout whose payment token is not recorded yet looks again.
const tokenPoll = 500 * time.Millisecond

// drive runs a checkout's steps until it is terminal or has to wait. It returns how long
// to wait before driving again (park: until woken).
func (c *Checkout) drive(ctx context.Context, orderID string) (time.Duration, error) {
	unlock := c.locks.Lock(orderID)
	defer unlock()
	defer c.notify(orderID)
	c.takeCached(orderID) // start from the stream
	// the last stored event's metadata: its trace context is the steps' parent
	var md []byte
	for i := 0; ; i++ {
		if i == 64 {
			return 0, fmt.Errorf("checkout %s: no progress after %d steps", orderID, i)
		}
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		s, cause, ok := c.takeCached(orderID)
		if !ok {
			var last eventstore.RecordedEvent
			var err error
			if s, last, err = c.load(ctx, orderID); err != nil {
				return 0, err
			}
			cause = last.ID.String()
			md = last.Metadata
		}
		if !s.Exists() {
			// Kicked before the saga took the order on (its start failed, or resume
			// found it unstarted): start it if it is still pending.
			if i > 0 {
				return 0, nil
			}
			if err := c.start(ctx, orderID, ""); err != nil && !errors.Is(err, domain.ErrNotFound) {
				return 0, err
			}
			continue
		}
		if s.Terminal() {
			c.untrack(orderID)
			return 0, nil
		}
		c.track(orderID, s.ExpiresAt)
		var wait time.Duration
		var err error
		sctx, endStep := c.stepSpan(ctx, s, md)
		switch {
		case s.Outcome != "":
			err = c.voidLate(sctx, s, cause)
		case s.FailCode != "":
			err = c.compensate(sctx, s, cause)
		default:
			wait, err = c.forward(sctx, s, cause)
		}
		endStep(err)
		if err != nil {
			c.takeCached(orderID)
			return 0, err
		}
		c.notify(orderID)
		if wait != 0 {
			c.takeCached(orderID)
			return wait, nil
		}
	}
}

// execLocked runs a command on a stream other checkouts in this process write too (a
// SKU's stock, a coupon), one at a time: they queue instead of losing
// optimistic-concurrency rounds. Other processes are still handled by version checks.
func execLocked[S any, C domain.Command](ctx context.Context, c *Checkout, d domain.Decider[S, C], cmd domain.Command, meta commands.Meta) (commands.Result[S], error) {
	defer c.streamLocks.Lock(d.StreamName(cmd.AggregateID()))()
	return commands.Execute(ctx, c.rt, d, cmd, meta)
}

// cached is the checkout state a step just wrote, so the next step need not re-read it.
type cached struct {
	s     State
	cause string
}

func (c *Checkout) takeCached(orderID string) (State, string, bool) {
	c.cmu.Lock()
	defer c.cmu.Unlock()
	e, ok := c.cache[orderID]
	delete(c.cache, orderID)
	return e.s, e.cause, ok && e.cause != ""
}

func (c *Checkout) putCached(orderID string, s State, cause string) {
	c.cmu.Lock()
	c.cache[orderID] = cached{s, cause}
	c.cmu.Unlock()
}

func (c *Checkout) hook(orderID, step string) error {
	h := c.testHook.Load()
	if h == nil {
		return nil
	}
	if err := (*h)(orderID, step); err != nil {
		return fmt.Errorf("%w: %v", errAborted, err)
	}
	return nil
}

// exec runs a checkout command; the new state is kept for the drive's next step.
func (c *Checkout) exec(ctx context.Context, cmd Command, cause, key string) (State, error) {
	o := cmd.AggregateID()
	meta := c.meta(o, cause, key)
	res, err := commands.Execute(ctx, c.rt, decider, cmd, meta)
	if err != nil {
		return res.State, err
	}
	if len(res.Events) > 0 && !res.Replayed {
		c.observe(res.State, res.Events)
		c.putCached(o, res.State, envelope.DeterministicID(meta.IdempotencyKey, res.Stream, 0).String())
	}
	return res.State, nil
}

func (c *Checkout) fail(ctx context.Context, s State, code Code, reason, cause string) error {
	_, err := c.exec(ctx, fail{OrderID: s.OrderID, Code: code, Reason: clip(reason)}, cause, "fail")
	if err != nil {
		return err
	}
	return c.hook(s.OrderID, "failed")
}

// clip keeps a reason within the domain's text limit.
func clip(s string) string {
	if utf8.RuneCountInString(s) <= domain.MaxNameLength {
		return s
	}
	r := []rune(s)
	return string(r[:domain.MaxNameLength-1]) + "…"
}

func sortedLines(lines []LineRef) []LineRef {
	l := slices.Clone(lines)
	slices.SortFunc(l, func(a, b LineRef) int { return cmp.Compare(a.SKU, b.SKU) })
	return l
}

// forward does the next step of a checkout that has not failed.
func (c *Checkout) forward(ctx context.Context, s State, cause string) (time.Duration, error) {
	step := s.Step()
	waiting := step == StepReserveStock || step == StepRedeemCoupon || step == StepAuthorizePayment || step == StepAwaitingPayment
	if waiting && !c.now().Before(s.ExpiresAt) {
		reason := "reservation expired before payment"
		if step == StepAwaitingPayment {
			reason = "payment was not confirmed before the reservation expired"
		}
		return 0, c.fail(ctx, s, CodeExpired, reason, cause)
	}
	switch step {
	case StepReserveStock:
		return 0, c.reserve(ctx, s, cause)
	case StepRedeemCoupon:
		return 0, c.redeem(ctx, s, cause)
	case StepAuthorizePayment:
		return c.authorize(ctx, s, cause)
	case StepAwaitingPayment:
		return c.reconcile(ctx, s, cause) // a webhook, the sweeper or a look-up moves it on
	case StepConfirm:
		return 0, c.confirm(ctx, s, cause)
	}
	// The gateway declined or failed: cancel.
	code := CodePaymentFailed
	switch {
	case s.Payment == payment.StatusDeclined:
		code = CodePaymentDeclined
	case s.PaymentTimeout:
		code = CodePaymentTimeout
	}
	reason := "payment " + string(s.Payment)
	if s.PaymentReason != "" {
		reason += ": " + s.PaymentReason
	}
	return 0, c.fail(ctx, s, code, reason, cause)
}

// reserve holds every line's stock, in SKU order; the first shortage fails the checkout
// (compensation releases what was reserved).
func (c *Checkout) reserve(ctx context.Context, s State, cause string) error {
	for _, l := range sortedLines(s.Lines) {
		_, err := execLocked(ctx, c, inventory, domain.ReserveStock{SKU: l.SKU, OrderID: s.OrderID, Quantity: l.Quantity, ExpiresAt: s.ExpiresAt},
			c.meta(s.OrderID, cause, "reserve:"+l.SKU))
		switch {
		case errors.Is(err, domain.ErrOutOfStock):
			return c.fail(ctx, s, CodeOutOfStock, err.Error(), cause)
		case isRejection(err):
			return c.fail(ctx, s, CodeOutOfStock, "cannot reserve "+l.SKU+": "+err.Error(), cause)
		case err != nil:
			return err
		}
		if err := c.hook(s.OrderID, "reserved:"+l.SKU); err != nil {
			return err
		}
	}
	if _, err := c.exec(ctx, markReserved{OrderID: s.OrderID}, cause, "stock_reserved"); err != nil {
		return err
	}
	return c.hook(s.OrderID, "stock_reserved")
}

// isRejection reports a decider's refusal (as opposed to an I/O or conflict error).
func isRejection(err error) bool {
	for _, e := range []error{domain.ErrValidation, domain.ErrNotFound, domain.ErrIllegalTransition, domain.ErrOutOfStock,
		domain.ErrCouponExhausted, domain.ErrCouponNotApplicable, domain.ErrAlreadyExists, domain.ErrCurrencyMismatch} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func (c *Checkout) redeem(ctx context.Context, s State, cause string) error {
	_, err := execLocked(ctx, c, promotions, domain.RedeemCoupon{Code: s.CouponCode, OrderID: s.OrderID, Subtotal: s.Subtotal},
		c.meta(s.OrderID, cause, "redeem"))
	switch {
	case errors.Is(err, domain.ErrCouponExhausted):
		return c.fail(ctx, s, CodeCouponExhausted, err.Error(), cause)
	case isRejection(err):
		return c.fail(ctx, s, CodeCouponNotApplicable, err.Error(), cause)
	case err != nil:
		return err
	}
	if _, err := c.exec(ctx, markRedeemed{OrderID: s.OrderID, Code: s.CouponCode}, cause, "coupon_redeemed"); err != nil {
		return err
	}
	return c.hook(s.OrderID, "coupon_redeemed")
}

// authorize asks the gateway, with the token of the payment's authorization request.
func (c *Checkout) authorize(ctx context.Context, s State, cause string) (time.Duration, error) {
	p, err := commands.Load(ctx, c.rt, payments, s.OrderID)
	if err != nil {
		return 0, err
	}
	if !p.Exists {
		// The token is in the checkout request commands.Service.PlaceOrder recorded
		// (before order.placed); record the authorization request from it.
		cr, err := request.Read(ctx, c.cfg.Store, s.OrderID)
		if errors.Is(err, domain.ErrNotFound) {
			return tokenPoll, nil // not recorded (yet): look again until the TTL
		}
		if err != nil {
			return 0, err
		}
		_, err = commands.Execute(ctx, c.rt, payments, domain.RequestAuthorization{PaymentID: s.OrderID, OrderID: s.OrderID, Amount: s.Amount, Method: cr.PaymentToken, CustomerID: s.CustomerID},
			c.meta(s.OrderID, cause, "request_payment"))
		switch {
		case errors.Is(err, domain.ErrAlreadyExists): // recorded concurrently
		case isRejection(err):
			return 0, c.fail(ctx, s, CodeInvalidPayment, err.Error(), cause)
		case err != nil:
			return 0, err
		}
		return 0, c.hook(s.OrderID, "payment_requested")
	}
	pay := p.State
	if pay.Amount != s.Amount {
		return 0, c.fail(ctx, s, CodeInvalidPayment, fmt.Sprintf("payment request of %s does not match the order total %s", pay.Amount, s.Amount), cause)
	}
	ans := PaymentAnswered{OrderID: s.OrderID}
	switch pay.State {
	case domain.PaymentStateRequested:
		actx, cancel := context.WithTimeout(ctx, c.cfg.GatewayTimeout)
		res, err := c.cfg.Gateway.Authorize(actx, payment.AuthorizeRequest{OrderID: s.OrderID, Amount: pay.Amount, Token: pay.Method, IdempotencyKey: "checkout:" + s.OrderID + ":authorize"})
		cancel()
		switch {
		case err != nil && ctx.Err() != nil:
			return 0, ctx.Err() // stopping: not an answer; the next run asks again (same key)
		case errors.Is(err, context.DeadlineExceeded):
			ans.Status, ans.Timeout, ans.Reason = payment.StatusFailed, true, fmt.Sprintf("gateway did not answer within %s", c.cfg.GatewayTimeout)
		case err != nil:
			ans.Status, ans.Reason = payment.StatusFailed, "gateway error: "+err.Error()
		case res.Status == payment.StatusAuthorized || res.Status == payment.StatusPending || res.Status == payment.StatusDeclined || res.Status == payment.StatusFailed:
			ans.Status, ans.GatewayRef, ans.Reason = res.Status, res.GatewayRef, res.Reason
		default:
			ans.Status, ans.Reason = payment.StatusFailed, "gateway answered "+string(res.Status)
		}
	case domain.PaymentStateAuthorized:
		ans.Status, ans.GatewayRef = payment.StatusAuthorized, pay.GatewayRef
	case domain.PaymentStateDeclined:
		ans.Status, ans.Reason = payment.StatusDeclined, pay.Reason
	case domain.PaymentStateFailed:
		ans.Status, ans.Reason = payment.StatusFailed, pay.Reason
	default:
		return 0, c.fail(ctx, s, CodeInvalidPayment, "payment is already "+string(pay.State), cause)
	}
	ans.Reason = clip(ans.Reason)
	if _, err := c.exec(ctx, recordAnswer{ans}, cause, "payment_answered"); err != nil {
		return 0, err
	}
	return 0, c.hook(s.OrderID, "payment_answered")
}

// confirm applies an authorization: payment authorized, order payment authorized,
// reservations committed, order confirmed, checkout completed.
func (c *Checkout) confirm(ctx context.Context, s State, cause string) error {
	o := s.OrderID
	_, err := commands.Execute(ctx, c.rt, payments, domain.RecordAuthorization{PaymentID: o, GatewayRef: s.GatewayRef, Amount: s.Amount}, c.meta(o, cause, "payment_authorized"))
	if isRejection(err) {
		return c.fail(ctx, s, CodeInvalidPayment, "cannot record the authorization: "+err.Error(), cause)
	} else if err != nil {
		return err
	}
	if err := c.hook(o, "payment_recorded"); err != nil {
		return err
	}
	_, err = commands.Execute(ctx, c.rt, orders, domain.MarkOrderPaymentAuthorized{OrderID: o, PaymentID: o, Amount: s.Amount}, c.meta(o, cause, "order_payment_authorized"))
	if isRejection(err) {
		return c.fail(ctx, s, CodeCancelled, "order can no longer be confirmed: "+err.Error(), cause)
	} else if err != nil {
		return err
	}
	if err := c.hook(o, "order_authorized"); err != nil {
		return err
	}
	for _, l := range sortedLines(s.Lines) {
		_, err := execLocked(ctx, c, inventory, domain.CommitReservation{SKU: l.SKU, OrderID: o}, c.meta(o, cause, "commit:"+l.SKU))
		if isRejection(err) {
			return c.fail(ctx, s, CodeStockLost, err.Error(), cause)
		} else if err != nil {
			return err
		}
	}
	if err := c.hook(o, "committed"); err != nil {
		return err
	}
	_, err = commands.Execute(ctx, c.rt, orders, domain.ConfirmOrder{OrderID: o}, c.meta(o, cause, "confirm"))
	if isRejection(err) {
		return c.fail(ctx, s, CodeCancelled, "order can no longer be confirmed: "+err.Error(), cause)
	} else if err != nil {
		return err
	}
	if err := c.hook(o, "order_confirmed"); err != nil {
		return err
	}
	if _, err := c.exec(ctx, complete{OrderID: o, Outcome: OutcomeConfirmed}, cause, "completed"); err != nil {
		return err
	}
	return c.hook(o, "completed")
}

// compensate undoes a failed or cancelled checkout from the aggregates' actual state:
// payment (void, refund or close), order payment status, stock (release, expire or
// restock), coupon use, then cancels the order and completes the checkout.
func (c *Checkout) compensate(ctx context.Context, s State, cause string) error {
	o, reason := s.OrderID, s.FailReason
	if reason == "" {
		reason = string(s.FailCode)
	}
	reason = clip(reason)
	if err := c.compensatePayment(ctx, s, reason, cause); err != nil {
		return err
	}
	if err := c.hook(o, "payment_compensated"); err != nil {
		return err
	}
	now := c.now()
	for _, l := range sortedLines(s.Lines) {
		inv, err := commands.Load(ctx, c.rt, inventory, l.SKU)
		if err != nil {
			return err
		}
		var cmd domain.InventoryCommand
		var key string
		if r, ok := inv.State.Reservations[o]; ok {
			cmd, key = domain.ReleaseReservation{SKU: l.SKU, OrderID: o, Reason: reason}, "release:"+l.SKU
			if s.FailCode == CodeExpired && !now.Before(r.ExpiresAt) {
				cmd, key = domain.ExpireReservation{SKU: l.SKU, OrderID: o}, "expire:"+l.SKU
			}
		} else if st, ok := inv.State.Settled[o]; ok && st.Outcome == domain.ReservationCommitted && st.Restocked < st.Quantity {
			cmd, key = domain.RestockReturn{SKU: l.SKU, OrderID: o, Quantity: st.Quantity - st.Restocked, Reason: reason}, "restock:"+l.SKU
		}
		if cmd == nil {
			continue
		}
		if _, err := execLocked(ctx, c, inventory, cmd, c.meta(o, cause, key)); err != nil {
			if errors.Is(err, domain.ErrIllegalTransition) {
				// Not expired by the deciders' clock yet: release instead.
				_, err = execLocked(ctx, c, inventory, domain.ReleaseReservation{SKU: l.SKU, OrderID: o, Reason: reason}, c.meta(o, cause, "release:"+l.SKU))
			}
			if err != nil {
				return err
			}
		}
	}
	if err := c.hook(o, "stock_released"); err != nil {
		return err
	}
	if s.CouponCode != "" {
		_, err := execLocked(ctx, c, promotions, domain.ReleaseRedemption{Code: s.CouponCode, OrderID: o}, c.meta(o, cause, "release_coupon"))
		if err != nil && !errors.Is(err, domain.ErrNotFound) {
			return err
		}
	}
	if err := c.hook(o, "coupon_released"); err != nil {
		return err
	}
	if _, err := commands.Execute(ctx, c.rt, orders, domain.CancelOrder{OrderID: o, Reason: reason}, c.meta(o, cause, "cancel")); err != nil {
		return err
	}
	if err := c.hook(o, "order_cancelled"); err != nil {
		return err
	}
	if _, err := c.exec(ctx, complete{OrderID: o, Outcome: OutcomeCancelled, Code: s.FailCode, Reason: reason}, cause, "completed_cancelled"); err != nil {
		return err
	}
	return c.hook(o, "completed")
}

func (c *Checkout) compensatePayment(ctx context.Context, s State, reason, cause string) error {
	o := s.OrderID
	p, err := commands.Load(ctx, c.rt, payments, o)
	if err != nil {
		return err
	}
	if s.Payment == payment.StatusPending && s.GatewayRef != "" {
		// Giving up on a pending authorization: cancel it at the gateway too (should it
		// still confirm, the late webhook is voided as well).
		if res, err := c.cfg.Gateway.Void(ctx, payment.VoidRequest{OrderID: o, GatewayRef: s.GatewayRef, IdempotencyKey: "checkout:" + o + ":void_pending"}); err != nil {
			return err
		} else if res.Status != payment.StatusSucceeded {
			c.log.Warn("gateway refused to void a pending authorization", "order", o, "ref", s.GatewayRef, "reason", res.Reason)
		}
	}
	if p.Exists && p.State.State == domain.PaymentStateRequested {
		var cmd domain.PaymentCommand
		switch s.Payment {
		case payment.StatusAuthorized:
			cmd = domain.RecordAuthorization{PaymentID: o, GatewayRef: s.GatewayRef, Amount: s.Amount}
		case payment.StatusDeclined:
			cmd = domain.RecordDecline{PaymentID: o, Reason: reason}
		case payment.StatusFailed:
			cmd = domain.RecordFailure{PaymentID: o, Reason: reason}
		default: // never asked, or still pending: close it
			cmd = domain.RecordFailure{PaymentID: o, Reason: "checkout cancelled: " + reason}
		}
		if _, err := commands.Execute(ctx, c.rt, payments, cmd, c.meta(o, cause, "close_payment")); err != nil && !isRejection(err) {
			return err
		}
		if p, err = commands.Load(ctx, c.rt, payments, o); err != nil {
			return err
		}
	}
	if p.Exists {
		pay := p.State
		switch pay.State {
		case domain.PaymentStateAuthorized:
			res, err := c.cfg.Gateway.Void(ctx, payment.VoidRequest{OrderID: o, GatewayRef: pay.GatewayRef, IdempotencyKey: "checkout:" + o + ":void"})
			if err != nil {
				return err
			}
			if res.Status == payment.StatusSucceeded {
				if _, err := commands.Execute(ctx, c.rt, payments, domain.VoidPayment{PaymentID: o, Reason: reason}, c.meta(o, cause, "void")); err != nil {
					return err
				}
			} else {
				c.log.Error("gateway refused to void; the authorization stays open", "order", o, "ref", pay.GatewayRef, "reason", res.Reason)
			}
		case domain.PaymentStateCaptured, domain.PaymentStatePartiallyRefunded:
			if left := pay.Refundable(); left.IsPositive() {
				res, err := c.cfg.Gateway.Refund(ctx, payment.RefundRequest{OrderID: o, GatewayRef: pay.GatewayRef, Amount: left, IdempotencyKey: "checkout:" + o + ":refund:cancel"})
				if err != nil {
					return err
				}
				if res.Status == payment.StatusSucceeded {
					if _, err := commands.Execute(ctx, c.rt, payments, domain.RefundPayment{PaymentID: o, RefundID: "cancel", Amount: left, Reason: reason}, c.meta(o, cause, "refund")); err != nil {
						return err
					}
				} else {
					c.log.Error("gateway refused the refund", "order", o, "reason", res.Reason)
				}
			}
		}
		if p, err = commands.Load(ctx, c.rt, payments, o); err != nil {
			return err
		}
	}
	ord, err := commands.Load(ctx, c.rt, orders, o)
	if err != nil {
		return err
	}
	var cmd domain.OrderCommand
	switch st := ord.State.PaymentStatus; {
	case st == domain.PaymentStatusAuthorized && p.State.State == domain.PaymentStateVoided:
		cmd = domain.MarkOrderPaymentVoided{OrderID: o}
	case (st == domain.PaymentStatusCaptured || st == domain.PaymentStatusPartiallyRefunded) && ord.State.Refundable().IsPositive() &&
		slices.ContainsFunc(p.State.Refunds, func(r domain.Refund) bool { return r.RefundID == "cancel" }):
		cmd = domain.RefundOrder{OrderID: o, RefundID: "cancel", Amount: ord.State.Refundable(), Reason: reason}
	case st == domain.PaymentStatusPending && ord.State.Status == domain.OrderStatusPending && s.Payment != "":
		cmd = domain.MarkOrderPaymentFailed{OrderID: o, Reason: reason}
	}
	if cmd != nil {
		if _, err := commands.Execute(ctx, c.rt, orders, cmd, c.meta(o, cause, "order_payment")); err != nil && !isRejection(err) {
			return err
		}
	}
	return nil
}

// voidLate voids authorizations that arrived after the payment had failed.
func (c *Checkout) voidLate(ctx context.Context, s State, cause string) error {
	for _, ref := range s.unvoided() {
		res, err := c.cfg.Gateway.Void(ctx, payment.VoidRequest{OrderID: s.OrderID, GatewayRef: ref, IdempotencyKey: "checkout:" + s.OrderID + ":void_late:" + ref})
		if err != nil {
			return err
		}
		refused := res.Status != payment.StatusSucceeded
		if refused {
			c.log.Error("gateway refused to void a late authorization", "order", s.OrderID, "ref", ref, "reason", res.Reason)
		}
		if _, err := c.exec(ctx, recordLateVoid{OrderID: s.OrderID, GatewayRef: ref, Refused: refused, Reason: res.Reason}, cause, "late_void:"+ref); err != nil {
			return err
		}
		if refused && c.cfg.OnVoidRefused != nil {
			c.cfg.OnVoidRefused(s.OrderID, ref, res.Reason)
		}
	}
	return nil
}

// reconcile asks the gateway what became of a pending authorization whose webhook has
// not come within ReconcileInterval (at once after a restart: the webhook may have been
// lost with the process), and records a definitive answer. It returns how long to wait
// before asking again.
func (c *Checkout) reconcile(ctx context.Context, s State, cause string) (time.Duration, error) {
	now := c.now()
	c.amu.Lock()
	last, asked := c.lookups[s.OrderID]
	c.amu.Unlock()
	if !asked && !s.UpdatedAt.Before(c.born) {
		last = s.UpdatedAt // answered pending in this process: give the webhook its time
	}
	if wait := last.Add(c.cfg.ReconcileInterval).Sub(now); wait > 0 {
		return min(wait, max(s.ExpiresAt.Sub(now), time.Millisecond)), nil
	}
	c.amu.Lock()
	c.lookups[s.OrderID] = now
	c.amu.Unlock()
	lctx, cancel := context.WithTimeout(ctx, c.cfg.GatewayTimeout)
	res, err := c.cfg.Gateway.Lookup(lctx, payment.LookupRequest{OrderID: s.OrderID, GatewayRef: s.GatewayRef})
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		c.log.Warn("payment look-up failed; asking again later", "order", s.OrderID, "ref", s.GatewayRef, "err", err)
		return c.cfg.ReconcileInterval, nil
	}
	if !res.Status.Definitive() {
		return c.cfg.ReconcileInterval, nil
	}
	ref := res.GatewayRef
	if ref == "" {
		ref = s.GatewayRef
	}
	ans := PaymentAnswered{OrderID: s.OrderID, Status: res.Status, GatewayRef: ref, Reason: clip(res.Reason)}
	if _, err := c.exec(ctx, recordAnswer{ans}, cause, "payment_reconciled"); err != nil {
		return 0, err
	}
	c.log.Info("pending payment reconciled with the gateway", "order", s.OrderID, "status", res.Status)
	return 0, c.hook(s.OrderID, "payment_reconciled")
}
