// Package bus carries the event store's ordered log onto watermill so process managers
// (checkout, notifications…) react to events.
//
//   - OpenMemory opens watermill's in-process gochannel, OpenNATS connects to
//     NATS JetStream through watermill-nats (durable pull consumers,
//     ack after handling, JetStream de-duplication by message id = event id).
//   - Forwarder tails $all from a checkpoint kept in the event store and publishes every
//     event to the topic of its stream's category (Topic).
//   - NewRouter builds a watermill router with Recoverer, Retry, PoisonQueue and
//     CorrelationID middleware for consumers.
//
// Delivery is at least once: after a crash the forwarder republishes from its last stored
// checkpoint, and a consumer that fails before acking sees the message again. Consumers
// must be idempotent (deciders make repeated commands no-ops).
package bus

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/google/uuid"

	"github.com/orderengine/orderengine/eventstore"
)

// Message metadata keys set by the forwarder. The message UUID is the event id and the
// payload is the event's JSON data.
const (
	MetaEventType     = "event_type"
	MetaStream        = "stream"
	MetaStreamVersion = "stream_version"
	MetaPosition      = "position"
	MetaRecordedAt    = "recorded_at" // RFC 3339 with nanoseconds
	MetaEventMetadata = "event_metadata"
	MetaCorrelationID = middleware.CorrelationIDMetadataKey
	MetaCausationID   = "causation_id"
)

// DefaultTopicPrefix prefixes every topic.
const DefaultTopicPrefix = "orderengine-"

// Topic is the topic of a stream category, e.g. Topic("orderengine-", "order").
func Topic(prefix, category string) string { return prefix + category }

// Category is the category of a stream name: the part before the first '-'.
func Category(stream string) string {
	c, _, _ := strings.Cut(stream, "-")
	return c
}

// NewMessage turns a recorded event into a bus message.
func NewMessage(rec eventstore.RecordedEvent) *message.Message {
	msg := message.NewMessage(rec.ID.String(), rec.Data)
	msg.Metadata.Set(MetaEventType, rec.Type)
	msg.Metadata.Set(MetaStream, rec.Stream)
	msg.Metadata.Set(MetaStreamVersion, strconv.FormatUint(rec.Version, 10))
	msg.Metadata.Set(MetaPosition, strconv.FormatUint(rec.Position, 10))
	msg.Metadata.Set(MetaRecordedAt, rec.RecordedAt.UTC().Format(time.RFC3339Nano))
	if len(rec.Metadata) > 0 {
		var buf bytes.Buffer
		if json.Compact(&buf, rec.Metadata) == nil {
			msg.Metadata.Set(MetaEventMetadata, buf.String())
		}
		var md struct {
			CorrelationID string `json:"correlationId"`
			CausationID   string `json:"causationId"`
		}
		if json.Unmarshal(rec.Metadata, &md) == nil {
			if md.CorrelationID != "" {
				msg.Metadata.Set(MetaCorrelationID, md.CorrelationID)
			}
			if md.CausationID != "" {
				msg.Metadata.Set(MetaCausationID, md.CausationID)
			}
		}
	}
	return msg
}

// EventFromMessage rebuilds the recorded event a forwarder published.
func EventFromMessage(msg *message.Message) (eventstore.RecordedEvent, error) {
	id, err := uuid.Parse(msg.UUID)
	if err != nil {
		return eventstore.RecordedEvent{}, fmt.Errorf("bus message %q: id is not a UUID", msg.UUID)
	}
	rec := eventstore.RecordedEvent{
		ID:       id,
		Stream:   msg.Metadata.Get(MetaStream),
		Type:     msg.Metadata.Get(MetaEventType),
		Data:     msg.Payload,
		Metadata: []byte(msg.Metadata.Get(MetaEventMetadata)),
	}
	if rec.Stream == "" || rec.Type == "" {
		return rec, fmt.Errorf("bus message %s: missing %s or %s metadata", msg.UUID, MetaStream, MetaEventType)
	}
	if rec.Version, err = strconv.ParseUint(msg.Metadata.Get(MetaStreamVersion), 10, 64); err != nil {
		return rec, fmt.Errorf("bus message %s: bad %s", msg.UUID, MetaStreamVersion)
	}
	if rec.Position, err = strconv.ParseUint(msg.Metadata.Get(MetaPosition), 10, 64); err != nil {
		return rec, fmt.Errorf("bus message %s: bad %s", msg.UUID, MetaPosition)
	}
	if t := msg.Metadata.Get(MetaRecordedAt); t != "" {
		rec.RecordedAt, _ = time.Parse(time.RFC3339Nano, t)
	}
	return rec, nil
}
