package orderops

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/orderengine/orderengine/commands"
	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/payment"
)

// Order edits (domain/orderedit.go): open, stage, preview, cancel and confirm.
//
// Confirm records the plan on the order first (OrderEditConfirmRequested, under a new
// confirmation id), then, each step idempotent by a key derived from that id:
//
//  1. reserves the added units (one reservation per SKU owned by the confirmation); out of
//     stock → the reservations made are released and the confirmation fails (409);
//  2. raises the authorization by what the added units cost (incremental authorization);
//     declined → reservations released, the confirmation fails (402);
//  3. commits the reservations and puts the removed units back on hand;
//  4. applies the edit (OrderEditApplied); the release of what the removed units cost is
//     then settled like a line cancellation (a partial void).
//
// A failed confirmation changes nothing and leaves the edit open. While an edit is
// confirming the order refuses fulfilments, cancellations and refunds, so an edit and a
// fulfilment racing each other never half apply; the loser gets 409 (or 412 with
// If-Match). A crash leaves the edit confirming; Resume (or the next operation on the
// edit) replays the steps with the same keys, reaching exactly one outcome.

// Catalog is what edits read of the catalog (*commands.Service).
type Catalog interface {
	ProductBySKU(ctx context.Context, sku string) (commands.Loaded[domain.Product], error)
}

// EditsConfig configures NewEdits. Ops and Catalog are required.
type EditsConfig struct {
	Ops     *Ops
	Catalog Catalog
	// ReservationTTL bounds how long an interrupted confirmation holds its added units
	// before the reservations expire (default 15 minutes).
	ReservationTTL time.Duration
}

// Edits runs order edits. It is safe for concurrent use.
type Edits struct {
	o   *Ops
	cat Catalog
	ttl time.Duration
}

// NewEdits validates cfg and returns Edits.
func NewEdits(cfg EditsConfig) (*Edits, error) {
	if cfg.Ops == nil || cfg.Catalog == nil {
		return nil, errors.New("orderops: edits need Ops and Catalog")
	}
	if cfg.ReservationTTL <= 0 {
		cfg.ReservationTTL = 15 * time.Minute
	}
	return &Edits{o: cfg.Ops, cat: cfg.Catalog, ttl: cfg.ReservationTTL}, nil
}

// EditView is an edit with its preview and the order's version.
type EditView struct {
	Order   orderResult
	Edit    domain.OrderEdit
	Preview domain.EditPreview
}

func (e *Edits) view(r orderResult, editID string) (EditView, error) {
	s := r.State
	if s.Edit == nil || s.Edit.ID != editID {
		return EditView{Order: r}, fmt.Errorf("%w: order %s has no edit %s", domain.ErrNotFound, s.ID, editID)
	}
	v := EditView{Order: r, Edit: *s.Edit}
	switch {
	case s.Edit.Plan != nil:
		v.Preview = *s.Edit.Plan
	case s.Edit.Status == domain.EditOpen:
		pv, err := domain.PreviewOrderEdit(s, *s.Edit)
		if err != nil {
			return v, err
		}
		v.Preview = pv
	}
	return v, nil
}

// Open opens an edit of a paid, not fully fulfilled order (meta.IfMatch: the order's
// version the admin saw). With the order's coupon terms, for the pricing policy.
func (e *Edits) Open(ctx context.Context, orderID string, meta commands.Meta) (EditView, error) {
	defer e.o.locks.Lock(orderID)()
	if err := e.o.settle(ctx, orderID, meta); err != nil {
		return EditView{}, err
	}
	if err := e.resume(ctx, orderID, meta); err != nil {
		return EditView{}, err
	}
	cur, err := e.o.load(ctx, orderID)
	if err != nil {
		return EditView{}, err
	}
	if err := e.o.notCancelling(ctx, orderID, "edit"); err != nil {
		return EditView{}, err
	}
	var coupon *domain.Coupon
	if code := cur.State.CouponCode; code != "" {
		p, err := commands.Load(ctx, e.o.rt, domain.NewPromotionDecider(), code)
		if err != nil {
			return EditView{}, err
		}
		if p.Exists {
			c := p.State.Coupon
			coupon = &c
		}
	}
	id := derivedID("e-", orderID, meta.IdempotencyKey, "edit")
	r, err := commands.Execute(ctx, e.o.rt, orders, domain.OpenOrderEdit{OrderID: orderID, EditID: id, By: meta.Actor, Coupon: coupon}, firstMeta(orderID, meta, "edit_open"))
	if err != nil {
		return EditView{}, err
	}
	return e.view(r, id)
}

