package webhooks

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/integration"
)

// Endpoints are stored as events in the event store, so they live in the log with
// everything else and work on every tier. All endpoints share one stream (admin writes are
// rare; one stream keeps listing cheap and its version orders every change):
//
//	webhook_endpoint.created / updated / secret_rotated / disabled / deleted
//	webhook_endpoint.replay_requested   the worker restarts the endpoint's cursor
//	webhook_delivery.retry_requested    the worker sends one event again
//
// Secrets are encrypted (AES-256-GCM, the endpoint id as associated data) with a key the
// operator keeps outside the log, because the log is exported to auditors.
const EndpointsStream = "webhooks-endpoints"

// Event types of the endpoints stream.
const (
	evCreated        = "webhook_endpoint.created"
	evUpdated        = "webhook_endpoint.updated"
	evRotated        = "webhook_endpoint.secret_rotated"
	evDisabled       = "webhook_endpoint.disabled"
	evDeleted        = "webhook_endpoint.deleted"
	evReplay         = "webhook_endpoint.replay_requested"
	evRetryRequested = "webhook_delivery.retry_requested"
)

// Errors of endpoint management; the HTTP layer maps them to problem documents.
var (
	ErrNotFound   = errors.New("not found")
	ErrValidation = errors.New("invalid")
)

// Endpoint is a registered receiver, as the admin API shows it (never its secrets).
type Endpoint struct {
	ID          string   `json:"id"`
	URL         string   `json:"url"`
	EventTypes  []string `json:"eventTypes"`
	Description string   `json:"description"`
	Enabled     bool     `json:"enabled"`
	// DisabledReason says why the delivery worker disabled it (410, failing too long).
	DisabledReason string    `json:"disabledReason,omitempty"`
	CreatedAt      time.Time `json:"createdAt"`
	UpdatedAt      time.Time `json:"updatedAt"`
	// StartPosition: events after this log position are delivered (the head at creation).
	StartPosition uint64 `json:"startPosition"`
	// ReplayGeneration counts replays; ReplayFrom is the last replay's first position.
	ReplayGeneration int    `json:"replayGeneration"`
	ReplayFrom       uint64 `json:"replayFrom,omitempty"`
	// PreviousSecretExpiresAt is set for 24 h after a rotation, while both secrets sign.
	PreviousSecretExpiresAt *time.Time `json:"previousSecretExpiresAt,omitempty"`

	secrets []signingKey // current first
	deleted bool
}

type signingKey struct {
	key     []byte
	expires time.Time // zero: current
}

// keysAt are the keys that sign at time t: the current one and a previous one not expired.
func (e *Endpoint) keysAt(t time.Time) [][]byte {
	var out [][]byte
	for _, k := range e.secrets {
		if k.expires.IsZero() || t.Before(k.expires) {
			out = append(out, k.key)
		}
	}
	return out
}

// subscribed reports whether the endpoint takes an event type (no types: all of them).
func (e *Endpoint) subscribed(typ string) bool {
	return len(e.EventTypes) == 0 || slices.Contains(e.EventTypes, typ)
}

func (e *Endpoint) clone() *Endpoint {
	c := *e
	c.EventTypes = slices.Clone(e.EventTypes)
	c.secrets = slices.Clone(e.secrets)
	return &c
}

// wire forms of the events.
type (
	createdEvent struct {
		ID            string    `json:"id"`
		URL           string    `json:"url"`
		EventTypes    []string  `json:"eventTypes"`
		Description   string    `json:"description,omitempty"`
		Secret        string    `json:"secret"` // encrypted
		StartPosition uint64    `json:"startPosition"`
		At            time.Time `json:"at"`
	}
	updatedEvent struct {
		ID          string    `json:"id"`
		URL         *string   `json:"url,omitempty"`
		EventTypes  *[]string `json:"eventTypes,omitempty"`
		Description *string   `json:"description,omitempty"`
		Enabled     *bool     `json:"enabled,omitempty"`
		At          time.Time `json:"at"`
	}
	rotatedEvent struct {
		ID                string    `json:"id"`
		Secret            string    `json:"secret"` // encrypted
		PreviousExpiresAt time.Time `json:"previousExpiresAt"`
		At                time.Time `json:"at"`
	}
	disabledEvent struct {
		ID     string    `json:"id"`
		Reason string    `json:"reason"`
		At     time.Time `json:"at"`
	}
	deletedEvent struct {
		ID string    `json:"id"`
		At time.Time `json:"at"`
	}
	replayEvent struct {
		ID           string    `json:"id"`
		FromPosition uint64    `json:"fromPosition"`
		At           time.Time `json:"at"`
	}
	retryEvent struct {
		EndpointID string    `json:"endpointId"`
		DeliveryID string    `json:"deliveryId"`
		EventID    string    `json:"eventId"`
		Position   uint64    `json:"position"`
		At         time.Time `json:"at"`
	}
)

