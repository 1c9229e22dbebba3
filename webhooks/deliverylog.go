package webhooks

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/orderengine/orderengine/eventstore"
)

// Each endpoint's deliveries are a stream of its own, written only by the worker that
// holds the lease (appends at the exact version it read, so a worker that lost its lease
// is fenced off):
//
//	webhook_delivery.attempted     one HTTP attempt: status, latency, error, next try
//	webhook_delivery.checkpointed  every event before Position is settled (delivered or
//	                               given up) for replay generation Generation
//
// A restart reads the stream backwards to the last checkpoint and skips the deliveries
// settled after it, so duplicates are limited to attempts in flight at the crash.
const deliveryCategory = "webhooks.deliveries"

// DeliveryStream is the stream of an endpoint's delivery log.
func DeliveryStream(endpointID string) string { return deliveryCategory + "-" + endpointID }

const (
	evAttempted    = "webhook_delivery.attempted"
	evCheckpointed = "webhook_delivery.checkpointed"
)

// Outcomes of an attempt.
const (
	OutcomeDelivered = "delivered" // 2xx
	OutcomeFailed    = "failed"    // will be retried at NextAttemptAt
	OutcomeGaveUp    = "gave_up"   // the retry schedule is exhausted
	OutcomeGone      = "gone"      // 410: the endpoint was disabled
)

// Attempt is one delivery attempt, as recorded and shown.
type Attempt struct {
	DeliveryID     string     `json:"deliveryId"`
	EventID        string     `json:"eventId"`
	EventType      string     `json:"eventType"`
	Position       uint64     `json:"position"`
	OrderID        string     `json:"orderId,omitempty"`
	ProductID      string     `json:"productId,omitempty"`
	Attempt        int        `json:"attempt"`
	At             time.Time  `json:"at"`
	StatusCode     int        `json:"statusCode,omitempty"`
	LatencyMs      int64      `json:"latencyMs"`
	Error          string     `json:"error,omitempty"`
	Outcome        string     `json:"outcome"`
	NextAttemptAt  *time.Time `json:"nextAttemptAt,omitempty"`
	FirstAttemptAt time.Time  `json:"firstAttemptAt"`
	Manual         bool       `json:"manual,omitempty"`
	Generation     int        `json:"generation"`
}

type checkpointRecord struct {
	// Position: every event up to it is settled (the low watermark).
	Position uint64 `json:"position"`
	// Cursor: the log was read up to it; Pending are the positions read but unsettled.
	// A restart re-queues Pending and reads on after Cursor, so an order that fails for
	// days does not make a restart send everything since again. Cursor 0: not recorded
	// (too many pending), restart from Position.
	Cursor     uint64         `json:"cursor,omitempty"`
	Pending    []pendingEntry `json:"pending,omitempty"`
	Generation int            `json:"generation"`
	// ControlVersion: retry requests of the endpoints stream up to this version are done.
	ControlVersion int64     `json:"controlVersion"`
	At             time.Time `json:"at"`
}

// pendingEntry is an unsettled event at a checkpoint, with its retry state so that a
// restart keeps the attempt count, the first attempt's time and the next try.
type pendingEntry struct {
	Position uint64 `json:"p"`
	Attempt  int    `json:"a,omitempty"`
	First    int64  `json:"f,omitempty"` // Unix ms
	Next     int64  `json:"n,omitempty"` // Unix ms
}

// deliveryID is the webhook-id of an event for an endpoint: the same on every retry and
// replay, and it names both, so a manual retry finds its endpoint.
func deliveryID(endpointID, eventID string) string {
	return "msg_" + compact(endpointID) + compact(eventID)
}

func compact(id string) string {
	if u, err := uuid.Parse(id); err == nil {
		return hex.EncodeToString(u[:])
	}
	return strings.ReplaceAll(id, "-", "")
}

// parseDeliveryID splits a delivery id into endpoint and event ids.
func parseDeliveryID(id string) (endpointID, eventID string, err error) {
	raw, ok := strings.CutPrefix(id, "msg_")
	if !ok || len(raw) != 64 {
		return "", "", fmt.Errorf("%w: delivery id %q", ErrNotFound, id)
	}
	a, err1 := hex.DecodeString(raw[:32])
	b, err2 := hex.DecodeString(raw[32:])
	if err1 != nil || err2 != nil {
		return "", "", fmt.Errorf("%w: delivery id %q", ErrNotFound, id)
	}
	ua, _ := uuid.FromBytes(a)
	ub, _ := uuid.FromBytes(b)
	return ua.String(), ub.String(), nil
}

// Delivery is one event's delivery to an endpoint with its attempts (newest last).
type Delivery struct {
	ID            string     `json:"id"`
	EventID       string     `json:"eventId"`
	EventType     string     `json:"eventType"`
	Position      uint64     `json:"position"`
	OrderID       string     `json:"orderId,omitempty"`
	ProductID     string     `json:"productId,omitempty"`
	Status        string     `json:"status"` // delivered, pending, failed
	NextAttemptAt *time.Time `json:"nextAttemptAt,omitempty"`
	Attempts      []Attempt  `json:"attempts"`
}

