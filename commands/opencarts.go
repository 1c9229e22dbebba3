package commands

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/envelope"
	"github.com/orderengine/orderengine/eventstore"
)

// CategoryCustomerCarts: "customercarts-<digest of the customer id>" lists the carts a
// customer opened and which of them are known closed, so CreateCart can cap open carts
// per customer. The stream name holds a digest, not the customer id: a stream name
// cannot be erased.
const CategoryCustomerCarts = "customercarts"

// DefaultMaxOpenCarts is ServiceOptions.MaxOpenCarts when unset.
const DefaultMaxOpenCarts = 20

// ErrTooManyOpenCarts: the customer already has ServiceOptions.MaxOpenCarts open carts.
var ErrTooManyOpenCarts = errors.New("too many open carts")

// CustomerCartOpened: a customer's cart was opened (recorded before the cart exists; a
// cart that never came to be is dropped by a later recount that finds it still missing
// after ServiceOptions.ClaimGrace).
type CustomerCartOpened struct {
	CartID string    `json:"cartId"`
	At     time.Time `json:"at"`
}

// CustomerCartsRecounted: of the carts opened so far, these are still open (the others
// were checked out or never created). Reading the index stops at the last one, so a
// read takes at most MaxOpenCarts+1 events however many carts the customer ever had.
type CustomerCartsRecounted struct {
	Open []OpenCart `json:"open"`
	At   time.Time  `json:"at"`
}

// OpenCart is a cart counted as open and when its slot was taken.
type OpenCart struct {
	CartID   string    `json:"cartId"`
	OpenedAt time.Time `json:"openedAt"`
}

func (CustomerCartOpened) EventType() string     { return "customercarts.opened" }
func (CustomerCartsRecounted) EventType() string { return "customercarts.recounted" }

func customerCartsStream(customer string) string {
	h := sha256.Sum256([]byte("customercarts\x00" + customer))
	return CategoryCustomerCarts + "-" + hex.EncodeToString(h[:16])
}

// reserveCartSlot records cartID as opened by customer unless the customer already has
// max open carts. The count and the append are one optimistic step on the customer's
// index stream, so concurrent creates cannot pass the cap together. Carts the index
// lists as open are checked (at most max cart loads) only when the cap would be hit,
// and the ones still open recorded (CustomerCartsRecounted).
func (s *Service) reserveCartSlot(ctx context.Context, customer, cartID string, meta Meta) error {
	max := s.opt.MaxOpenCarts
	if max < 0 {
		return nil
	}
	stream := customerCartsStream(customer)
	for attempt := 0; attempt < 20; attempt++ {
		open, last, exists, err := s.openCarts(ctx, stream)
		if err != nil {
			return err
		}
		expected := eventstore.NoStream
		if exists {
			expected = eventstore.Exact(last)
		}
		for _, c := range open {
			if c.CartID == cartID {
				return nil // a retried create: its slot is taken already
			}
		}
		var batch []domain.Event
		if len(open) >= max {
			var still []OpenCart
			for _, oc := range open {
				c, err := Load(ctx, s.rt, s.carts, oc.CartID)
				if err != nil {
					return err
				}
				// A missing cart may still be on its way (its create runs now): it counts
				// as gone only when its slot is older than ClaimGrace.
				gone := !c.Exists && s.rt.now().Sub(oc.OpenedAt) > s.opt.ClaimGrace
				if !gone && (!c.Exists || c.State.Status == domain.CartStatusOpen) {
					still = append(still, oc)
				}
			}
			if len(still) >= max {
				return fmt.Errorf("%w: you have %d open carts, the limit is %d; check one out or keep using it", ErrTooManyOpenCarts, len(still), max)
			}
			batch = append(batch, CustomerCartsRecounted{Open: still, At: s.rt.now().UTC()})
		}
		batch = append(batch, CustomerCartOpened{CartID: cartID, At: s.rt.now().UTC()})
		data := make([]eventstore.EventData, len(batch))
		for i, e := range batch {
			if data[i], err = envelope.Encode(s.rt.reg, uuid.New(), e, envelope.Metadata{
				CorrelationID: meta.CorrelationID, CausationID: meta.CausationID, Actor: meta.Actor, OccurredAt: s.rt.now().UTC(),
			}); err != nil {
				return err
			}
		}
		_, err = s.rt.store.Append(ctx, stream, expected, data...)
		if errors.Is(err, eventstore.ErrWrongExpectedVersion) {
			continue // another create of this customer got in first: count again
		}
		return err
	}
	return fmt.Errorf("open carts of a customer: %w", ErrConflict)
}

// openCarts reads the index backwards down to its last recount: the carts counted open
// and the stream's last version.
func (s *Service) openCarts(ctx context.Context, stream string) (open []OpenCart, last uint64, exists bool, err error) {
	const page = 64
	from := eventstore.End
	var opened []OpenCart // newest first
	for {
		evs, recs, err := s.readEvents(ctx, stream, eventstore.Backward, from, page)
		if err != nil {
			return nil, 0, false, err
		}
		if len(recs) > 0 && !exists {
			exists, last = true, recs[0].Version
		}
		for _, e := range evs {
			switch e := e.(type) {
			case CustomerCartOpened:
				opened = append(opened, OpenCart{CartID: e.CartID, OpenedAt: e.At})
			case CustomerCartsRecounted:
				open = append(open, e.Open...)
				slices.Reverse(opened)
				return append(open, opened...), last, exists, nil
			}
		}
		if len(recs) < page || recs[len(recs)-1].Version == 0 {
			slices.Reverse(opened)
			return opened, last, exists, nil
		}
		from = recs[len(recs)-1].Version - 1
	}
}