// registry is the fold of the endpoints stream.
type registry struct {
	byID    map[string]*Endpoint
	order   []string
	version uint64
	exists  bool
}

func newRegistry() *registry { return &registry{byID: map[string]*Endpoint{}} }

// catchUp applies the stream's events after the registry's version and returns them.
func (g *registry) catchUp(ctx context.Context, store eventstore.Store, box *sealer) ([]eventstore.RecordedEvent, error) {
	var all []eventstore.RecordedEvent
	for {
		from := uint64(0)
		if g.exists {
			from = g.version + 1
		}
		recs, err := store.ReadStream(ctx, EndpointsStream, eventstore.Forward, from, 500)
		if errors.Is(err, eventstore.ErrStreamNotFound) {
			return all, nil
		}
		if err != nil {
			return all, fmt.Errorf("read %s: %w", EndpointsStream, err)
		}
		for _, rec := range recs {
			if err := g.apply(rec, box); err != nil {
				return all, err
			}
			g.version, g.exists = rec.Version, true
		}
		all = append(all, recs...)
		if len(recs) < 500 {
			return all, nil
		}
	}
}

func (g *registry) apply(rec eventstore.RecordedEvent, box *sealer) error {
	bad := func(err error) error { return fmt.Errorf("%s@%d (%s): %w", rec.Stream, rec.Version, rec.Type, err) }
	switch rec.Type {
	case evCreated:
		var e createdEvent
		if err := json.Unmarshal(rec.Data, &e); err != nil {
			return bad(err)
		}
		key, err := box.open(e.ID, e.Secret)
		if err != nil {
			return bad(err)
		}
		g.byID[e.ID] = &Endpoint{ID: e.ID, URL: e.URL, EventTypes: e.EventTypes, Description: e.Description, Enabled: true,
			CreatedAt: e.At, UpdatedAt: e.At, StartPosition: e.StartPosition, secrets: []signingKey{{key: key}}}
		g.order = append(g.order, e.ID)
	case evUpdated:
		var e updatedEvent
		if err := json.Unmarshal(rec.Data, &e); err != nil {
			return bad(err)
		}
		if ep := g.byID[e.ID]; ep != nil {
			if e.URL != nil {
				ep.URL = *e.URL
			}
			if e.EventTypes != nil {
				ep.EventTypes = *e.EventTypes
			}
			if e.Description != nil {
				ep.Description = *e.Description
			}
			if e.Enabled != nil {
				ep.Enabled = *e.Enabled
				if ep.Enabled {
					ep.DisabledReason = ""
				}
			}
			ep.UpdatedAt = e.At
		}
	case evRotated:
		var e rotatedEvent
		if err := json.Unmarshal(rec.Data, &e); err != nil {
			return bad(err)
		}
		if ep := g.byID[e.ID]; ep != nil {
			key, err := box.open(e.ID, e.Secret)
			if err != nil {
				return bad(err)
			}
			prev := ep.secrets[0]
			prev.expires = e.PreviousExpiresAt
			ep.secrets = []signingKey{{key: key}, prev}
			exp := e.PreviousExpiresAt
			ep.PreviousSecretExpiresAt = &exp
			ep.UpdatedAt = e.At
		}
	case evDisabled:
		var e disabledEvent
		if err := json.Unmarshal(rec.Data, &e); err != nil {
			return bad(err)
		}
		if ep := g.byID[e.ID]; ep != nil {
			ep.Enabled, ep.DisabledReason, ep.UpdatedAt = false, e.Reason, e.At
		}
	case evDeleted:
		var e deletedEvent
		if err := json.Unmarshal(rec.Data, &e); err != nil {
			return bad(err)
		}
		if ep := g.byID[e.ID]; ep != nil {
			ep.deleted = true
			delete(g.byID, e.ID)
			g.order = slices.DeleteFunc(g.order, func(id string) bool { return id == e.ID })
		}
	case evReplay:
		var e replayEvent
		if err := json.Unmarshal(rec.Data, &e); err != nil {
			return bad(err)
		}
		if ep := g.byID[e.ID]; ep != nil {
			ep.ReplayGeneration++
			ep.ReplayFrom = e.FromPosition
			ep.UpdatedAt = e.At
		}
	case evRetryRequested:
		// Read by the worker from catchUp's result; no endpoint state.
	}
	return nil
}

