package projections

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // database/sql driver "sqlite"
)

// DefaultSchema is the PostgreSQL schema of the read models when none is configured.
const DefaultSchema = "readmodels"

// DefaultSQLitePath is the read-model file of "sqlite:" when Options.SQLitePath is empty.
const DefaultSQLitePath = "data/readmodels.db"

// Options configure a read-model database. The zero value is usable.
type Options struct {
	// SQLitePath is the file "sqlite:" (without a path) opens; default DefaultSQLitePath.
	SQLitePath string
	// Schema is the PostgreSQL schema holding the read models (default DefaultSchema, or
	// the URL's "schema" query parameter). It is created when missing.
	Schema string
	// MaxConns bounds the PostgreSQL connection pool (default 10).
	MaxConns int
	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
}

// DB is a read-model database: SQLite (embedded) or PostgreSQL, behind one dialect layer.
// It holds the read models' tables, the projections' checkpoints and generations.
type DB struct {
	d      Dialect
	write  *sql.DB // SQLite: one connection (single writer); PostgreSQL: the pool
	read   *sql.DB // SQLite: a pool of read-only connections; PostgreSQL: == write
	schema string
	pgCfg  *pgx.ConnConfig // for lease connections
	log    *slog.Logger

	mu     sync.Mutex
	leases map[string]bool // SQLite: leases held in this process
	once   sync.Once
}

var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// Open opens the read-model database a URL names: "sqlite:" (the default file),
// "sqlite:PATH" (query parameter synchronous=NORMAL|FULL), or "postgres://…" (query
// parameter schema=NAME). It creates the bookkeeping tables when missing.
func Open(ctx context.Context, rawURL string, opt Options) (*DB, error) {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	var (
		db  *DB
		err error
	)
	switch {
	case strings.HasPrefix(rawURL, "sqlite:"):
		db, err = openSQLite(rawURL, opt)
	case strings.HasPrefix(rawURL, "postgres://"), strings.HasPrefix(rawURL, "postgresql://"):
		db, err = openPostgres(ctx, rawURL, opt)
	default:
		return nil, fmt.Errorf("read models: URL %q: want sqlite:, sqlite:PATH or postgres://…", redact(rawURL))
	}
	if err != nil {
		return nil, err
	}
	db.log = opt.Logger
	db.leases = map[string]bool{}
	if err := db.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	return p.Redacted()
}

func openSQLite(rawURL string, opt Options) (*DB, error) {
	rest := strings.TrimPrefix(strings.TrimPrefix(rawURL, "sqlite:"), "//")
	path, query, _ := strings.Cut(rest, "?")
	q, err := url.ParseQuery(query)
	if err != nil {
		return nil, fmt.Errorf("read models: %q: bad query: %w", rawURL, err)
	}
	if path == "" {
		path = opt.SQLitePath
		if path == "" {
			path = DefaultSQLitePath
		}
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("read models: create %s: %w", dir, err)
		}
	}
	syncMode := strings.ToUpper(q.Get("synchronous"))
	switch syncMode {
	case "":
		syncMode = "NORMAL"
	case "OFF", "NORMAL", "FULL", "EXTRA":
	default:
		return nil, fmt.Errorf("read models: synchronous must be OFF, NORMAL, FULL or EXTRA, not %q", syncMode)
	}
	dsn := func(write bool) string {
		v := url.Values{}
		v.Add("_pragma", "busy_timeout(10000)")
		v.Add("_pragma", "journal_mode(WAL)")
		v.Add("_pragma", "synchronous("+syncMode+")")
		v.Add("_pragma", "cache_size(-65536)")
		if write {
			v.Set("_txlock", "immediate")
		} else {
			v.Add("_pragma", "query_only(1)")
		}
		return "file:" + path + "?" + v.Encode()
	}
	write, err := sql.Open("sqlite", dsn(true))
	if err != nil {
		return nil, fmt.Errorf("read models: open %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxIdleTime(0)
	// The write connection creates the file and sets WAL before readers open it.
	if err := write.Ping(); err != nil {
		write.Close()
		return nil, fmt.Errorf("read models: open %s: %w", path, err)
	}
	read, err := sql.Open("sqlite", dsn(false))
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("read models: open %s: %w", path, err)
	}
	read.SetMaxOpenConns(8)
	read.SetMaxIdleConns(8)
	return &DB{d: sqliteDialect, write: write, read: read}, nil
}

