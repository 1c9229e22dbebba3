// Package elastic is the Elasticsearch search backend (github.com/elastic/go-elasticsearch/v8).
//
// Index. Queries go through an alias (default "orderengine-products") that points at one
// concrete index per generation, ALIAS-g<N>, created with an explicit mapping (dynamic
// strict; see mapping.go): english-analysed text fields with a search_as_you_type
// subfield on name and brand for autocomplete, keyword fields for facets and sorts,
// prices as longs in minor units, attributes as "key=value" keywords. One index holds
// three kinds of documents: products ("p:<id>"), the stock of SKUs ("s:<sku>", which
// product in-stock flags are derived from) and the projection's checkpoint
// ("checkpoint").
//
// Writes. The index is a sink (projections.Generations, sink.go) driven by the
// projection engine's Runner and RebuildSink, like the SQL read models: the runner
// subscribes to the log from the checkpoint stored in the index; the sink folds each
// batch (projections/catalogfold) with the documents it reads back (mget, real time),
// and writes the changed documents with the bulk API,
// version_type=external, version = the global position of the last event a document
// reflects, without waiting for a refresh; a stale or repeated write answers 409 and is not an
// error. Only once the bulk request is acknowledged does it write the checkpoint
// (external version = position, so it never moves back). Every document also records
// the position it reflects and folding skips events at or before it, so re-applying a
// batch after a partial failure or a crash is harmless; concurrent runners are safe
// (duplicate work only).
//
// Rebuild (the engine's) builds ALIAS-g<N+1> from position 0 while the alias serves
// generation N, catches up, compares the two (document counts and a content hash),
// then swaps the alias in one _aliases request; the live runner's fence notices and
// continues on the new index. The previous index is deleted by the next rebuild.
//
// Queries. Search runs one request: per query word a multi_match over name^4,
// brand^2, category^2, description and attribute text with fuzziness AUTO:4,8 (all words
// must match), filters in bool.filter, multi-select filters in post_filter and facet
// aggregations each filtered by the other facets' filters (terms, range), sorts with
// the product id as tie-breaker and search_after cursors, name highlighting. Suggest is
// a bool_prefix multi_match on the search_as_you_type fields.
package elastic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/projections"
	"github.com/orderengine/orderengine/search"
)

// DefaultAlias is the alias searched when none is configured.
const DefaultAlias = "orderengine-products"

// ProjectionName is the name the runner reports.
const ProjectionName = "search"

// Open is New with the options of the search port (for the URL switch in cmd).
func Open(ctx context.Context, rawURL string, opt search.Options) (search.Backend, error) {
	return New(ctx, rawURL, opt.Events, Options{Alias: opt.Index, Transport: opt.HTTPTransport, Runner: opt.Runner, Logger: opt.Logger})
}

// Options configure the backend. The zero value is usable.
type Options struct {
	// Alias is the index alias (default: the URL's "index" query parameter, else
	// DefaultAlias). Concrete indices are named Alias-g<N>.
	Alias string
	// Transport, if set, carries the HTTP requests (tests, custom TLS).
	Transport http.RoundTripper
	// Runner tunes the runner (the projection engine's): BatchSize (default 500),
	// IdleCheck, MaxAttempts, Backoff, MaxBackoff, Logger, Now, and Registry, which is
	// required with an event store.
	Runner projections.RunnerOptions
	// Shards of new indices (default 1: exact facet counts and scores for catalogs that
	// fit one shard); Replicas, if not nil, their replicas.
	Shards   int
	Replicas *int
	Logger   *slog.Logger
}

// Backend is the Elasticsearch search backend.
type Backend struct {
	c      *client
	store  eventstore.Store
	sink   *sink
	runner *projections.Runner
	reg    *domain.Registry
}

var _ search.Backend = (*Backend)(nil)