// sealer encrypts signing secrets at rest.
type sealer struct{ aead cipher.AEAD }

func newSealer(secret []byte) (*sealer, error) {
	if len(secret) < 32 {
		return nil, errors.New("webhooks: SecretKey must be at least 32 bytes")
	}
	key := sha256.Sum256(append([]byte("orderengine webhook secrets\x00"), secret...))
	b, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, err
	}
	a, err := cipher.NewGCM(b)
	if err != nil {
		return nil, err
	}
	return &sealer{aead: a}, nil
}

func (s *sealer) seal(endpointID string, key []byte) (string, error) {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(s.aead.Seal(nonce, nonce, key, []byte(endpointID))), nil
}

func (s *sealer) open(endpointID, sealed string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil || len(b) < s.aead.NonceSize() {
		return nil, errors.New("sealed secret is malformed")
	}
	key, err := s.aead.Open(nil, b[:s.aead.NonceSize()], b[s.aead.NonceSize():], []byte(endpointID))
	if err != nil {
		return nil, errors.New("cannot decrypt the endpoint secret (wrong webhooks key?)")
	}
	return key, nil
}

// Endpoints manages webhook endpoints in the event store.
type Endpoints struct {
	store    eventstore.Store
	box      *sealer
	sec      Security
	now      func() time.Time
	rotation time.Duration

	mu  sync.Mutex
	reg *registry
}

// EndpointsConfig configures Endpoints.
type EndpointsConfig struct {
	Store eventstore.Store
	// SecretKey (at least 32 bytes; an AES-256 key is derived from it) encrypts signing
	// secrets in the log. Keep it outside the log
	// (e.g. a file next to the JWT secret); losing it means rotating every secret.
	SecretKey []byte
	Security  Security
	// RotationOverlap is how long the previous secret keeps signing (default 24 h).
	RotationOverlap time.Duration
	Now             func() time.Time
}

// NewEndpoints builds the endpoint store.
func NewEndpoints(c EndpointsConfig) (*Endpoints, error) {
	if c.Store == nil {
		return nil, errors.New("webhooks: Store is required")
	}
	box, err := newSealer(c.SecretKey)
	if err != nil {
		return nil, err
	}
	if c.RotationOverlap <= 0 {
		c.RotationOverlap = 24 * time.Hour
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return &Endpoints{store: c.Store, box: box, sec: c.Security, now: c.Now, rotation: c.RotationOverlap, reg: newRegistry()}, nil
}

// change runs decide on the current registry and appends its events at the version read,
// retrying a few times when another writer got there first.
func (s *Endpoints) change(ctx context.Context, decide func(g *registry) ([]any, error)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for attempt := 0; ; attempt++ {
		if _, err := s.reg.catchUp(ctx, s.store, s.box); err != nil {
			return err
		}
		evs, err := decide(s.reg)
		if err != nil || len(evs) == 0 {
			return err
		}
		data := make([]eventstore.EventData, len(evs))
		for i, e := range evs {
			b, err := json.Marshal(e)
			if err != nil {
				return err
			}
			data[i] = eventstore.EventData{ID: uuid.New(), Type: typeOf(e), Data: b, Metadata: []byte(`{"actor":"system:webhooks"}`)}
		}
		expected := eventstore.NoStream
		if s.reg.exists {
			expected = eventstore.Exact(s.reg.version)
		}
		_, err = s.store.Append(ctx, EndpointsStream, expected, data...)
		if errors.Is(err, eventstore.ErrWrongExpectedVersion) && attempt < 5 {
			continue
		}
		if err != nil {
			return fmt.Errorf("append to %s: %w", EndpointsStream, err)
		}
		// The change is stored; a failed read here only delays the cache (the next call
		// catches up), so it is not the caller's error.
		_, _ = s.reg.catchUp(ctx, s.store, s.box)
		return nil
	}
}

func typeOf(e any) string {
	switch e.(type) {
	case createdEvent:
		return evCreated
	case updatedEvent:
		return evUpdated
	case rotatedEvent:
		return evRotated
	case disabledEvent:
		return evDisabled
	case deletedEvent:
		return evDeleted
	case replayEvent:
		return evReplay
	case retryEvent:
		return evRetryRequested
	}
	panic(fmt.Sprintf("webhooks: no event type for %T", e))
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrValidation, fmt.Sprintf(format, args...))
}

