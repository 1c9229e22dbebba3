// Package storebench measures an event store (any eventstore.Store) with a fixed set of
// workloads and checks, for each one, that nothing was lost, repeated or reordered. A
// workload whose check fails reports the failure instead of a speed.
//
// Workloads, run in this order (Config.Workloads selects a subset):
//
//   - append_b1: Streams × EventsPerStream events, one event per append with the exact
//     expected version (NoStream first), Writers goroutines each owning a share of the
//     streams. Latency is per append.
//   - append_b10: the same with all EventsPerStream events of a stream in one append.
//   - multi_s4: the Streams in groups of 4, EventsPerStream rounds per group, each round
//     one event to each of the group's 4 streams (exact expected versions) as ONE atomic
//     multi-stream append (eventstore.AppendMulti; a store without the capability falls
//     back to single appends and the result says atomic=false). Latency and appends/s
//     count batches; an atomic batch must take 4 consecutive positions.
//   - single_s4: the same batches as 4 single-stream appends one after the other (the
//     fallback), for comparison.
//   - hot_stream: Writers goroutines append to ONE stream for HotDuration with optimistic
//     concurrency (read the version, append with Exact, on ErrWrongExpectedVersion read
//     again and retry); commits/s and conflict rate (conflicts / attempts). Latency is per
//     commit, retries included. Afterwards the stream must hold exactly the committed
//     events with contiguous versions.
//   - read_streams: Writers goroutines read back every stream written by append_b1 (or by
//     append_b10 when append_b1 is not run) and check events, IDs and versions.
//   - catchup_noop: SubscribeAll from the position before the run's first event, filtered
//     to the run's stream category, consuming everything the run wrote; every event must
//     arrive exactly once and in position order.
//   - raw_insert_b1, raw_insert_b10 (only with Config.RawPostgres): plain INSERTs of the
//     PostgreSQL adapter's row shape into a table in a temporary schema, at the same
//     concurrency, one row per transaction and EventsPerStream rows per transaction; the
//     append_b1/append_b10 results then carry ratio_to_raw.
//
// Every run writes streams of its own random category, so it may share a store with
// other data; a private, empty store gives the cleanest numbers.
package storebench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderengine/orderengine/eventstore"
)

// Workload names.
const (
	AppendB1    = "append_b1"
	AppendB10   = "append_b10"
	MultiS4     = "multi_s4"
	SingleS4    = "single_s4"
	HotStream   = "hot_stream"
	ReadStreams = "read_streams"
	CatchupNoop = "catchup_noop"
	RawInsertB1 = "raw_insert_b1"
	RawInsertBN = "raw_insert_b10"
)

// Workloads lists every workload in the order Run runs them.
var Workloads = []string{AppendB1, AppendB10, MultiS4, SingleS4, HotStream, ReadStreams, CatchupNoop, RawInsertB1, RawInsertBN}

// Defaults of Config.
const (
	DefaultStreams         = 10_000
	DefaultEventsPerStream = 10
	DefaultWriters         = 8
	DefaultDataBytes       = 300
	DefaultMetadataBytes   = 100
	DefaultHotDuration     = 20 * time.Second
)

// Config sets the size of a run. Zero fields take the defaults.
type Config struct {
	// Streams written by append_b1 and again by append_b10 (default 10,000).
	Streams int
	// EventsPerStream, which is also the batch size of append_b10 and raw_insert_b10
	// (default 10).
	EventsPerStream int
	// Writers is the number of concurrent goroutines/clients of every workload (default 8).
	Writers int
	// DataBytes and MetadataBytes are the approximate sizes of each event's JSON data
	// (default 300) and metadata as appended (default 100; the store adds its chain hash).
	DataBytes     int
	MetadataBytes int
	// HotDuration is how long hot_stream runs (default 20s).
	HotDuration time.Duration
	// Workloads to run, by name (default all; the raw ones only with RawPostgres).
	// They always run in the order of the package-level Workloads list.
	Workloads []string
	// RawPostgres, when set, is a pool on the PostgreSQL database under test; the raw
	// INSERT baseline runs there in a temporary schema that is dropped afterwards.
	RawPostgres *pgxpool.Pool
	// Progress, when set, receives a progress line per workload, redrawn with '\r' a few
	// times per second and ended with '\n'.
	Progress io.Writer
}