func openPostgres(ctx context.Context, rawURL string, opt Options) (*DB, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("read models: %q: %w", redact(rawURL), err)
	}
	q := u.Query()
	schema := opt.Schema
	if s := q.Get("schema"); s != "" && schema == "" {
		schema = s
	}
	q.Del("schema")
	u.RawQuery = q.Encode()
	if schema == "" {
		schema = DefaultSchema
	}
	if !schemaName.MatchString(schema) {
		return nil, fmt.Errorf("read models: schema %q must be a lower-case SQL identifier", schema)
	}
	cfg, err := pgx.ParseConfig(u.String())
	if err != nil {
		return nil, fmt.Errorf("read models: %s: %w", redact(rawURL), err)
	}
	// One round trip per statement without a statement cache: bulk statements vary in size.
	cfg.DefaultQueryExecMode = pgx.QueryExecModeExec
	admin, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("read models: connect: %w", err)
	}
	_, err = admin.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+schema)
	admin.Close(context.Background())
	if err != nil && !isDuplicate(err) {
		return nil, fmt.Errorf("read models: create schema %s: %w", schema, err)
	}
	cfg.RuntimeParams["search_path"] = schema
	pool := stdlib.OpenDB(*cfg)
	maxConns := opt.MaxConns
	if maxConns <= 0 {
		maxConns = 10
	}
	pool.SetMaxOpenConns(maxConns)
	pool.SetMaxIdleConns(maxConns)
	if err := pool.PingContext(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("read models: connect: %w", err)
	}
	return &DB{d: postgresDialect, write: pool, read: pool, schema: schema, pgCfg: cfg}, nil
}

func isDuplicate(err error) bool {
	s := err.Error()
	return strings.Contains(s, "SQLSTATE 23505") || strings.Contains(s, "SQLSTATE 42P06") || strings.Contains(s, "SQLSTATE 42P07")
}

// Close closes the database.
func (db *DB) Close() error {
	var err error
	db.once.Do(func() {
		err = db.write.Close()
		if db.read != db.write {
			err = errors.Join(err, db.read.Close())
		}
	})
	return err
}

// Dialect is the database's SQL dialect.
func (db *DB) Dialect() Dialect { return db.d }

// Schema is the PostgreSQL schema of the read models ("" for SQLite).
func (db *DB) Schema() string { return db.schema }

// SQL is the handle for reads (SQLite: read-only connections). Queries must name
// generation tables through a View.
func (db *DB) SQL() *sql.DB { return db.read }

// Dialect hides the few differences between SQLite and PostgreSQL. Statements use $1-style
// placeholders (both accept them), ON CONFLICT upserts and row-value comparisons.
type Dialect struct {
	name      string
	text      string // type of text key columns: byte order in both (COLLATE "C" in PostgreSQL)
	forUpdate string // row lock suffix of a SELECT in a write transaction
	maxParams int    // bind parameters per statement
}

var (
	sqliteDialect   = Dialect{name: "sqlite", text: "TEXT", maxParams: 30000}
	postgresDialect = Dialect{name: "postgres", text: `TEXT COLLATE "C"`, forUpdate: " FOR UPDATE", maxParams: 60000}
)

// Name is "sqlite" or "postgres".
func (d Dialect) Name() string { return d.name }

// IsPostgres reports the PostgreSQL dialect.
func (d Dialect) IsPostgres() bool { return d.name == "postgres" }

// rewrite resolves the tokens of a statement: {table} becomes the generation's table
// name (tables maps base names to it), {{text}} the dialect's key text type, and
// {{for_update}} its row-lock suffix.
func (d Dialect) rewrite(query string, tables map[string]string) (string, error) {
	if strings.IndexByte(query, '{') < 0 {
		return query, nil
	}
	var b strings.Builder
	b.Grow(len(query) + 32)
	for i := 0; i < len(query); {
		c := query[i]
		if c != '{' {
			b.WriteByte(c)
			i++
			continue
		}
		if strings.HasPrefix(query[i:], "{{") {
			end := strings.Index(query[i:], "}}")
			if end < 0 {
				return "", fmt.Errorf("unterminated {{ in %q", query)
			}
			switch tok := query[i+2 : i+end]; tok {
			case "text":
				b.WriteString(d.text)
			case "for_update":
				b.WriteString(d.forUpdate)
			default:
				return "", fmt.Errorf("unknown token {{%s}}", tok)
			}
			i += end + 2
			continue
		}
		end := strings.IndexByte(query[i:], '}')
		if end < 0 {
			return "", fmt.Errorf("unterminated { in %q", query)
		}
		name := query[i+1 : i+end]
		t, ok := tables[name]
		if !ok {
			return "", fmt.Errorf("statement names table {%s}, which is not one of the projection's tables", name)
		}
		b.WriteString(t)
		i += end + 1
	}
	return b.String(), nil
}

// generationTable is the name of a table of one generation.
func generationTable(base string, gen int64) string {
	return base + "_g" + strconv.FormatInt(gen, 10)
}

// placeholders appends "($n, $n+1, …)" for cols parameters starting at first; plain "?"
// in SQLite, where numbered and named parameters cost a linear lookup each.
func (d Dialect) placeholders(b *strings.Builder, first, cols int) {
	b.WriteByte('(')
	for c := 0; c < cols; c++ {
		if c > 0 {
			b.WriteByte(',')
		}
		if d.IsPostgres() {
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(first + c))
		} else {
			b.WriteByte('?')
		}
	}
	b.WriteByte(')')
}
