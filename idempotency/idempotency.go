// Package idempotency implements Stripe-style Idempotency-Key handling for POST requests,
// with its records kept as event streams in the event store, so every backend (SQLite,
// PostgreSQL, KurrentDB) supports it without another database.
//
// One key is one stream "idempotency-<hex sha256(scope NUL key)>". Its last event is the
// record's state:
//
//	idempotency.claimed    a request owns the key and is running
//	idempotency.completed  its response (status, a few headers, body), replayed from then on
//	idempotency.released   it ended without a storable response; the key is free again
//
// Every event carries the request hash and claim time, so reading the last event is
// enough. Claims are appends with an expected version (NoStream for a new key, the exact
// version read for a takeover), so of any number of concurrent requests exactly one wins.
//
// The HTTP layer wraps it: Begin before running the handler, then Complete (or Release)
// with the response. Begin answers
//
//   - Outcome.Claim: run the request, then Complete or Release the claim;
//   - Outcome.Replay: answer with the stored response, run nothing;
//   - ErrInFlight: another request holds the key (HTTP 409);
//   - ErrMismatch: the key was used with a different request (HTTP 422);
//   - an error wrapping ErrInvalidKey and domain.ErrValidation: key empty, over 255
//     characters or with control characters (HTTP 400).
//
// Records expire TTL (default 24h) after their claim: the key may then be reused for any
// request, and Store.Sweep deletes expired records' streams from stores that can delete
// streams (SQLite, PostgreSQL), so that they leave the log. A claim's holder renews it every Heartbeat (default 5 s) while the request
// runs; a claim whose last renewal is 3 heartbeats old counts as abandoned by a crashed
// process, and the next request with the same key and body takes it over. So after a
// crash a client's retry proceeds within about 15 s. No claim blocks the key longer than
// Lease (default 2 min), renewed or not.
//
// Responses with status ≥ 500, 408 or 429 are not stored: they say nothing about the
// request's effect and the client is expected to retry, so Complete releases the key
// instead. A release that cannot reach the store is retried in the background (with
// backoff, until it succeeds or the claim is abandoned anyway), so a request that failed
// because the store was down frees its key once the store is back. Commands under a retried key stay exactly-once through their event ids, which
// derive from the key (see EventKey).
package idempotency

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/eventstore"
)

// Category is the stream category of idempotency records.
const Category = "idempotency"

// Event types of the records.
const (
	EventClaimed   = "idempotency.claimed"
	EventRenewed   = "idempotency.renewed" // the holder is still running the request
	EventCompleted = "idempotency.completed"
	EventReleased  = "idempotency.released"
)

// MaxKeyLength is the longest accepted Idempotency-Key.
const MaxKeyLength = 255

var (
	// ErrInFlight: a concurrent request holds the key (HTTP 409).
	ErrInFlight = errors.New("a request with this idempotency key is still in progress")
	// ErrMismatch: the key was first used with a different request (HTTP 422).
	ErrMismatch = errors.New("idempotency key was already used with a different request")
	// ErrInvalidKey: the key is empty, too long or has control characters (HTTP 400).
	ErrInvalidKey = errors.New("invalid idempotency key")
	// ErrLeaseLost: the claim was taken over (its lease ran out) or is already settled, so
	// the response was not stored. The response may still be sent.
	ErrLeaseLost = errors.New("idempotency claim lost")
	// ErrResponseTooLarge: the body is over Options.MaxBodyBytes; the key was released.
	ErrResponseTooLarge = errors.New("response too large to store for idempotent replay")
)

// DefaultHeaders are the response headers stored and replayed.
var DefaultHeaders = []string{"Content-Type", "Location", "ETag", "Orderengine-Position"}

// EventStore is the part of the event store the records need.
type EventStore interface {
	Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error)
	ReadStream(ctx context.Context, stream string, dir eventstore.Direction, from uint64, limit int) ([]eventstore.RecordedEvent, error)
}