// New returns the backend for an Elasticsearch URL ("http(s)://[user:password@]host:port
// [?index=ALIAS]"). It does not contact the server: Run creates the index and alias when
// missing, and queries before that find nothing. store may be nil for a query-only
// backend.
func New(ctx context.Context, rawURL string, store eventstore.Store, opt Options) (*Backend, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		shown := "(unparsable URL)"
		if err == nil {
			shown = u.Redacted()
		}
		return nil, fmt.Errorf("search: Elasticsearch URL %q: want http(s)://host:port", shown)
	}
	cfg := elasticsearch.Config{Transport: opt.Transport, DisableRetry: false, MaxRetries: 2}
	if u.User != nil {
		cfg.Username = u.User.Username()
		cfg.Password, _ = u.User.Password()
	}
	alias := opt.Alias
	if alias == "" {
		alias = u.Query().Get("index")
	}
	if alias == "" {
		alias = DefaultAlias
	}
	if err := validIndexName(alias); err != nil {
		return nil, err
	}
	addr := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}
	cfg.Addresses = []string{addr.String()}
	es, err := elasticsearch.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("search: Elasticsearch client: %w", err)
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Runner.Logger == nil {
		opt.Runner.Logger = opt.Logger
	}
	shards := opt.Shards
	if shards <= 0 {
		shards = 1
	}
	c := &client{es: es, alias: alias, shards: shards, replicas: opt.Replicas, log: opt.Logger}
	b := &Backend{c: c, store: store, sink: &sink{c: c, aliasEvery: time.Second}, reg: opt.Runner.Registry}
	if store != nil {
		if b.runner, err = projections.NewSinkRunner(b.sink, store, opt.Runner); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func validIndexName(s string) error {
	if s == "" || len(s) > 200 || strings.ToLower(s) != s || strings.ContainsAny(s, `\/*?"<>| ,#:`) || strings.HasPrefix(s, "-") ||
		strings.HasPrefix(s, "_") || strings.HasPrefix(s, "+") {
		return fmt.Errorf("search: %q is not a valid Elasticsearch index name (lower case, no \\/*?\"<>| ,#:)", s)
	}
	return nil
}

// Kind implements search.Backend.
func (*Backend) Kind() string { return "elasticsearch" }

// Name implements search.Backend.
func (*Backend) Name() string { return ProjectionName }

// Alias is the alias queries go through.
func (b *Backend) Alias() string { return b.c.alias }

// Client is the Elasticsearch client.
func (b *Backend) Client() *elasticsearch.Client { return b.c.es }

var errNoStore = errors.New("search: no event store: open the backend with Options.Events to run or rebuild it")

// Run implements search.Backend.
func (b *Backend) Run(ctx context.Context) error {
	if b.runner == nil {
		return errNoStore
	}
	return b.runner.Run(ctx)
}

// Status implements search.Backend.
func (b *Backend) Status() projections.Status {
	if b.runner == nil {
		return projections.Status{Name: ProjectionName, State: projections.StateStopped}
	}
	return b.runner.Status()
}

// Close implements search.Backend.
func (b *Backend) Close() error { return nil }

// Position implements search.Index: the checkpoint of the index behind the alias as
// searches see it (after the last refresh; documents are written before their
// checkpoint, so every event up to it is searchable).
func (b *Backend) Position(ctx context.Context) (uint64, error) {
	return b.c.searchablePosition(ctx, b.c.alias)
}

// WaitPosition implements search.Index.
// Once the checkpoint (read in real time) has reached atLeast, it refreshes the index
// rather than wait for the next scheduled refresh: read-your-writes costs a refresh
// only to the readers that ask for it.
func (b *Backend) WaitPosition(ctx context.Context, atLeast uint64, maxWait time.Duration) (bool, uint64, error) {
	refreshed := false
	position := func(ctx context.Context) (uint64, error) {
		pos, err := b.Position(ctx)
		if err != nil || pos >= atLeast || refreshed {
			return pos, err
		}
		written, err := b.c.checkpoint(ctx, b.c.alias)
		if err != nil || written.Position < atLeast {
			return pos, err
		}
		if err := b.c.refresh(ctx, b.c.alias); err != nil {
			return pos, err
		}
		refreshed = true
		return b.Position(ctx)
	}
	return projections.WaitFor(ctx, position, atLeast, maxWait, 5*time.Millisecond, 100*time.Millisecond)
}

// Rebuild implements search.Backend with the projection engine's blue/green rebuild:
// it builds the next generation's index from position 0 while the alias serves the
// live one, catches up, compares the two (document counts and content hashes per kind,
// when the live index is at the same position) and swaps the alias atomically (unless
// DryRun, which deletes the new index). Older generations and leftovers of failed
// rebuilds are deleted first; the replaced index is kept until the next rebuild.
// RebuildOptions.Registry defaults to the runner's.
func (b *Backend) Rebuild(ctx context.Context, opt projections.RebuildOptions) (*projections.RebuildReport, error) {
	if b.store == nil {
		return nil, errNoStore
	}
	if opt.Registry == nil {
		opt.Registry = b.reg
	}
	return projections.RebuildSink(ctx, b.sink, b.store, opt)
}

// client wraps the Elasticsearch client with JSON and error handling.
type client struct {
	es       *elasticsearch.Client
	alias    string
	shards   int
	replicas *int
	log      *slog.Logger
}

// esError is an error answer of Elasticsearch.
type esError struct {
	Status int
	Type   string
	Reason string
}

func (e *esError) Error() string {
	return fmt.Sprintf("elasticsearch: %d %s: %s", e.Status, e.Type, e.Reason)
}

// Unwrap makes overload and server errors ErrUnavailable.
func (e *esError) Unwrap() error {
	if e.Status == http.StatusTooManyRequests || e.Status >= 500 {
		return search.ErrUnavailable
	}
	return nil
}

func isNotFound(err error) bool {
	var e *esError
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}

func errorType(err error) string {
	var e *esError
	if errors.As(err, &e) {
		return e.Type
	}
	return ""
}

// do sends a request and decodes a 2xx answer's JSON into out (if not nil). Other
// answers are *esError; transport failures wrap search.ErrUnavailable.
func (c *client) do(ctx context.Context, req esapi.Request, out any) error {
	res, err := req.Do(ctx, c.es)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w: %w", search.ErrUnavailable, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return fmt.Errorf("%w: read response: %w", search.ErrUnavailable, err)
	}
	if res.StatusCode < 200 || res.StatusCode > 299 {
		e := &esError{Status: res.StatusCode}
		var eb struct {
			Error json.RawMessage `json:"error"`
		}
		if json.Unmarshal(body, &eb) == nil && len(eb.Error) > 0 {
			var detail struct {
				Type   string `json:"type"`
				Reason string `json:"reason"`
			}
			if json.Unmarshal(eb.Error, &detail) == nil && detail.Type != "" {
				e.Type, e.Reason = detail.Type, detail.Reason
			} else {
				e.Reason = string(eb.Error)
			}
		} else {
			e.Reason = strings.TrimSpace(string(body))
		}
		if len(e.Reason) > 500 {
			e.Reason = e.Reason[:500] + "…"
		}
		return e
	}
	if out == nil {
		return nil
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if err := d.Decode(out); err != nil {
		return fmt.Errorf("elasticsearch: decode %T: %w", out, err)
	}
	return nil
}

func jsonBody(v any) io.Reader {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // request bodies are plain data
	}
	return bytes.NewReader(b)
}

