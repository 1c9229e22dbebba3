// Package kurrentdb is the eventstore.Store adapter for KurrentDB (formerly EventStoreDB),
// written against github.com/EventStore/EventStore-Client-Go/v4 (package esdb, gRPC).
//
// # Versions
//
// Our 0-based stream version is the KurrentDB stream revision (event number).
//
// # Global positions
//
// A KurrentDB $all position is a pair (commit, prepare) of byte offsets in the transaction
// log, and $all is ordered by commit, then prepare. Every gRPC append is written as
// "implicitly committed" prepare records (PrepareFlags.IsCommitted, one record per event,
// the first flagged TransactionBegin, the last TransactionEnd); for such records the
// server's $all reader reports commit = prepare = the record's own log position. So each
// event, also each event of a multi-event append, has its own position with
// Commit == Prepare, strictly increasing in $all order (checked in the server source:
// AllReader.ReadAllEventsForward adds committed prepares as
// CommitEventRecord(event, prepare.LogPosition); the append response carries the
// CommitAck log position of the TransactionEnd record, i.e. the last event's position;
// an idempotent re-append carries the log position of the last event of the original
// range). Hence:
//
//   - RecordedEvent.Position / AppendResult.Position = Position.Commit;
//   - a uint64 p maps back to esdb.Position{Commit: p, Prepare: p}, which names exactly
//     that event's record, and 0 (eventstore.Start) maps to esdb.Start{}.
//
// Only events written by the legacy TCP protocol's explicit transactions have
// Commit != Prepare (several events share the commit record's position); orderengine never
// writes them and this adapter does not support logs that contain them.
//
// Stream reads carry $all positions only since EventStoreDB 22.6 (older servers send
// "no position", reported here as Position 0); any KurrentDB release is fine.
//
// # Chain hashes and concurrency
//
// Every event's metadata carries its chain hash (eventstore.Prepare). Append reads the
// stream's last event (one backward read), chains the new events after its hash and
// appends with expected revision = the revision just read, so no concurrent writer can
// slip an event between the hash's predecessor and the new events. Any and StreamExists
// re-read and retry (bounded) when they lose that race; Exact and NoStream report
// eventstore.ErrWrongExpectedVersion with the actual version.
//
// Because the server is always asked for an exact revision, its own idempotency check for
// Any (a bounded cache of recent event IDs) never applies, and at the current revision it
// checks no IDs at all. So an Any or StreamExists append reads the stream's last
// Options.IdempotencyWindow events (1,000 by default) with the tail and returns the
// original result when its event IDs are stored there, contiguous and in order; a retry
// older than the window is written again, as on PostgreSQL.
//
// # Unknown outcomes
//
// A write timeout (gRPC Aborted "Operation timed out"), the client's deadline or a
// connection lost mid-call leave the outcome unknown. The adapter sends the same events
// with the same chain hashes again at the same revision (up to 6 times, pausing between):
// the server writes them if the first attempt was lost, answers the original result if it
// landed, and drops the retry (another timeout) while the original is written but not yet
// replicated. If the server never answers, Append reports that the outcome is unknown;
// retrying with the same event IDs is then safe.
//
// # Clusters
//
// Every call requires the leader: the adapter sends the "requires-leader" header itself
// (client v4.2.0 never sends it), so a follower answers NotLeader with the leader's address
// instead of serving a lagging copy of the log or forwarding the write; the client then
// reconnects to that leader and the adapter repeats the call (also after "not ready"
// answers during an election). Connection strings may list several nodes
// ("kurrentdb://h1:2113,h2:2113,h3:2113") or use DNS discovery ("kurrentdb+discover://");
// nodePreference other than leader is refused. Subscriptions dropped by the server (a
// node shutting down, a lost connection, a leader change) are resubscribed from the last
// position seen; drops that will not pass (access denied) end them with an error.
//
// # Server requirements
//
//   - EventStoreDB 22.6 or later, or any KurrentDB release (for $all positions on stream
//     reads, see above);
//   - a user allowed to read $all for ReadAll, Head and SubscribeAll (in a secure
//     cluster $all is a system stream, readable by administrators by default);
//   - the server's MaxAppendSize (1 MiB per append by default) known to the adapter:
//     Options.MaxAppendSize or maxAppendSize=N in the connection string (and
//     maxAppendEventSize=N when the server sets MaxAppendEventSize). An append over it,
//     counted as the server counts it (data + metadata with the chain hash + 2 × the
//     type's UTF-16 length, per event), fails with ErrInvalidEvent before it is sent; the
//     server would end the call mid-stream and client v4 would report a bare EOF.
//
// # System events
//
// $all also holds the server's own events (streams or event types starting with "$":
// stream metadata, statistics, projection links, …). ReadAll, SubscribeAll and Head skip
// them.
package kurrentdb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/orderengine/orderengine/eventstore"
)

