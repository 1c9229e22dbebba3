// Package sqlsearch is the search backend on the read-model database: SQLite FTS5 (the
// embedded default) or PostgreSQL full text with pg_trgm. The index is a
// projections.Projection ("search"), so the read-model runner keeps it, with its
// checkpoint in the same transaction as the rows, and projections.Rebuild builds a new
// generation of it while the live one serves.
//
// SQLite: documents in a table, the text in an FTS5 table (Porter stemming, diacritics
// folded) ranked by bm25 with column weights name 10, brand and category 4, description
// and attributes 1; autocomplete from a second, unstemmed FTS5 table of names and brands
// with prefix indexes ("blu"*). PostgreSQL: a generated tsvector (setweight A name, B
// brand and category, C description and attributes; 'english') with a GIN index,
// ranked by ts_rank_cd; autocomplete from a generated 'simple' tsvector of names and
// brands with prefix queries (blu:*).
//
// Typo tolerance, both dialects: the projection keeps a vocabulary of the words of the
// active products (search_words, with document counts). A query word that matches no
// product (not in the vocabulary, and not matching through stemming either) is matched
// as itself or any of its five closest vocabulary words within 1 edit (4–7 letters) or
// 2 edits (8+ letters; like Elasticsearch's fuzziness AUTO:4,8), optimal-string-
// alignment distance (transpositions count one), the closest and most frequent first. SQLite finds candidates among the words of similar length;
// PostgreSQL with pg_trgm (similarity via the % operator on a GIN trigram index, and
// the words sharing the first two letters). Suggest, when a prefix matches nothing,
// retries with corrected words and prefixes within one edit (pg_trgm word_similarity
// via <% in PostgreSQL; words with the same first letter in SQLite).
package sqlsearch

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/eventstore"
	"github.com/orderengine/orderengine/projections"
	"github.com/orderengine/orderengine/search"
)

// Open opens the SQL backend: with Options.DB, on that read-model database (url is
// ignored: "" by convention); without, on the database url names ("sqlite:…",
// "postgres://…"), which Close then closes.
func Open(ctx context.Context, url string, opt search.Options) (search.Backend, error) {
	db, owned := opt.DB, false
	if db == nil {
		if url == "" {
			return nil, errors.New("search: the empty URL searches the read-model database: Options.DB is required")
		}
		o := opt.DBOptions
		if o.Logger == nil {
			o.Logger = opt.Logger
		}
		var err error
		if db, err = projections.Open(ctx, url, o); err != nil {
			return nil, fmt.Errorf("search: %w", err)
		}
		owned = true
	}
	b, err := New(ctx, db, opt.Events, opt.Runner)
	if err != nil {
		if owned {
			db.Close()
		}
		return nil, err
	}
	b.owned = owned
	return b, nil
}

// Index answers queries from the live generation of the search projection.
type Index struct {
	db   *projections.DB
	proj *Projection
	pg   bool
}

var _ search.Index = (*Index)(nil)

// Backend is the SQL search backend: the Index and the projection's runner.
type Backend struct {
	*Index
	store  eventstore.Store
	runner *projections.Runner
	reg    *domain.Registry
	owned  bool
}

var _ search.Backend = (*Backend)(nil)

// New returns the search backend on a read-model database. store is the log the
// projection reads (it may be nil for a query-only backend: Run and Rebuild then fail).
// On PostgreSQL it creates the pg_trgm extension when missing.
func New(ctx context.Context, db *projections.DB, store eventstore.Store, opt projections.RunnerOptions) (*Backend, error) {
	proj, err := NewProjection(ctx, db)
	if err != nil {
		return nil, err
	}
	b := &Backend{Index: &Index{db: db, proj: proj, pg: proj.pg}, store: store, reg: opt.Registry}
	if store != nil {
		if b.runner, err = projections.NewRunner(db, store, proj, opt); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// NewProjection returns the search projection for db's dialect. On PostgreSQL it makes
// sure pg_trgm is installed (creating it in schema public, or in the read-model schema
// when public is not writable) and names its schema in the trigram index.
func NewProjection(ctx context.Context, db *projections.DB) (*Projection, error) {
	if !db.Dialect().IsPostgres() {
		return &Projection{}, nil
	}
	schema, err := ensureTrigram(ctx, db.SQL(), db.Schema())
	if err != nil {
		return nil, err
	}
	return &Projection{pg: true, trgm: schema}, nil
}

// ErrNoTrigram: pg_trgm is not installed and this role may not create it.
var ErrNoTrigram = errors.New("search: PostgreSQL extension pg_trgm is not installed and could not be created; " +
	"run CREATE EXTENSION pg_trgm as a superuser or the database owner")

func ensureTrigram(ctx context.Context, db *sql.DB, readSchema string) (string, error) {
	find := func() (string, error) {
		var s string
		err := db.QueryRowContext(ctx, `SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
			WHERE e.extname = 'pg_trgm'`).Scan(&s)
		return s, err
	}
	s, err := find()
	if err == nil {
		return s, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("search: look for pg_trgm: %w", err)
	}
	var errs []error
	for _, schema := range []string{"public", readSchema} {
		if schema == "" {
			continue
		}
		_, err := db.ExecContext(ctx, "CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA "+quoteIdent(schema))
		if err == nil || isDuplicate(err) {
			if s, err := find(); err == nil {
				return s, nil
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("in schema %s: %w", schema, err))
		}
	}
	return "", fmt.Errorf("%w: %w", ErrNoTrigram, errors.Join(errs...))
}

func isDuplicate(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505" || pe.Code == "42710"
	}
	return strings.Contains(err.Error(), "SQLSTATE 23505")
}

// Kind implements search.Backend.
func (ix *Index) Kind() string {
	if ix.pg {
		return "postgres"
	}
	return "sqlite"
}

// Name implements search.Backend.
func (ix *Index) Name() string { return ProjectionName }

// DB is the read-model database the index lives in.
func (ix *Index) DB() *projections.DB { return ix.db }

// Projection is the search projection (to list, rebuild or reset it with the others).
func (ix *Index) Projection() *Projection { return ix.proj }

// Position implements search.Index.
func (ix *Index) Position(ctx context.Context) (uint64, error) {
	return ix.db.Position(ctx, ProjectionName)
}

// WaitPosition implements search.Index.
func (ix *Index) WaitPosition(ctx context.Context, atLeast uint64, maxWait time.Duration) (bool, uint64, error) {
	return ix.db.WaitPosition(ctx, ProjectionName, atLeast, maxWait)
}

var errNoStore = errors.New("search: no event store: open the backend with Options.Events to run or rebuild it")

// Run implements search.Backend (projections.Runner.Run).
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

// Runner is the projection's runner (nil without an event store).
func (b *Backend) Runner() *projections.Runner { return b.runner }

// Rebuild implements search.Backend (projections.Rebuild).
func (b *Backend) Rebuild(ctx context.Context, opt projections.RebuildOptions) (*projections.RebuildReport, error) {
	if b.store == nil {
		return nil, errNoStore
	}
	if opt.Registry == nil {
		opt.Registry = b.reg // the registry the backend was given
	}
	return projections.Rebuild(ctx, b.db, b.store, b.proj, opt)
}

// Close implements search.Backend: it closes the database if Open opened it.
func (b *Backend) Close() error {
	if b.owned {
		return b.db.Close()
	}
	return nil
}
