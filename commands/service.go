package commands

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/orderengine/orderengine/checkout/request"
	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/envelope"
	"github.com/orderengine/orderengine/eventstore"
)

// ErrForbidden: a customer (Meta.Customer set) tried an admin command.
var ErrForbidden = errors.New("forbidden")

// ServiceOptions configure a Service. Zero values take the defaults.
type ServiceOptions struct {
	// Pricing prices carts (default domain.DefaultPricing()).
	Pricing domain.Pricing
	// ClaimGrace is how long a SKU claim whose product was never created blocks the SKU
	// (default 5 min): after it, the claim counts as left behind by a crashed request and
	// another product may take the SKU. Keep it well above the longest request.
	ClaimGrace time.Duration
	// MaxOpenCarts caps the carts a customer may have open at once (default
	// DefaultMaxOpenCarts; negative: no cap). See CategoryCustomerCarts.
	MaxOpenCarts int
	// IDKey keys the derivation of aggregate ids from idempotency keys, so that nobody
	// can compute the id of another customer's keyed cart (default: random per Service,
	// so a retry that reaches another instance or a restarted one creates a new cart,
	// unless the idempotency store replays the first answer, as it does once completed).
	IDKey []byte
}

// Service is the application service behind the command API: it fills commands from the
// catalog and promotions (prices never come from the client), enforces ownership, SKU
// uniqueness and the cart → order handover, and runs everything through the Runtime.
//
// Every method returns domain errors wrapped with %w (check with errors.Is), plus
// ErrPreconditionFailed (If-Match), ErrConflict (retries exhausted) and ErrForbidden (a
// customer calling an admin method).
type Service struct {
	rt         *Runtime
	opt        ServiceOptions
	products   domain.Decider[domain.Product, domain.ProductCommand]
	carts      domain.Decider[domain.Cart, domain.CartCommand]
	orders     domain.Decider[domain.Order, domain.OrderCommand]
	inventory  domain.Decider[domain.Inventory, domain.InventoryCommand]
	promotions domain.Decider[domain.Promotion, domain.PromotionCommand]
}

// NewService builds the service. rt's registry must know the events the service writes
// besides the domain's (Events and the checkout request; see package eventregistry).
func NewService(rt *Runtime, opt ServiceOptions) (*Service, error) {
	if opt.Pricing.Shipping == nil && opt.Pricing.Tax.Countries == nil {
		opt.Pricing = domain.DefaultPricing()
	}
	if err := opt.Pricing.Validate(); err != nil {
		return nil, fmt.Errorf("pricing: %w", err)
	}
	if opt.ClaimGrace <= 0 {
		opt.ClaimGrace = 5 * time.Minute
	}
	if opt.MaxOpenCarts == 0 {
		opt.MaxOpenCarts = DefaultMaxOpenCarts
	}
	if len(opt.IDKey) == 0 {
		opt.IDKey = make([]byte, 32)
		if _, err := rand.Read(opt.IDKey); err != nil {
			return nil, fmt.Errorf("id key: %w", err)
		}
	}
	for _, e := range append(Events(), request.Events()...) {
		if !rt.reg.Knows(e) {
			return nil, fmt.Errorf("commands: the runtime's registry does not know %s (build it with eventregistry.New)", e.EventType())
		}
	}
	return &Service{
		rt: rt, opt: opt,
		products:   domain.NewProductDecider(),
		carts:      domain.NewCartDecider(opt.Pricing),
		orders:     domain.NewOrderDecider(),
		inventory:  domain.NewInventoryDecider(),
		promotions: domain.NewPromotionDecider(),
	}, nil
}

// Runtime is the service's runtime.
func (s *Service) Runtime() *Runtime { return s.rt }

// Pricing is the pricing configuration carts are priced with.
func (s *Service) Pricing() domain.Pricing { return s.opt.Pricing }

func adminOnly(meta Meta) error {
	if meta.Customer != "" {
		return fmt.Errorf("%w: this operation is for admins", ErrForbidden)
	}
	return nil
}

// step gives each append of a multi-append operation its own idempotency key, so event ids
// derived for one step are never mistaken for another step's on the same stream.
func (m Meta) step(name string) Meta {
	if m.IdempotencyKey != "" {
		m.IdempotencyKey += "/" + name
	}
	return m
}

var idNamespace = uuid.MustParse("3b0f5c1e-8d2a-4f47-9a51-6c7e2d9b8a10")

// newID is a fresh aggregate id, or with an idempotency key one derived from it by an
// HMAC under the service's IDKey, so a retried create addresses the same aggregate and is
// recognised as a replay, while nobody without the key can compute the id.
func (s *Service) newID(kind string, meta Meta) string {
	if meta.IdempotencyKey == "" {
		return uuid.NewString()
	}
	return uuid.NewHash(hmac.New(sha256.New, s.opt.IDKey), idNamespace, []byte(kind+"\x00"+meta.Customer+"\x00"+meta.IdempotencyKey), 5).String()
}

// OrderIDForCart is the id of the one order a cart can become.
func OrderIDForCart(cartID string) string {
	return uuid.NewSHA1(idNamespace, []byte("order\x00"+cartID)).String()
}

func validation(field, format string, args ...any) error {
	return &domain.ValidationError{Problems: []domain.FieldProblem{{Field: field, Reason: fmt.Sprintf(format, args...)}}}
}

// appendEvent appends one bookkeeping event (not an aggregate's) with the request metadata.
func (s *Service) appendEvent(ctx context.Context, stream string, expected eventstore.ExpectedVersion, id uuid.UUID, e domain.Event, meta Meta) (eventstore.AppendResult, error) {
	tc := s.rt.tracing.Inject(ctx)
	data, err := envelope.Encode(s.rt.reg, id, e, envelope.Metadata{
		CorrelationID: meta.CorrelationID, CausationID: meta.CausationID, Actor: meta.Actor,
		OccurredAt: s.rt.now().UTC(), IdempotencyKey: meta.IdempotencyKey,
		TraceParent: tc.TraceParent, TraceState: tc.TraceState,
	})
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	return s.rt.store.Append(ctx, stream, expected, data)
}

// readEvents reads a (short) bookkeeping stream; nil when it does not exist.
func (s *Service) readEvents(ctx context.Context, stream string, dir eventstore.Direction, from uint64, limit int) ([]domain.Event, []eventstore.RecordedEvent, error) {
	recs, err := s.rt.store.ReadStream(ctx, stream, dir, from, limit)
	if errors.Is(err, eventstore.ErrStreamNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", stream, err)
	}
	evs := make([]domain.Event, len(recs))
	for i, r := range recs {
		if evs[i], _, err = envelope.Decode(s.rt.reg, r); err != nil {
			return nil, nil, err
		}
	}
	return evs, recs, nil
}

// compensationContext outlives the request's cancellation, so clean-up still runs when the
// failure was the client going away.
func compensationContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
}