func (s *Endpoints) checkTypes(types []string) error {
	if len(types) > 64 {
		return invalidf("eventTypes: at most 64")
	}
	for _, t := range types {
		if _, ok := integration.Lookup(t); !ok || t == integration.PingType {
			return invalidf("eventTypes: %q is not an event type (see GET /v1/asyncapi.json)", t)
		}
	}
	return nil
}

func (s *Endpoints) checkURL(u string) error {
	if err := s.sec.CheckURL(u); err != nil {
		return fmt.Errorf("%w: %w", ErrValidation, err)
	}
	return nil
}

// NewEndpoint is what Create takes.
type NewEndpoint struct {
	// ID is optional: a retried request with the same ID is recognised.
	ID          string
	URL         string
	EventTypes  []string
	Description string
}

// Create registers an endpoint and returns it with its signing secret, which is never
// shown again. Events after the log's current head are delivered to it.
func (s *Endpoints) Create(ctx context.Context, n NewEndpoint) (Endpoint, string, error) {
	if err := s.checkURL(n.URL); err != nil {
		return Endpoint{}, "", err
	}
	if err := s.checkTypes(n.EventTypes); err != nil {
		return Endpoint{}, "", err
	}
	if len(n.Description) > 500 {
		return Endpoint{}, "", invalidf("description: at most 500 characters")
	}
	if n.ID == "" {
		n.ID = uuid.NewString()
	}
	secret, err := NewSecret()
	if err != nil {
		return Endpoint{}, "", err
	}
	key, _ := DecodeSecret(secret)
	sealed, err := s.box.seal(n.ID, key)
	if err != nil {
		return Endpoint{}, "", err
	}
	head, err := s.store.Head(ctx)
	if err != nil {
		return Endpoint{}, "", fmt.Errorf("log head: %w", err)
	}
	types := slices.Clone(n.EventTypes)
	if types == nil {
		types = []string{}
	}
	var out Endpoint
	err = s.change(ctx, func(g *registry) ([]any, error) {
		if _, dup := g.byID[n.ID]; dup {
			return nil, ErrAlreadyExists
		}
		return []any{createdEvent{ID: n.ID, URL: n.URL, EventTypes: types, Description: n.Description, Secret: sealed, StartPosition: head, At: s.now().UTC()}}, nil
	})
	if err != nil {
		return Endpoint{}, "", err
	}
	out, err = s.Get(ctx, n.ID)
	return out, secret, err
}

// ErrAlreadyExists: an endpoint with this id exists (a retried create).
var ErrAlreadyExists = errors.New("already exists")

// Patch is a partial update; nil fields stay.
type Patch struct {
	URL         *string
	EventTypes  *[]string
	Description *string
	Enabled     *bool
}

// Update changes an endpoint. Enabling it again resumes delivery from its checkpoint.
func (s *Endpoints) Update(ctx context.Context, id string, p Patch) (Endpoint, error) {
	if p.URL != nil {
		if err := s.checkURL(*p.URL); err != nil {
			return Endpoint{}, err
		}
	}
	if p.EventTypes != nil {
		if err := s.checkTypes(*p.EventTypes); err != nil {
			return Endpoint{}, err
		}
	}
	if p.Description != nil && len(*p.Description) > 500 {
		return Endpoint{}, invalidf("description: at most 500 characters")
	}
	err := s.change(ctx, func(g *registry) ([]any, error) {
		if g.byID[id] == nil {
			return nil, fmt.Errorf("endpoint %s: %w", id, ErrNotFound)
		}
		return []any{updatedEvent{ID: id, URL: p.URL, EventTypes: p.EventTypes, Description: p.Description, Enabled: p.Enabled, At: s.now().UTC()}}, nil
	})
	if err != nil {
		return Endpoint{}, err
	}
	return s.Get(ctx, id)
}

// RotateSecret gives the endpoint a new secret (returned once); the previous one keeps
// signing beside it for RotationOverlap, so receivers can switch without losing events.
func (s *Endpoints) RotateSecret(ctx context.Context, id string) (Endpoint, string, error) {
	secret, err := NewSecret()
	if err != nil {
		return Endpoint{}, "", err
	}
	key, _ := DecodeSecret(secret)
	sealed, err := s.box.seal(id, key)
	if err != nil {
		return Endpoint{}, "", err
	}
	now := s.now().UTC()
	err = s.change(ctx, func(g *registry) ([]any, error) {
		if g.byID[id] == nil {
			return nil, fmt.Errorf("endpoint %s: %w", id, ErrNotFound)
		}
		return []any{rotatedEvent{ID: id, Secret: sealed, PreviousExpiresAt: now.Add(s.rotation), At: now}}, nil
	})
	if err != nil {
		return Endpoint{}, "", err
	}
	ep, err := s.Get(ctx, id)
	return ep, secret, err
}