// deliveryScan bounds how many records one delivery-log read looks at.
const deliveryScan = 2000

// Deliveries lists an endpoint's most recent deliveries, newest first, grouped from its
// delivery log read backwards (before is a cursor: a stream version; 0 reads from the end).
// It returns the cursor of the next page, 0 at the start of the log. One page looks at
// most at deliveryScan records, so a delivery with attempts further apart than that shows
// the newer ones (its older attempts appear on a later page).
func Deliveries(ctx context.Context, store eventstore.Store, endpointID string, limit int, before uint64) ([]Delivery, uint64, error) {
	from := eventstore.End
	if before > 0 {
		from = before - 1
	}
	byID := map[string]*Delivery{}
	var order []string
	collect := func() []Delivery {
		out := make([]Delivery, len(order))
		for i, id := range order {
			out[i] = *byID[id]
		}
		return out
	}
	for scanned := 0; scanned < deliveryScan; {
		recs, err := store.ReadStream(ctx, DeliveryStream(endpointID), eventstore.Backward, from, 200)
		if errors.Is(err, eventstore.ErrStreamNotFound) {
			return []Delivery{}, 0, nil
		}
		if err != nil {
			return nil, 0, err
		}
		if len(recs) == 0 {
			return collect(), 0, nil
		}
		for _, rec := range recs {
			scanned++
			if rec.Type != evAttempted {
				continue
			}
			var a Attempt
			if err := json.Unmarshal(rec.Data, &a); err != nil {
				return nil, 0, fmt.Errorf("%s@%d: %w", rec.Stream, rec.Version, err)
			}
			d := byID[a.DeliveryID]
			if d == nil {
				if len(order) == limit {
					return collect(), rec.Version + 1, nil // the next page starts with this record
				}
				d = &Delivery{ID: a.DeliveryID, EventID: a.EventID, EventType: a.EventType, Position: a.Position, OrderID: a.OrderID, ProductID: a.ProductID}
				switch a.Outcome {
				case OutcomeDelivered:
					d.Status = "delivered"
				case OutcomeFailed:
					d.Status, d.NextAttemptAt = "pending", a.NextAttemptAt
				default:
					d.Status = "failed"
				}
				byID[a.DeliveryID] = d
				order = append(order, a.DeliveryID)
			}
			d.Attempts = append([]Attempt{a}, d.Attempts...)
		}
		last := recs[len(recs)-1].Version
		if last == 0 {
			return collect(), 0, nil
		}
		from = last - 1
	}
	return collect(), from + 1, nil
}

// findAttempt returns the last recorded attempt of a delivery (within deliveryScan records).
func findAttempt(ctx context.Context, store eventstore.Store, endpointID, id string) (Attempt, error) {
	from := eventstore.End
	for scanned := 0; scanned < deliveryScan; {
		recs, err := store.ReadStream(ctx, DeliveryStream(endpointID), eventstore.Backward, from, 200)
		if errors.Is(err, eventstore.ErrStreamNotFound) || (err == nil && len(recs) == 0) {
			break
		}
		if err != nil {
			return Attempt{}, err
		}
		for _, rec := range recs {
			scanned++
			if rec.Type != evAttempted || !strings.Contains(string(rec.Data), id) {
				continue
			}
			var a Attempt
			if err := json.Unmarshal(rec.Data, &a); err == nil && a.DeliveryID == id {
				return a, nil
			}
		}
		if len(recs) < 200 || recs[len(recs)-1].Version == 0 {
			break
		}
		from = recs[len(recs)-1].Version - 1
	}
	return Attempt{}, fmt.Errorf("delivery %s: %w", id, ErrNotFound)
}

// RetryDelivery asks the delivery worker to send one delivery again (given up, or waiting
// for its next try). It answers once the request is recorded; the worker acts on it within
// its poll interval. The delivery must be among the last attempts of its endpoint's log.
func (s *Endpoints) RetryDelivery(ctx context.Context, id string) error {
	epID, evID, err := parseDeliveryID(id)
	if err != nil {
		return err
	}
	if _, err := s.Get(ctx, epID); err != nil {
		return fmt.Errorf("delivery %s: %w", id, ErrNotFound)
	}
	a, err := findAttempt(ctx, s.store, epID, id)
	if err != nil {
		return err
	}
	return s.requestRetry(ctx, retryEvent{EndpointID: epID, DeliveryID: id, EventID: evID, Position: a.Position})
}

// Deliveries lists an endpoint's recent deliveries (see the package function Deliveries).
func (s *Endpoints) Deliveries(ctx context.Context, endpointID string, limit int, before uint64) ([]Delivery, uint64, error) {
	if _, err := s.Get(ctx, endpointID); err != nil {
		return nil, 0, err
	}
	return Deliveries(ctx, s.store, endpointID, limit, before)
}