// Get returns an edit with its preview (the plan once it is confirming or applied).
func (e *Edits) Get(ctx context.Context, orderID, editID string) (EditView, error) {
	r, err := e.o.load(ctx, orderID)
	if err != nil {
		return EditView{}, err
	}
	return e.view(r, editID)
}

// AddItem stages a new line of sku at today's catalog price.
func (e *Edits) AddItem(ctx context.Context, orderID, editID, sku string, qty int64, meta commands.Meta) (EditView, error) {
	notSold := &domain.ValidationError{Problems: []domain.FieldProblem{{Field: "sku", Reason: sku + " is not sold"}}}
	p, err := e.cat.ProductBySKU(ctx, sku)
	if errors.Is(err, domain.ErrNotFound) {
		return EditView{}, notSold
	}
	if err != nil {
		return EditView{}, err
	}
	price, err := p.State.PriceOf(sku)
	if errors.Is(err, domain.ErrNotFound) {
		return EditView{}, notSold // a product whose base SKU gave way to variants (archived: ErrValidation)
	}
	if err != nil {
		return EditView{}, err
	}
	prod := &domain.EditProduct{ProductID: p.State.ID, Name: p.State.Name, UnitPrice: price}
	return e.stage(ctx, orderID, editID, domain.StageEditItem{OrderID: orderID, EditID: editID, SKU: sku, Quantity: qty, Product: prod, Add: true}, meta, "edit_add:"+sku)
}

// SetQuantity stages the quantity of a line (0 removes its unfulfilled units).
func (e *Edits) SetQuantity(ctx context.Context, orderID, editID, sku string, qty int64, meta commands.Meta) (EditView, error) {
	return e.stage(ctx, orderID, editID, domain.StageEditItem{OrderID: orderID, EditID: editID, SKU: sku, Quantity: qty}, meta, "edit_qty:"+sku)
}

// SetShippingAddress stages a new shipping address (same country).
func (e *Edits) SetShippingAddress(ctx context.Context, orderID, editID string, a domain.Address, meta commands.Meta) (EditView, error) {
	return e.stage(ctx, orderID, editID, domain.StageEditAddress{OrderID: orderID, EditID: editID, Address: a}, meta, "edit_address")
}

// Cancel drops an open edit.
func (e *Edits) Cancel(ctx context.Context, orderID, editID string, meta commands.Meta) (EditView, error) {
	return e.stage(ctx, orderID, editID, domain.CancelOrderEdit{OrderID: orderID, EditID: editID, By: meta.Actor}, meta, "edit_cancel")
}

func (e *Edits) stage(ctx context.Context, orderID, editID string, cmd domain.OrderCommand, meta commands.Meta, step string) (EditView, error) {
	defer e.o.locks.Lock(orderID)()
	r, err := commands.Execute(ctx, e.o.rt, orders, cmd, firstMeta(orderID, meta, step))
	if err != nil {
		return EditView{}, err
	}
	return e.view(r, editID)
}