// Disable stops deliveries to an endpoint, with a reason (the worker's 410 and
// failing-too-long rules call it).
func (s *Endpoints) Disable(ctx context.Context, id, reason string) error {
	return s.change(ctx, func(g *registry) ([]any, error) {
		ep := g.byID[id]
		if ep == nil {
			return nil, fmt.Errorf("endpoint %s: %w", id, ErrNotFound)
		}
		if !ep.Enabled {
			return nil, nil
		}
		return []any{disabledEvent{ID: id, Reason: reason, At: s.now().UTC()}}, nil
	})
}

// Delete removes an endpoint; its delivery log stays in the event store.
func (s *Endpoints) Delete(ctx context.Context, id string) error {
	return s.change(ctx, func(g *registry) ([]any, error) {
		if g.byID[id] == nil {
			return nil, fmt.Errorf("endpoint %s: %w", id, ErrNotFound)
		}
		return []any{deletedEvent{ID: id, At: s.now().UTC()}}, nil
	})
}

// Replay makes the worker deliver the endpoint's events again from a log position
// (inclusive). Replayed events carry the webhook-id of their first delivery.
func (s *Endpoints) Replay(ctx context.Context, id string, fromPosition uint64) (Endpoint, error) {
	if fromPosition == 0 {
		fromPosition = 1
	}
	err := s.change(ctx, func(g *registry) ([]any, error) {
		if g.byID[id] == nil {
			return nil, fmt.Errorf("endpoint %s: %w", id, ErrNotFound)
		}
		return []any{replayEvent{ID: id, FromPosition: fromPosition, At: s.now().UTC()}}, nil
	})
	if err != nil {
		return Endpoint{}, err
	}
	return s.Get(ctx, id)
}

// PositionAt finds the first log position recorded at or after t (binary search over
// positions; recorded times follow positions), or head+1 when none is.
func (s *Endpoints) PositionAt(ctx context.Context, t time.Time) (uint64, error) {
	head, err := s.store.Head(ctx)
	if err != nil {
		return 0, err
	}
	lo, hi := uint64(0), head // answer in (lo, hi+1]
	for lo < hi {
		mid := lo + (hi-lo)/2
		recs, err := s.store.ReadAll(ctx, mid, 1, eventstore.Filter{})
		if err != nil {
			return 0, err
		}
		if len(recs) == 0 {
			hi = mid
			continue
		}
		if recs[0].RecordedAt.Before(t) {
			lo = recs[0].Position
		} else {
			hi = recs[0].Position - 1
		}
	}
	return lo + 1, nil
}

// requestRetry records a manual retry of one delivery for the worker.
func (s *Endpoints) requestRetry(ctx context.Context, r retryEvent) error {
	return s.change(ctx, func(g *registry) ([]any, error) {
		if g.byID[r.EndpointID] == nil {
			return nil, fmt.Errorf("endpoint %s: %w", r.EndpointID, ErrNotFound)
		}
		r.At = s.now().UTC()
		return []any{r}, nil
	})
}

// List returns every endpoint, oldest first.
func (s *Endpoints) List(ctx context.Context) ([]Endpoint, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.reg.catchUp(ctx, s.store, s.box); err != nil {
		return nil, err
	}
	out := make([]Endpoint, 0, len(s.reg.order))
	for _, id := range s.reg.order {
		out = append(out, *s.reg.byID[id].clone())
	}
	return out, nil
}

// Get returns one endpoint.
func (s *Endpoints) Get(ctx context.Context, id string) (Endpoint, error) {
	ep, err := s.get(ctx, id)
	if err != nil {
		return Endpoint{}, err
	}
	return *ep, nil
}

// get returns a copy including the signing keys.
func (s *Endpoints) get(ctx context.Context, id string) (*Endpoint, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.reg.catchUp(ctx, s.store, s.box); err != nil {
		return nil, err
	}
	ep := s.reg.byID[id]
	if ep == nil {
		return nil, fmt.Errorf("endpoint %s: %w", id, ErrNotFound)
	}
	return ep.clone(), nil
}
