package privacy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/envelope"
	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/idempotency"
)

// IdempotencyRules seal stored responses (idempotency.completed's body) under the
// subject that made the request (the record's scope).
func IdempotencyRules() map[string]Rule {
	return map[string]Rule{idempotency.EventCompleted: {Subject: "scope", Paths: [][]string{{"body"}}, Bytes: true}}
}

// Rules is every rule of the application: the registry's tags plus IdempotencyRules.
func Rules(reg *domain.Registry) map[string]Rule {
	r := RulesFromRegistry(reg)
	for k, v := range IdempotencyRules() {
		r[k] = v
	}
	return r
}

// ErasureStream is the stream of a customer's erasure record; it names a digest, since
// a stream name can never be erased.
func ErasureStream(customerID string) string {
	h := sha256.Sum256([]byte("erasure\x00" + customerID))
	return domain.CategoryErasure + "-" + hex.EncodeToString(h[:16])
}

var erasureNS = uuid.MustParse("0d5e2f7a-41c3-4b8e-9f60-3a1b7c9d2e55")

// Erasure is the result of Erase.
type Erasure struct {
	CustomerID string `json:"customerId"`
	// AlreadyErased is true when the key was gone before (the record is not repeated).
	AlreadyErased bool   `json:"alreadyErased"`
	Position      uint64 `json:"position"`
}

// Erase destroys the customer's data key, then records customer.erased (once: a
// repeated erasure appends the same event id, a no-op). Order matters: when the record
// is in the log, the key is gone, so a projection that sees the record reads every
// earlier event of the customer as erased too.
func (s *Store) Erase(ctx context.Context, customerID, actor string, now time.Time) (Erasure, error) {
	if customerID == "" {
		return Erasure{}, fmt.Errorf("%w: customer id is required", domain.ErrValidation)
	}
	changed, err := s.keys.Erase(ctx, customerID)
	if err != nil {
		return Erasure{}, err
	}
	reg := domain.NewRegistry()
	if err := reg.Register(domain.CustomerErased{}.EventType(), 1, domain.CustomerErased{}); err != nil {
		return Erasure{}, err
	}
	ev, err := envelope.Encode(reg, uuid.NewSHA1(erasureNS, []byte(customerID)), domain.CustomerErased{CustomerID: customerID, At: now.UTC()},
		envelope.Metadata{Actor: actor, CorrelationID: "erasure", OccurredAt: now.UTC()})
	if err != nil {
		return Erasure{}, err
	}
	res, err := s.Store.Append(ctx, ErasureStream(customerID), eventstore.Any, ev)
	if err != nil {
		return Erasure{}, fmt.Errorf("record the erasure: %w", err)
	}
	return Erasure{CustomerID: customerID, AlreadyErased: !changed, Position: res.Position}, nil
}