// Checkpoint is the projection's checkpoint document.
type Checkpoint struct {
	Kind     string `json:"kind"`
	Position uint64 `json:"position"`
	// LastEventAt is the recorded time of the last event applied (Unix nanoseconds).
	LastEventAt int64 `json:"lastEventAt"`
}

const checkpointID = "checkpoint"

// searchablePosition reads an index's checkpoint as searches see it (0 when the index
// or the document is missing).
func (c *client) searchablePosition(ctx context.Context, index string) (uint64, error) {
	var res struct {
		Hits struct {
			Hits []struct {
				Source Checkpoint `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	body := m{"size": 1, "query": m{"ids": m{"values": []string{checkpointID}}}}
	err := c.do(ctx, esapi.SearchRequest{Index: []string{index}, Body: jsonBody(body)}, &res)
	if isNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("search: read checkpoint: %w", err)
	}
	if len(res.Hits.Hits) == 0 {
		return 0, nil
	}
	return res.Hits.Hits[0].Source.Position, nil
}

// refresh makes an index's writes searchable now.
func (c *client) refresh(ctx context.Context, index string) error {
	if err := c.do(ctx, esapi.IndicesRefreshRequest{Index: []string{index}}, nil); err != nil {
		return fmt.Errorf("search: refresh %s: %w", index, err)
	}
	return nil
}

// checkpoint reads an index's checkpoint (zero when the index or the document is
// missing).
func (c *client) checkpoint(ctx context.Context, index string) (Checkpoint, error) {
	var res struct {
		Found  bool       `json:"found"`
		Source Checkpoint `json:"_source"`
	}
	err := c.do(ctx, esapi.GetRequest{Index: index, DocumentID: checkpointID}, &res)
	if isNotFound(err) {
		return Checkpoint{}, nil
	}
	if err != nil {
		return Checkpoint{}, fmt.Errorf("search: read checkpoint: %w", err)
	}
	return res.Source, nil
}

// setCheckpoint writes an index's checkpoint with external version = position: a
// checkpoint never moves back (409 is a newer one already there).
func (c *client) setCheckpoint(ctx context.Context, index string, cp Checkpoint) error {
	cp.Kind = kindCheckpoint
	v := int(cp.Position)
	err := c.do(ctx, esapi.IndexRequest{Index: index, DocumentID: checkpointID, Body: jsonBody(cp), Version: &v,
		VersionType: "external"}, nil)
	if err != nil && errorType(err) != "version_conflict_engine_exception" {
		return fmt.Errorf("search: write checkpoint: %w", err)
	}
	return nil
}