// WithDefaults returns c with zero fields replaced by the defaults.
func (c Config) WithDefaults() Config {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.Streams, DefaultStreams)
	def(&c.EventsPerStream, DefaultEventsPerStream)
	def(&c.Writers, DefaultWriters)
	def(&c.DataBytes, DefaultDataBytes)
	def(&c.MetadataBytes, DefaultMetadataBytes)
	if c.HotDuration == 0 {
		c.HotDuration = DefaultHotDuration
	}
	if len(c.Workloads) == 0 {
		for _, w := range Workloads {
			if !isRaw(w) || c.RawPostgres != nil {
				c.Workloads = append(c.Workloads, w)
			}
		}
	}
	return c
}

func isRaw(w string) bool { return w == RawInsertB1 || w == RawInsertBN }

const (
	maxStreams = 10_000_000
	maxWriters = 1024
	// minDataBytes and minMetadataBytes: below these the generated JSON cannot shrink.
	minDataBytes     = 16
	minMetadataBytes = 2
)

// Validate reports every problem of the configuration (after defaults) at once.
func (c Config) Validate() error {
	c = c.WithDefaults()
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Streams < 1 || c.Streams > maxStreams {
		bad("streams must be between 1 and %d, not %d", maxStreams, c.Streams)
	}
	if c.EventsPerStream < 1 || c.EventsPerStream > eventstore.DefaultMaxEventsPerAppend {
		bad("events per stream must be between 1 and %d, not %d", eventstore.DefaultMaxEventsPerAppend, c.EventsPerStream)
	}
	if c.Streams > 0 && c.EventsPerStream > 0 && int64(c.Streams)*int64(c.EventsPerStream) > 100_000_000 {
		bad("streams × events per stream must be at most 100,000,000, not %d", int64(c.Streams)*int64(c.EventsPerStream))
	}
	if c.Writers < 1 || c.Writers > maxWriters {
		bad("writers must be between 1 and %d, not %d", maxWriters, c.Writers)
	}
	if c.DataBytes < minDataBytes {
		bad("data bytes must be at least %d, not %d", minDataBytes, c.DataBytes)
	}
	if c.MetadataBytes < minMetadataBytes {
		bad("metadata bytes must be at least %d, not %d", minMetadataBytes, c.MetadataBytes)
	}
	if c.DataBytes+c.MetadataBytes > eventstore.DefaultMaxEventSize {
		bad("data + metadata bytes must be at most %d (the default event size limit), not %d", eventstore.DefaultMaxEventSize, c.DataBytes+c.MetadataBytes)
	}
	if c.HotDuration < 0 {
		bad("hot duration must be positive, not %s", c.HotDuration)
	}
	seen := map[string]bool{}
	for _, w := range c.Workloads {
		known := false
		for _, k := range Workloads {
			known = known || k == w
		}
		switch {
		case !known:
			bad("unknown workload %q (known: %s)", w, strings.Join(Workloads, ", "))
		case seen[w]:
			bad("workload %q listed twice", w)
		case isRaw(w) && c.RawPostgres == nil:
			bad("workload %q needs a PostgreSQL pool (RawPostgres)", w)
		}
		seen[w] = true
	}
	if seen[ReadStreams] && !seen[AppendB1] && !seen[AppendB10] {
		bad("workload %s needs %s or %s to write the streams it reads", ReadStreams, AppendB1, AppendB10)
	}
	if seen[CatchupNoop] && !seen[AppendB1] && !seen[AppendB10] && !seen[HotStream] && !seen[MultiS4] && !seen[SingleS4] {
		bad("workload %s needs a workload that writes (%s, %s, %s, %s or %s)", CatchupNoop, AppendB1, AppendB10, MultiS4, SingleS4, HotStream)
	}
	return errors.Join(errs...)
}

