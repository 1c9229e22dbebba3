// Package eventstore is the port every aggregate persists to: ordered, append-only event
// streams with optimistic concurrency, a global log ($all) and subscriptions over it.
//
// Adapters live in sub-packages (sqlite, postgres, kurrentdb) and all pass the conformance
// suite in eventstoretest.
package eventstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Errors returned by every adapter. Check them with errors.Is / errors.As.
var (
	// ErrWrongExpectedVersion: the stream is not at the version the caller expected.
	// The concrete error is a *WrongExpectedVersionError carrying the actual version.
	ErrWrongExpectedVersion = errors.New("wrong expected version")
	// ErrStreamNotFound: the stream has no events (distinguishes "absent" from an empty read).
	ErrStreamNotFound = errors.New("stream not found")
	// ErrInvalidEvent: an event or stream name failed validation; nothing was written.
	ErrInvalidEvent = errors.New("invalid event")
	// ErrClosed: the store has been closed.
	ErrClosed = errors.New("event store closed")
)

// WrongExpectedVersionError reports an optimistic-concurrency mismatch.
type WrongExpectedVersionError struct {
	Stream   string
	Expected ExpectedVersion
	// Actual is the stream's current version; StreamExists is false when it has no events.
	Actual       uint64
	StreamExists bool
}

func (e *WrongExpectedVersionError) Error() string {
	actual := "no stream"
	if e.StreamExists {
		actual = fmt.Sprintf("version %d", e.Actual)
	}
	return fmt.Sprintf("%s: stream %q expected %s, actual %s", ErrWrongExpectedVersion, e.Stream, e.Expected, actual)
}

func (e *WrongExpectedVersionError) Unwrap() error { return ErrWrongExpectedVersion }

type expectedKind uint8

const (
	kindAny expectedKind = iota
	kindNoStream
	kindStreamExists
	kindExact
)

// ExpectedVersion is the optimistic-concurrency condition of an append.
type ExpectedVersion struct {
	kind    expectedKind
	version uint64
}

var (
	// Any appends whatever the stream's state. Command code never uses it.
	Any = ExpectedVersion{kind: kindAny}
	// NoStream requires the stream to have no events.
	NoStream = ExpectedVersion{kind: kindNoStream}
	// StreamExists requires the stream to have at least one event.
	StreamExists = ExpectedVersion{kind: kindStreamExists}
)

// Exact requires the stream's last event to have version n (0-based).
func Exact(n uint64) ExpectedVersion { return ExpectedVersion{kind: kindExact, version: n} }

// IsAny, IsNoStream, IsStreamExists report the kind; Exact returns (n, true) for Exact(n).
func (e ExpectedVersion) IsAny() bool          { return e.kind == kindAny }
func (e ExpectedVersion) IsNoStream() bool     { return e.kind == kindNoStream }
func (e ExpectedVersion) IsStreamExists() bool { return e.kind == kindStreamExists }
func (e ExpectedVersion) Exact() (uint64, bool) {
	return e.version, e.kind == kindExact
}

func (e ExpectedVersion) String() string {
	switch e.kind {
	case kindAny:
		return "any"
	case kindNoStream:
		return "no stream"
	case kindStreamExists:
		return "stream exists"
	default:
		return fmt.Sprintf("version %d", e.version)
	}
}

// Check reports whether a stream in the given state satisfies e.
// exists is false for a stream with no events; then version is ignored.
func (e ExpectedVersion) Check(exists bool, version uint64) bool {
	switch e.kind {
	case kindAny:
		return true
	case kindNoStream:
		return !exists
	case kindStreamExists:
		return exists
	default:
		return exists && version == e.version
	}
}

// EventData is an event to append.
type EventData struct {
	ID       uuid.UUID
	Type     string // stable name such as "order.placed"
	Data     []byte // JSON
	Metadata []byte // JSON object, or empty; the store adds the chain hash
}

// RecordedEvent is an event as stored.
type RecordedEvent struct {
	ID       uuid.UUID
	Stream   string
	Type     string
	Version  uint64 // 0-based position within the stream
	Position uint64 // global position in $all; strictly increasing in $all order
	Data     []byte
	// Metadata is the stored metadata: the appended object with "chainHash" as its first key.
	Metadata   []byte
	RecordedAt time.Time
}

// AppendResult describes a successful append.
type AppendResult struct {
	// Version of the stream's last event after the append.
	Version uint64
	// Position of the last appended event in $all.
	Position uint64
}

// Direction of a stream read.
type Direction uint8

const (
	Forward Direction = iota
	Backward
)

// End, as the from-version of a backward read, starts at the stream's last event.
const End = ^uint64(0)

// Start, as the from-position of ReadAll or SubscribeAll, means "before the first event".
const Start uint64 = 0

// Filter selects events of a subscription or global read. The zero value selects all.
type Filter struct {
	// StreamPrefix keeps events whose stream name starts with it, e.g. "order-".
	StreamPrefix string
	// EventTypes keeps events of these types. Empty keeps all types.
	EventTypes []string
}

// Match reports whether an event passes the filter.
func (f Filter) Match(stream, eventType string) bool {
	if f.StreamPrefix != "" && (len(stream) < len(f.StreamPrefix) || stream[:len(f.StreamPrefix)] != f.StreamPrefix) {
		return false
	}
	if len(f.EventTypes) == 0 {
		return true
	}
	for _, t := range f.EventTypes {
		if t == eventType {
			return true
		}
	}
	return false
}

// Store is the event-store port.
type Store interface {
	// Append writes events to the end of stream if expected holds, atomically.
	// Re-appending events whose IDs are already stored at the same place is a no-op that
	// returns the original result.
	Append(ctx context.Context, stream string, expected ExpectedVersion, events ...EventData) (AppendResult, error)
	// ReadStream reads up to limit events from version from (inclusive) in direction dir.
	// It returns ErrStreamNotFound when the stream has no events.
	ReadStream(ctx context.Context, stream string, dir Direction, from uint64, limit int) ([]RecordedEvent, error)
	// ReadAll reads up to limit events of $all after position from (exclusive) that match filter.
	ReadAll(ctx context.Context, from uint64, limit int, filter Filter) ([]RecordedEvent, error)
	// SubscribeAll delivers history after from (exclusive), then live events, in $all order.
	SubscribeAll(ctx context.Context, from uint64, filter Filter) (Subscription, error)
	// Head is the position of the last event visible in $all (0 when empty).
	Head(ctx context.Context) (uint64, error)
	// Close releases the store's resources.
	Close() error
}

// Subscription is a stream of events. Next blocks until an event arrives, the context is
// done, or the subscription fails; after an error every later call returns it too, except
// for an error wrapping ErrInterrupted (a transient read failure of a polling
// subscription): then the next call retries, after a backoff, from the last delivered event.
type Subscription interface {
	Next(ctx context.Context) (RecordedEvent, error)
	Close() error
}