// Confirm applies an edit all or nothing (see the package comment above). Out of stock
// fails with domain.ErrOutOfStock, a declined payment with payment.ErrDeclined; in both
// cases nothing changed and the edit is open again.
func (e *Edits) Confirm(ctx context.Context, orderID, editID string, meta commands.Meta) (EditView, error) {
	defer e.o.locks.Lock(orderID)()
	if err := e.o.settle(ctx, orderID, meta); err != nil {
		return EditView{}, err
	}
	if err := e.o.notCancelling(ctx, orderID, "edit"); err != nil {
		return EditView{}, err
	}
	cur, err := e.o.load(ctx, orderID)
	if err != nil {
		return EditView{}, err
	}
	s := cur.State
	if s.Edit == nil || s.Edit.ID != editID {
		return EditView{}, fmt.Errorf("%w: order %s has no edit %s", domain.ErrNotFound, orderID, editID)
	}
	if s.Edit.Status == domain.EditCancelled {
		return EditView{}, &domain.TransitionError{Aggregate: "order edit", ID: editID, State: string(s.Edit.Status), Action: "confirm"}
	}
	if s.Edit.Status == domain.EditOpen {
		pv, err := domain.PreviewOrderEdit(s, *s.Edit)
		if err != nil {
			return EditView{}, err
		}
		restock, err := e.restockPlan(ctx, s, pv.Release)
		if err != nil {
			return EditView{}, err
		}
		if _, err := commands.Execute(ctx, e.o.rt, orders, domain.RequestEditConfirmation{OrderID: orderID, EditID: editID, By: meta.Actor, Restock: restock},
			firstMeta(orderID, meta, "edit_confirm")); err != nil {
			return EditView{}, err
		}
	}
	outcome := e.finish(ctx, orderID, meta)
	r, err := e.o.load(ctx, orderID)
	if err != nil {
		return EditView{}, err
	}
	if outcome != nil {
		return EditView{Order: r}, outcome
	}
	if err := e.o.settle(ctx, orderID, meta); err != nil { // the release of removed units
		return EditView{}, err
	}
	if r, err = e.o.load(ctx, orderID); err != nil {
		return EditView{}, err
	}
	return e.view(r, editID)
}

// Resume finishes an edit a crash left confirming (applied or failed, whichever its
// recorded steps lead to). A no-op when no edit is confirming.
func (e *Edits) Resume(ctx context.Context, orderID string, meta commands.Meta) error {
	defer e.o.locks.Lock(orderID)()
	return e.resume(ctx, orderID, meta)
}

func (e *Edits) resume(ctx context.Context, orderID string, meta commands.Meta) error {
	err := e.finish(ctx, orderID, meta)
	if errors.Is(err, domain.ErrOutOfStock) || errors.Is(err, payment.ErrDeclined) {
		return nil // a definite outcome: the confirmation failed and nothing changed
	}
	if err != nil {
		return err
	}
	return e.o.settle(ctx, orderID, meta)
}

// restockPlan decides from which sales the removed units go back: the newest edit's
// reservation first (units added last leave first), then the order's own sale.
func (e *Edits) restockPlan(ctx context.Context, s domain.Order, release []domain.LineQuantity) ([]domain.EditRestock, error) {
	var out []domain.EditRestock
	for _, r := range release {
		inv, err := commands.Load(ctx, e.o.rt, domain.NewInventoryDecider(), r.SKU)
		if err != nil {
			return nil, err
		}
		owners := []string{}
		for i := len(s.AppliedEdits) - 1; i >= 0; i-- {
			owners = append(owners, domain.EditStockOwner(s.ID, s.AppliedEdits[i].ConfirmationID))
		}
		owners = append(owners, s.ID)
		need := r.Quantity
		for _, o := range owners {
			st, ok := inv.State.Settled[o]
			if !ok || st.Outcome != domain.ReservationCommitted || need == 0 {
				continue
			}
			if n := min(need, st.Quantity-st.Restocked); n > 0 {
				out = append(out, domain.EditRestock{SKU: r.SKU, Owner: o, Quantity: n})
				need -= n
			}
		}
		if need > 0 {
			return nil, fmt.Errorf("orderops: %d units of %s removed from order %s were never sold to it", need, r.SKU, s.ID)
		}
	}
	return out, nil
}