// Options configure a Store. Zero values take the defaults.
type Options struct {
	// TTL is how long a record is kept and replayed after its claim (default 24h).
	TTL time.Duration
	// Lease is the longest a claim without a response blocks the key (default 2 min);
	// after it the claim counts as abandoned and may be taken over. Keep it above the
	// longest request.
	Lease time.Duration
	// Heartbeat is how often a running request renews its claim (default 5 s; negative
	// disables renewal, leaving Lease alone to detect abandoned claims). A claim not
	// renewed for 3 heartbeats is abandoned: its holder died.
	Heartbeat time.Duration
	// MaxBodyBytes bounds a stored response body (default 256 KiB).
	MaxBodyBytes int
	// Headers are the response headers stored (default DefaultHeaders).
	Headers []string
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Store keeps idempotency records. It is safe for concurrent use. Close stops its
// background work (renewals, release retries).
type Store struct {
	es  EventStore
	opt Options

	closed    chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

// New returns a Store over es.
func New(es EventStore, opt Options) *Store {
	if opt.TTL <= 0 {
		opt.TTL = 24 * time.Hour
	}
	if opt.Lease <= 0 {
		opt.Lease = 2 * time.Minute
	}
	if opt.MaxBodyBytes <= 0 {
		opt.MaxBodyBytes = 256 << 10
	}
	if opt.Headers == nil {
		opt.Headers = DefaultHeaders
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Heartbeat == 0 {
		opt.Heartbeat = 5 * time.Second
	}
	return &Store{es: es, opt: opt, closed: make(chan struct{})}
}

// Close stops renewing claims and retrying releases, as a process that exits does, and
// waits for them.
func (s *Store) Close() error {
	s.closeOnce.Do(func() { close(s.closed) })
	s.wg.Wait()
	return nil
}

// Response is a stored response.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Claim is ownership of a key by one request.
type Claim struct {
	Scope, Key string
	// TookOver is set when an abandoned claim was taken over: an earlier attempt may have
	// run part of the request (its commands are recognised through EventKey).
	TookOver bool

	stream string
	rec    record

	mu      sync.Mutex // guards version against the renewer
	version uint64
	settled chan struct{} // closed when Complete or Release starts
	once    sync.Once
	renewer chan struct{} // closed when the renewer has stopped (nil: none)
}

// Outcome of Begin: exactly one of Claim and Replay is set.
type Outcome struct {
	Claim  *Claim
	Replay *Response
}

// Proceed reports whether the caller owns the key and must run the request.
func (o Outcome) Proceed() bool { return o.Claim != nil }

// record is the data of every event of a key's stream.
type record struct {
	Scope       string            `json:"scope"`
	Key         string            `json:"key"`
	Token       uuid.UUID         `json:"token"` // one per claim
	RequestHash string            `json:"requestHash"`
	ClaimedAt   time.Time         `json:"claimedAt"`
	Status      int               `json:"status,omitempty"`
	Header      map[string]string `json:"header,omitempty"`
	Body        []byte            `json:"body,omitempty"`
	SettledAt   *time.Time        `json:"settledAt,omitempty"`
	// RenewedAt is the holder's last heartbeat; Heartbeat its interval (0: the holder
	// does not renew).
	RenewedAt *time.Time    `json:"renewedAt,omitempty"`
	Heartbeat time.Duration `json:"heartbeat,omitempty"`
}

// abandoned reports whether a claim's holder is presumed dead at now.
func (r record) abandoned(now time.Time, lease time.Duration) bool {
	if now.Sub(r.ClaimedAt) >= lease {
		return true
	}
	if r.Heartbeat <= 0 {
		return false
	}
	beat := r.ClaimedAt
	if r.RenewedAt != nil && r.RenewedAt.After(beat) {
		beat = *r.RenewedAt
	}
	return now.Sub(beat) >= 3*r.Heartbeat
}

// StreamName is the stream holding the record of key in scope.
func StreamName(scope, key string) string { return Category + "-" + EventKey(scope, key) }

// EventKey is a digest of (scope, key), unique per principal and route. Pass it as the
// commands' idempotency key (commands.Meta.IdempotencyKey): event ids derive from it, and
// a raw client key would collide across principals writing the same stream.
func EventKey(scope, key string) string {
	h := sha256.New()
	h.Write([]byte(scope))
	h.Write([]byte{0})
	h.Write([]byte(key))
	return hex.EncodeToString(h.Sum(nil))
}

// HashRequest is a request hash for Begin: what must be equal for two requests to be the
// same (method, target with its query, body).
func HashRequest(method, target string, body []byte) [32]byte {
	h := sha256.New()
	for _, part := range [][]byte{[]byte(method), []byte(target)} {
		h.Write(part)
		h.Write([]byte{0})
	}
	h.Write(body)
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

// ValidateKey checks an Idempotency-Key: 1–255 printable ASCII characters.
func ValidateKey(key string) error {
	var reason string
	switch {
	case key == "":
		reason = "must not be empty"
	case len(key) > MaxKeyLength:
		reason = fmt.Sprintf("must be at most %d characters", MaxKeyLength)
	default:
		for i := 0; i < len(key); i++ {
			if key[i] < 0x20 || key[i] > 0x7e {
				reason = "must be printable ASCII"
				break
			}
		}
	}
	if reason == "" {
		return nil
	}
	ve := &domain.ValidationError{Problems: []domain.FieldProblem{{Field: "Idempotency-Key", Reason: reason}}}
	return fmt.Errorf("%w: %w", ErrInvalidKey, ve)
}

// maxAttempts bounds Begin's re-reads after losing an append race.
const maxAttempts = 8

// Begin claims key in scope for a request with hash requestHash, or tells why not.
func (s *Store) Begin(ctx context.Context, scope, key string, requestHash [32]byte) (Outcome, error) {
	if err := ValidateKey(key); err != nil {
		return Outcome{}, err
	}
	stream := StreamName(scope, key)
	hash := hex.EncodeToString(requestHash[:])
	for attempt := 0; attempt < maxAttempts; attempt++ {
		typ, last, version, exists, err := s.last(ctx, stream)
		if err != nil {
			return Outcome{}, err
		}
		now := s.opt.Now().UTC()
		tookOver := false
		if exists && typ != EventReleased && now.Sub(last.ClaimedAt) < s.opt.TTL {
			if last.RequestHash != hash {
				return Outcome{}, ErrMismatch
			}
			if typ == EventCompleted {
				return Outcome{Replay: last.response()}, nil
			}
			if !last.abandoned(now, s.opt.Lease) {
				return Outcome{}, ErrInFlight
			}
			tookOver = true
		}
		rec := record{Scope: scope, Key: key, Token: uuid.New(), RequestHash: hash, ClaimedAt: now, Heartbeat: max(s.opt.Heartbeat, 0)}
		expected := eventstore.NoStream
		if exists {
			expected = eventstore.Exact(version)
		}
		// the id is the fresh token: a concurrent claimer's append can never pass as a retry of ours
		res, err := s.append(ctx, stream, expected, rec.Token, EventClaimed, rec)
		if errors.Is(err, eventstore.ErrWrongExpectedVersion) {
			continue // someone else moved first: look again
		}
		if err != nil {
			return Outcome{}, err
		}
		c := &Claim{Scope: scope, Key: key, TookOver: tookOver, stream: stream, version: res.Version, rec: rec, settled: make(chan struct{})}
		if s.opt.Heartbeat > 0 {
			c.renewer = make(chan struct{})
			s.wg.Add(1)
			go s.renew(c)
		}
		return Outcome{Claim: c}, nil
	}
	return Outcome{}, ErrInFlight
}

// Complete stores the response of a claimed request for replay. A status ≥ 500, 408 or
// 429 releases the key instead (see the package comment). Repeating Complete is harmless.
func (s *Store) Complete(ctx context.Context, c *Claim, status int, header http.Header, body []byte) error {
	if status >= 500 || status == http.StatusRequestTimeout || status == http.StatusTooManyRequests {
		return s.Release(ctx, c)
	}
	if len(body) > s.opt.MaxBodyBytes {
		if err := s.Release(ctx, c); err != nil {
			return err
		}
		return fmt.Errorf("%w: %d bytes, limit %d", ErrResponseTooLarge, len(body), s.opt.MaxBodyBytes)
	}
	rec := c.rec
	rec.Status, rec.Body = status, bytes.Clone(body)
	rec.Header = map[string]string{}
	for _, h := range s.opt.Headers {
		if v := header.Get(h); v != "" {
			rec.Header[http.CanonicalHeaderKey(h)] = v
		}
	}
	return s.settle(ctx, c, EventCompleted, rec)
}

// Release frees the key without storing a response, so the client may retry it (for a
// handler that failed, panicked or whose client went away). When the store cannot be
// reached, Release returns the error and keeps retrying in the background until the
// release is stored, the claim is abandoned anyway, or Close.
func (s *Store) Release(ctx context.Context, c *Claim) error {
	err := s.settle(ctx, c, EventReleased, c.rec)
	if err != nil && !errors.Is(err, ErrLeaseLost) {
		s.wg.Add(1)
		go s.retryRelease(c)
		return fmt.Errorf("%w (retrying in the background)", err)
	}
	return err
}

// retryRelease stores a release that failed, with capped exponential backoff.
func (s *Store) retryRelease(c *Claim) {
	defer s.wg.Done()
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		t := time.NewTimer(wait)
		select {
		case <-s.closed:
			t.Stop()
			return
		case <-t.C:
		}
		if c.rec.abandoned(s.opt.Now().UTC(), s.opt.Lease) {
			return // free for the taking anyway
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := s.settle(ctx, c, EventReleased, c.rec)
		cancel()
		if err == nil || errors.Is(err, ErrLeaseLost) {
			return
		}
	}
}

// renew appends a heartbeat to the claim every Heartbeat until it is settled, taken over,
// older than Lease, or the store is closed.
func (s *Store) renew(c *Claim) {
	defer s.wg.Done()
	defer close(c.renewer)
	t := time.NewTicker(s.opt.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-s.closed:
			return
		case <-c.settled:
			return
		case <-t.C:
		}
		now := s.opt.Now().UTC()
		if now.Sub(c.rec.ClaimedAt) >= s.opt.Lease {
			return // no claim outlives its lease
		}
		rec := c.rec
		rec.RenewedAt = &now
		ctx, cancel := context.WithTimeout(context.Background(), s.opt.Heartbeat)
		c.mu.Lock()
		select {
		case <-c.settled: // settling meanwhile: do not move the version under it
			c.mu.Unlock()
			cancel()
			return
		default:
		}
		res, err := s.append(ctx, c.stream, eventstore.Exact(c.version), uuid.New(), EventRenewed, rec)
		if err == nil {
			c.version = res.Version
		}
		c.mu.Unlock()
		cancel()
		if errors.Is(err, eventstore.ErrWrongExpectedVersion) {
			return // taken over
		}
	}
}

func (s *Store) settle(ctx context.Context, c *Claim, typ string, rec record) error {
	if c.settled != nil {
		c.once.Do(func() { close(c.settled) })
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := s.opt.Now().UTC()
	rec.SettledAt = &now
	// derived from the claim's token, so a retried settle of this claim is a no-op
	id := uuid.NewSHA1(rec.Token, []byte(typ))
	_, err := s.append(ctx, c.stream, eventstore.Exact(c.version), id, typ, rec)
	if errors.Is(err, eventstore.ErrWrongExpectedVersion) {
		return fmt.Errorf("%w: key %q was taken over or settled: %w", ErrLeaseLost, c.Key, err)
	}
	return err
}

func (s *Store) append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, id uuid.UUID, typ string, rec record) (eventstore.AppendResult, error) {
	data, err := json.Marshal(rec)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	res, err := s.es.Append(ctx, stream, expected, eventstore.EventData{ID: id, Type: typ, Data: data})
	if err != nil && !errors.Is(err, eventstore.ErrWrongExpectedVersion) {
		err = fmt.Errorf("idempotency: append to %s: %w", stream, err)
	}
	return res, err
}

// last reads the stream's last event.
func (s *Store) last(ctx context.Context, stream string) (typ string, rec record, version uint64, exists bool, err error) {
	recs, err := s.es.ReadStream(ctx, stream, eventstore.Backward, eventstore.End, 1)
	if errors.Is(err, eventstore.ErrStreamNotFound) || (err == nil && len(recs) == 0) {
		return "", record{}, 0, false, nil
	}
	if err != nil {
		return "", record{}, 0, false, fmt.Errorf("idempotency: read %s: %w", stream, err)
	}
	if err := json.Unmarshal(recs[0].Data, &rec); err != nil {
		return "", record{}, 0, false, fmt.Errorf("idempotency: decode %s@%d: %w", stream, recs[0].Version, err)
	}
	return recs[0].Type, rec, recs[0].Version, true, nil
}

func (r record) response() *Response {
	h := make(http.Header, len(r.Header))
	for k, v := range r.Header {
		h.Set(k, v)
	}
	return &Response{Status: r.Status, Header: h, Body: bytes.Clone(r.Body)}
}