// Result is the outcome of one workload. When OK is false the speed fields are zero and
// Error says what went wrong.
type Result struct {
	Workload string `json:"workload"`
	// Store is the Go type of the store measured, e.g. "*sqlite.Store".
	Store string `json:"store,omitempty"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`

	EventsPerS  float64 `json:"events_per_s"`
	AppendsPerS float64 `json:"appends_per_s"`
	// P50Ms and P99Ms are latencies of one append (hot_stream: one commit, retries
	// included; multi_s4, single_s4: one batch of 4 streams; read_streams: one stream
	// read; raw: one transaction).
	P50Ms float64 `json:"p50_ms"`
	P99Ms float64 `json:"p99_ms"`
	// hot_stream only.
	CommitsPerS  *float64 `json:"commits_per_s,omitempty"`
	ConflictRate *float64 `json:"conflict_rate,omitempty"`
	Attempts     int64    `json:"attempts,omitempty"`
	Conflicts    int64    `json:"conflicts,omitempty"`
	// Atomic: multi_s4 and single_s4 only: whether a batch was one atomic multi-stream
	// append.
	Atomic *bool `json:"atomic,omitempty"`
	// RatioToRaw: append_b1 and append_b10 only, when the raw baseline ran: events/s of
	// the engine divided by rows/s of the raw INSERTs in the same run.
	RatioToRaw *float64 `json:"ratio_to_raw,omitempty"`

	// Events and Appends done (appends: transactions for raw, stream reads for
	// read_streams).
	Events  int64 `json:"events"`
	Appends int64 `json:"appends"`

	// Correctness counts (see Report).
	Duplicates int `json:"duplicates"`
	Missing    int `json:"missing"`
	OutOfOrder int `json:"out_of_order"`
	Unexpected int `json:"unexpected"`

	// Parameters.
	Streams         int     `json:"streams"`
	EventsPerStream int     `json:"events_per_stream"`
	Writers         int     `json:"writers"`
	Batch           int     `json:"batch"`
	DataBytes       int     `json:"data_bytes"`
	MetadataBytes   int     `json:"metadata_bytes"`
	DurationS       float64 `json:"duration_s"`
}

// AllOK reports whether every result passed its correctness check.
func AllOK(rs []Result) bool {
	for _, r := range rs {
		if !r.OK {
			return false
		}
	}
	return true
}

// fail marks r as failed: the error replaces the speed.
func (r *Result) fail(msg string) {
	r.OK = false
	if r.Error == "" {
		r.Error = msg
	} else if msg != "" {
		r.Error += "; " + msg
	}
	r.EventsPerS, r.AppendsPerS, r.P50Ms, r.P99Ms = 0, 0, 0, 0
	if r.CommitsPerS != nil {
		r.CommitsPerS = ptr(0)
	}
	r.RatioToRaw = nil
}

func (r *Result) setReport(rep Report) {
	r.Duplicates, r.Missing, r.OutOfOrder, r.Unexpected = rep.Duplicates, rep.Missing, rep.OutOfOrder, rep.Unexpected
	if !rep.OK() {
		r.fail(rep.String())
	}
}

func ptr(f float64) *float64 { return &f }

func round(f float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(f*p) / p
}

func rate(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return round(float64(n)/d.Seconds(), 1)
}

// percentile returns the p-th percentile (nearest rank) of sorted latencies, in ms.
func percentile(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	i = max(0, min(i, len(sorted)-1))
	return round(float64(sorted[i])/float64(time.Millisecond), 3)
}

func setLatencies(r *Result, lat [][]time.Duration) {
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	r.P50Ms, r.P99Ms = percentile(all, 50), percentile(all, 99)
}