// Options configure a Store.
type Options struct {
	// Limits bound what one append may carry (zero value: eventstore defaults). The
	// server's own limits (MaxAppendSize, 1 MiB per append by default, and
	// MaxAppendEventSize) must be at least as large, or large appends fail on the server.
	Limits eventstore.Limits
	// MaxAppendSize is the server's MaxAppendSize (default DefaultMaxAppendSize, the
	// server's default). Appends over it are refused with ErrInvalidEvent before they are
	// sent. The connection-string parameter maxAppendSize overrides it.
	MaxAppendSize int
	// MaxAppendEventSize is the server's MaxAppendEventSize (default: none, as the
	// server's). The connection-string parameter maxAppendEventSize overrides it.
	MaxAppendEventSize int
	// IdempotencyWindow is how many of a stream's last events an Any or StreamExists
	// append searches for its own event IDs (default DefaultIdempotencyWindow).
	IdempotencyWindow int
	// Logger receives the adapter's and the client library's logs (default: discarded).
	Logger *slog.Logger
}

// Store is an eventstore.Store backed by a KurrentDB server or cluster.
type Store struct {
	client *esdb.Client
	limits eventstore.Limits
	log    *slog.Logger

	maxAppendSize      int
	maxAppendEventSize int // 0: no limit
	window             int

	// mu guards closed and the client against Close: operations hold a read lock while
	// they use the client, Close takes the write lock (the client may panic when used
	// while it is being closed).
	mu     sync.RWMutex
	closed bool

	subsMu sync.Mutex
	subs   map[*subscription]struct{}
}

var _ eventstore.Store = (*Store)(nil)

// Open connects to KurrentDB. connString is the client's connection string, e.g.
// "kurrentdb://localhost:2113?tls=false" or "esdb://admin:changeit@host1:2113,host2:2113";
// the schemes kurrentdb, kurrent, kdb and esdb (each also with "+discover") are accepted.
// The adapter's own parameters maxAppendSize and maxAppendEventSize (bytes) are taken
// out before the rest goes to the client.
// Open waits, bounded by ctx, until the client has connected to a node.
func Open(ctx context.Context, connString string, opt Options) (*Store, error) {
	cs, err := normalizeConnString(connString)
	if err != nil {
		return nil, err
	}
	cs, params, err := splitParams(cs)
	if err != nil {
		return nil, err
	}
	maxAppend, maxEvent := opt.MaxAppendSize, opt.MaxAppendEventSize
	if maxAppend <= 0 {
		maxAppend = DefaultMaxAppendSize
	}
	if v, ok := params["maxappendsize"]; ok {
		if maxAppend, err = sizeParam("maxAppendSize", v); err != nil {
			return nil, err
		}
	}
	if v, ok := params["maxappendeventsize"]; ok {
		if maxEvent, err = sizeParam("maxAppendEventSize", v); err != nil {
			return nil, err
		}
	}
	window := opt.IdempotencyWindow
	if window <= 0 {
		window = DefaultIdempotencyWindow
	}
	cfg, err := esdb.ParseConnectionString(cs)
	if err != nil {
		return nil, fmt.Errorf("kurrentdb: invalid connection string: %w", err)
	}
	if cfg.NodePreference != esdb.NodePreferenceLeader {
		// Appends read the stream's tail and append after it; a follower's tail may lag.
		return nil, fmt.Errorf("kurrentdb: nodePreference=%s is not supported: the adapter reads and writes on the leader only (remove the setting; leader is the default)", cfg.NodePreference)
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg.Logger = clientLogger(log)
	client, err := esdb.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("kurrentdb: %w", err)
	}

	// The client connects lazily; ask for the server version to connect now, so that a
	// wrong address or bad credentials fail at start-up rather than at the first append.
	type versionResult struct {
		v   *esdb.ServerVersion
		err error
	}
	ch := make(chan versionResult, 1)
	go func() {
		v, err := client.GetServerVersion()
		ch <- versionResult{v, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			_ = client.Close()
			return nil, fmt.Errorf("kurrentdb: connect: %w", r.err)
		}
		switch v := r.v; {
		case v == nil || v.Major == 0:
			log.Warn("kurrentdb: server version unknown (server older than 21.10?); stream reads may lack $all positions")
		case v.Major < 22 || (v.Major == 22 && v.Minor < 6):
			log.Warn("kurrentdb: server older than EventStoreDB 22.6: stream reads carry no $all positions",
				"version", fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch))
		default:
			log.Debug("kurrentdb: connected", "version", fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch))
		}
	case <-ctx.Done():
		// Closing the client while GetServerVersion is in flight can panic inside the
		// client (send on a closed channel); close it once the call has returned.
		go func() {
			<-ch
			_ = client.Close()
		}()
		return nil, fmt.Errorf("kurrentdb: connect: %w", ctx.Err())
	}

	return &Store{
		client:             client,
		limits:             opt.Limits,
		log:                log,
		maxAppendSize:      maxAppend,
		maxAppendEventSize: maxEvent,
		window:             window,
		subs:               map[*subscription]struct{}{},
	}, nil
}

