// Package envelope turns domain events into stored events and back: the event's stable
// name and JSON body, plus the metadata every stored event carries (correlation and
// causation ids, actor, occurred-at, schema version, idempotency key, trace context).
package envelope

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/eventstore"
)

// Metadata is recorded with every event.
type Metadata struct {
	// CorrelationID ties together everything one request or saga caused.
	CorrelationID string `json:"correlationId,omitempty"`
	// CausationID is the id of the event or request that directly caused this event.
	CausationID string `json:"causationId,omitempty"`
	// Actor is who acted: a JWT subject, or "system:<component>".
	Actor string `json:"actor,omitempty"`
	// OccurredAt is when the command was decided (the store adds its own recorded time).
	OccurredAt time.Time `json:"occurredAt"`
	// SchemaVersion of the event's data.
	SchemaVersion int `json:"schemaVersion"`
	// IdempotencyKey of the request that caused the event, if any.
	IdempotencyKey string `json:"idempotencyKey,omitempty"`
	// TraceParent and TraceState are the W3C trace context of the span that appended the
	// event, so asynchronous consumers (saga, projections, webhooks) join the request's
	// trace (telemetry.StartFromEvent). Event ids never derive from them: a retried
	// request in another trace is still recognised by its deterministic ids.
	TraceParent string `json:"traceparent,omitempty"`
	TraceState  string `json:"tracestate,omitempty"`
	// ChainHash is set by the store (hex SHA-256, see eventstore.ChainHash).
	ChainHash string `json:"chainHash,omitempty"`
}

// Encode builds the stored form of a domain event. md.SchemaVersion is set from the registry.
func Encode(reg *domain.Registry, id uuid.UUID, e domain.Event, md Metadata) (eventstore.EventData, error) {
	name, version, data, err := reg.Encode(e)
	if err != nil {
		return eventstore.EventData{}, fmt.Errorf("encode %T: %w", e, err)
	}
	md.SchemaVersion = version
	md.ChainHash = ""
	mdJSON, err := json.Marshal(md)
	if err != nil {
		return eventstore.EventData{}, fmt.Errorf("encode metadata: %w", err)
	}
	return eventstore.EventData{ID: id, Type: name, Data: data, Metadata: mdJSON}, nil
}

// Decode reads a stored event back into its domain event (upcast to the current schema)
// and its metadata.
func Decode(reg *domain.Registry, rec eventstore.RecordedEvent) (domain.Event, Metadata, error) {
	var md Metadata
	if len(rec.Metadata) > 0 {
		if err := json.Unmarshal(rec.Metadata, &md); err != nil {
			return nil, md, fmt.Errorf("decode metadata of %s@%d: %w", rec.Stream, rec.Version, err)
		}
	}
	version := md.SchemaVersion
	if version == 0 {
		version = 1
	}
	e, err := reg.Decode(rec.Type, version, rec.Data)
	if err != nil {
		return nil, md, fmt.Errorf("decode %s@%d (%s v%d): %w", rec.Stream, rec.Version, rec.Type, version, err)
	}
	return e, md, nil
}

// idNamespace scopes event ids derived from idempotency keys.
var idNamespace = uuid.MustParse("6f1d3c0e-5a7b-4c59-9e54-0b7c1d2e3f40")

// DeterministicID derives the id of the i-th event that a request with an idempotency key
// appends to a stream, so a retried request appends the same ids and the store can
// recognise it.
func DeterministicID(key, stream string, i int) uuid.UUID {
	return uuid.NewSHA1(idNamespace, []byte(fmt.Sprintf("%s\x00%s\x00%d", key, stream, i)))
}