// run is the state of one Run shared by its workloads.
type run struct {
	store    eventstore.Store
	cfg      Config
	category string
	start    uint64 // $all head before the run's first event
	gen      *generator

	mu      sync.Mutex
	written Expectation // acknowledged events per stream, for read_streams and catchup
	maxPos  uint64      // highest position acknowledged by an append
	b1, b10 []string    // stream names as written

	rawSchema, rawName string // the raw baseline's temporary schema and table
}

func (r *run) acked(stream string, ids []uuid.UUID, pos uint64) {
	r.mu.Lock()
	r.written[stream] = append(r.written[stream], ids...)
	r.maxPos = max(r.maxPos, pos)
	r.mu.Unlock()
}

func (r *run) result(workload string, batch int) Result {
	return Result{
		Workload: workload, Store: fmt.Sprintf("%T", r.store), OK: true,
		Streams: r.cfg.Streams, EventsPerStream: r.cfg.EventsPerStream, Writers: r.cfg.Writers,
		Batch: batch, DataBytes: r.cfg.DataBytes, MetadataBytes: r.cfg.MetadataBytes,
	}
}

// Run runs the configured workloads on store and returns one result per workload. It
// returns an error only for an invalid configuration or when ctx ends (with the results
// so far); a workload that fails, including by a store error, reports it in its Result.
func Run(ctx context.Context, store eventstore.Store, cfg Config) (out []Result, err error) {
	if store == nil {
		return nil, errors.New("storebench: nil store")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("storebench: %w", err)
	}
	cfg = cfg.WithDefaults()
	head, err := store.Head(ctx)
	if err != nil {
		return nil, fmt.Errorf("storebench: read the head of $all: %w", err)
	}
	r := &run{
		store:    store,
		cfg:      cfg,
		category: "bench" + strings.ReplaceAll(uuid.NewString(), "-", "")[:10],
		start:    head,
		gen:      newGenerator(cfg.DataBytes, cfg.MetadataBytes),
		written:  Expectation{},
	}
	defer func() {
		if derr := r.dropRaw(); derr != nil {
			err = errors.Join(err, derr)
		}
	}()
	selected := map[string]bool{}
	for _, w := range cfg.Workloads {
		selected[w] = true
	}
	for _, w := range Workloads {
		if !selected[w] {
			continue
		}
		if err := ctx.Err(); err != nil {
			return out, err
		}
		var res Result
		switch w {
		case AppendB1:
			res = r.appendWorkload(ctx, AppendB1, 1)
		case AppendB10:
			res = r.appendWorkload(ctx, AppendB10, cfg.EventsPerStream)
		case MultiS4, SingleS4:
			res = r.multiWorkload(ctx, w)
		case HotStream:
			res = r.hotStream(ctx)
		case ReadStreams:
			res = r.readStreams(ctx)
		case CatchupNoop:
			res = r.catchup(ctx)
		case RawInsertB1:
			res = r.rawInsert(ctx, RawInsertB1, 1)
		case RawInsertBN:
			res = r.rawInsert(ctx, RawInsertBN, cfg.EventsPerStream)
		}
		out = append(out, res)
		if err := ctx.Err(); err != nil {
			return out, err
		}
	}
	addRatios(out)
	return out, nil
}

// addRatios sets ratio_to_raw on the append results from the raw results of the same run.
func addRatios(rs []Result) {
	find := func(w string) *Result {
		for i := range rs {
			if rs[i].Workload == w {
				return &rs[i]
			}
		}
		return nil
	}
	for _, p := range [][2]string{{AppendB1, RawInsertB1}, {AppendB10, RawInsertBN}} {
		eng, raw := find(p[0]), find(p[1])
		if eng != nil && raw != nil && eng.OK && raw.OK && raw.EventsPerS > 0 {
			eng.RatioToRaw = ptr(round(eng.EventsPerS/raw.EventsPerS, 3))
		}
	}
}