// finish runs the steps of a confirming edit; nil when it was applied (or there was
// none), domain.ErrOutOfStock or payment.ErrDeclined when it failed, any other error when
// it must be resumed.
func (e *Edits) finish(ctx context.Context, orderID string, meta commands.Meta) error {
	cur, err := e.o.load(ctx, orderID)
	if err != nil {
		return err
	}
	s := cur.State
	if !s.EditConfirming() {
		return nil
	}
	ed := *s.Edit
	plan := *ed.Plan
	cid := ed.ConfirmationID
	owner := domain.EditStockOwner(orderID, cid)
	key := func(step string) commands.Meta { return stepMeta(orderID, meta, "edit:"+cid+":"+step) }
	inventory := domain.NewInventoryDecider()
	fail := func(cause error, reason string) error {
		for _, r := range plan.Reserve {
			if _, err := commands.Execute(ctx, e.o.rt, inventory, domain.ReleaseReservation{SKU: r.SKU, OrderID: owner, Reason: "edit not confirmed"}, key("unreserve:"+r.SKU)); err != nil {
				return err
			}
		}
		if _, err := commands.Execute(ctx, e.o.rt, orders, domain.FailOrderEdit{OrderID: orderID, EditID: ed.ID, Reason: clip(reason)}, key("failed")); err != nil {
			return err
		}
		return cause
	}
	// 1. Reserve the added units, all or none.
	expires := e.o.now().Add(e.ttl)
	for _, r := range plan.Reserve {
		_, err := commands.Execute(ctx, e.o.rt, inventory, domain.ReserveStock{SKU: r.SKU, OrderID: owner, Quantity: r.Quantity, ExpiresAt: expires}, key("reserve:"+r.SKU))
		if errors.Is(err, domain.ErrOutOfStock) {
			return fail(err, "out of stock: "+err.Error())
		}
		if err != nil {
			return err
		}
	}
	// 2. Authorize what the added units cost.
	if plan.ToAuthorize.IsPositive() {
		ig, ok := e.o.gw.(payment.IncrementalGateway)
		if !ok {
			return fail(fmt.Errorf("%w: the gateway cannot authorize more", payment.ErrDeclined), "the payment gateway cannot authorize more")
		}
		pay, err := commands.Load(ctx, e.o.rt, payments, orderID)
		if err != nil {
			return err
		}
		res, err := ig.IncrementAuthorization(ctx, payment.IncrementRequest{OrderID: orderID, GatewayRef: pay.State.GatewayRef, Amount: plan.ToAuthorize,
			IdempotencyKey: "order:" + orderID + ":edit:" + cid + ":increment"})
		if err != nil {
			return err // unknown outcome: resumed with the same key
		}
		if res.Status != payment.StatusSucceeded {
			return fail(fmt.Errorf("%w: %s of %s more: %s", payment.ErrDeclined, orderID, plan.ToAuthorize, res.Reason), "payment declined: "+res.Reason)
		}
		if _, err := commands.Execute(ctx, e.o.rt, payments, domain.IncreaseAuthorization{PaymentID: orderID, IncrementID: cid, Amount: plan.ToAuthorize}, key("increase")); err != nil {
			return err
		}
	}
	// 3. The edit will be applied: commit the added units, put the removed ones back.
	for _, r := range plan.Reserve {
		if _, err := commands.Execute(ctx, e.o.rt, inventory, domain.CommitReservation{SKU: r.SKU, OrderID: owner}, key("commit:"+r.SKU)); err != nil {
			return err
		}
	}
	for _, r := range ed.Restock {
		if err := e.o.restock(ctx, r.Owner, r.SKU, r.Quantity, "", "edit "+ed.ID, key("restock:"+r.SKU+":"+r.Owner)); err != nil {
			return err
		}
	}
	// 4. Apply.
	_, err = commands.Execute(ctx, e.o.rt, orders, domain.CompleteOrderEdit{OrderID: orderID, EditID: ed.ID}, key("applied"))
	return err
}

// RunResumer finishes, until ctx ends, edit confirmations a crash left on orders no request
// touches again (the edit holds the order: no parcel ships while it is confirming): every
// interval, it resumes each order pending lists (e.g.
// readmodel.Reader.PendingOrders, which includes orders with a confirming edit). Resume is
// idempotent and a no-op without a confirming edit.
func (e *Edits) RunResumer(ctx context.Context, interval time.Duration, pending func(context.Context) ([]string, error), log *slog.Logger) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := time.NewTimer(interval) // as the settler: the first sweep one interval after start
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ids, err := pending(ctx)
		if err != nil && ctx.Err() == nil {
			log.Warn("orderops edit resumer: listing pending orders", "err", err)
		}
		for _, id := range ids {
			if err := e.Resume(ctx, id, commands.Meta{Actor: SettlerActor}); err != nil && ctx.Err() == nil {
				log.Warn("orderops edit resumer: edit still confirming", "order", id, "err", err)
			}
		}
		t.Reset(interval)
	}
}