// enter admits an operation unless the store is closed; leave ends it.
func (s *Store) enter() error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return eventstore.ErrClosed
	}
	return nil
}

func (s *Store) leave() { s.mu.RUnlock() }

// Close waits for operations in flight, ends every subscription and closes the client.
// Every later call returns eventstore.ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true

	s.subsMu.Lock()
	subs := make([]*subscription, 0, len(s.subs))
	for sub := range s.subs {
		subs = append(subs, sub)
	}
	s.subsMu.Unlock()
	for _, sub := range subs {
		_ = sub.Close()
	}
	return s.client.Close()
}

// forget drops a subscription that has ended from the ones Close ends.
func (s *Store) forget(sub *subscription) {
	s.subsMu.Lock()
	delete(s.subs, sub)
	s.subsMu.Unlock()
}

// schemes maps the accepted URL schemes to the ones the v4 client parses.
var schemes = map[string]string{
	"esdb":               "esdb",
	"esdb+discover":      "esdb+discover",
	"kurrentdb":          "esdb",
	"kurrentdb+discover": "esdb+discover",
	"kurrent":            "esdb",
	"kurrent+discover":   "esdb+discover",
	"kdb":                "esdb",
	"kdb+discover":       "esdb+discover",
}

// normalizeConnString rewrites a KurrentDB connection string to the esdb:// form that
// the v4 client parses; the rest of the string is left as it is.
func normalizeConnString(cs string) (string, error) {
	cs = strings.TrimSpace(cs)
	i := strings.Index(cs, "://")
	if i <= 0 {
		return "", errors.New(`kurrentdb: connection string must start with "kurrentdb://", "kurrentdb+discover://", "esdb://" or "esdb+discover://"`)
	}
	to, ok := schemes[strings.ToLower(cs[:i])]
	if !ok {
		return "", fmt.Errorf("kurrentdb: unsupported connection string scheme %q (want kurrentdb://, kurrentdb+discover://, esdb:// or esdb+discover://)", cs[:i])
	}
	return to + cs[i:], nil
}

// clientLogger bridges the client library's printf logging to slog. The client logs
// every dropped subscription and failed call at "error"; those are reported to the caller
// as errors anyway, so they are logged here at Warn (Debug when caused by cancellation).
func clientLogger(log *slog.Logger) esdb.LoggingFunc {
	return func(level esdb.LogLevel, format string, args ...interface{}) {
		msg := fmt.Sprintf(format, args...)
		lvl := slog.LevelDebug
		switch level {
		case esdb.LogError, esdb.LogWarn:
			lvl = slog.LevelWarn
			if strings.Contains(msg, "context canceled") || strings.Contains(msg, "Canceled") {
				lvl = slog.LevelDebug
			}
		case esdb.LogInfo:
			lvl = slog.LevelInfo
		}
		log.Log(context.Background(), lvl, "kurrentdb client: "+msg)
	}
}
