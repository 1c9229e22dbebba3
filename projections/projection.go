// Package projections is the projection engine: it turns the ordered event log into
// whatever a Sink keeps, and holds the SQL sink for read models.
//
// The engine. A Runner subscribes to the log from a sink's checkpoint, decodes ahead,
// applies batches (Sink.Apply moves data and checkpoint together), drops redelivered
// events, retries with backoff and stops in a failed state naming the event, moves the
// checkpoint past events the sink does not consume, and reports status and lag.
// RebuildSink builds a new generation of a Generations sink from position 0 while the
// live one serves, then lets the sink compare and switch. WaitFor is the polling behind
// minPosition reads. Sinks: SQL read models (DB.Sink), the SQL search tables (a
// Projection too), Elasticsearch (search/elastic), and outgoing webhooks (planned): a
// Sink without generations that delivers a batch over HTTP and then stores the
// endpoint's checkpoint, reporting 5xx answers as transient (Transient(error) bool) and
// a rejected event with Failed.
//
// The SQL sink. A Projection declares its tables and applies batches of decoded events
// inside a transaction that also moves the checkpoint (exactly-once effect under
// redelivery and restarts). One runner per projection holds a lease (PostgreSQL
// advisory lock; in SQLite the process owns it). Rebuild builds a new generation of the
// tables from position 0 while the live one serves, then switches.
//
// The read models themselves (catalog, orders, inventory) and their queries live in
// projections/readmodel.
package projections

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/envelope"
	"github.com/orderengine/orderengine/eventstore"
)

// Projection builds one read model.
type Projection interface {
	// Name is stable and unique: lower case letters, digits and '_'.
	Name() string
	// Version is the schema version of the tables; a live generation of another version
	// is reported by the runner and replaced by a rebuild.
	Version() int
	// Filter selects the events the projection consumes.
	Filter() eventstore.Filter
	// Tables are created for every generation.
	Tables() []Table
	// Apply applies a batch of events, in log order, through tx. Events are never
	// repeated and never skipped; the batch boundaries carry no meaning (applying a log in
	// any batches must give the same rows). Rows must depend on the events only (no clock).
	Apply(ctx context.Context, tx *Tx, batch []Event) error
}

// Table is one table of a projection. Statements name it {Name}; each generation gets
// its own copy, Name_g<generation>.
type Table struct {
	Name string
	// DDL creates the table and its indexes: statements naming tables as {name} and using
	// {{text}} for text columns that are sorted or compared (byte order in both dialects).
	DDL []string
	// Key lists the primary key columns: the order of the content hash.
	Key []string
}

// Event is a stored event decoded into its domain event and metadata.
type Event struct {
	eventstore.RecordedEvent
	Data     domain.Event
	Metadata envelope.Metadata
	// decodeErr is set when the stored event could not be decoded.
	decodeErr error
}

// EventError attributes an Apply error to one event, for the failed state.
type EventError struct {
	Position uint64
	Err      error
}

func (e *EventError) Error() string {
	return fmt.Sprintf("event at position %d: %v", e.Position, e.Err)
}
func (e *EventError) Unwrap() error { return e.Err }

// Failed wraps err as the failure of event e.
func Failed(e Event, err error) error { return &EventError{Position: e.Position, Err: err} }

func decodeEvent(reg *domain.Registry, rec eventstore.RecordedEvent) Event {
	d, md, err := envelope.Decode(reg, rec)
	return Event{RecordedEvent: rec, Data: d, Metadata: md, decodeErr: err}
}

var projectionName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,40}$`)

func validate(p Projection) error {
	if !projectionName.MatchString(p.Name()) {
		return fmt.Errorf("projection name %q must be lower-case letters, digits and '_'", p.Name())
	}
	seen := map[string]bool{}
	for _, t := range p.Tables() {
		if !projectionName.MatchString(t.Name) || seen[t.Name] || len(t.Key) == 0 {
			return fmt.Errorf("projection %s: table %q needs a unique lower-case name and a key", p.Name(), t.Name)
		}
		seen[t.Name] = true
	}
	return nil
}

func tableMap(p Projection, gen int64) map[string]string {
	m := map[string]string{}
	for _, t := range p.Tables() {
		m[t.Name] = generationTable(t.Name, gen)
	}
	return m
}

// querier is what *sql.Tx, *sql.DB and *sql.Conn have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Tx is a projection's write transaction on one generation of its tables. Statements
// name tables as {name} and use $1-style placeholders.
type Tx struct {
	q      querier
	d      Dialect
	gen    int64
	tables map[string]string
}

// Dialect of the database.
func (t *Tx) Dialect() Dialect { return t.d }

// Generation whose tables the transaction writes.
func (t *Tx) Generation() int64 { return t.gen }

// Table is the concrete name of table name in this generation.
func (t *Tx) Table(name string) string {
	if n, ok := t.tables[name]; ok {
		return n
	}
	panic(fmt.Sprintf("projections: unknown table %q", name))
}

// Exec runs a statement.
func (t *Tx) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	q, err := t.d.rewrite(query, t.tables)
	if err != nil {
		return nil, err
	}
	return t.q.ExecContext(ctx, q, args...)
}

// Query runs a query.
func (t *Tx) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	q, err := t.d.rewrite(query, t.tables)
	if err != nil {
		return nil, err
	}
	return t.q.QueryContext(ctx, q, args...)
}

// QueryIn runs query once per chunk of keys, with "{in}" replaced by the chunk's
// placeholders (e.g. "SELECT … FROM {orders} WHERE order_id IN {in}"), and calls scan
// for every row. The keys are the query's only parameters.
func (t *Tx) QueryIn(ctx context.Context, query string, keys []any, scan func(*sql.Rows) error) error {
	before, after, ok := strings.Cut(query, "{in}")
	if !ok {
		return errors.New("QueryIn: query has no {in}")
	}
	for len(keys) > 0 {
		n := min(len(keys), 1000)
		var b strings.Builder
		b.WriteString(before)
		t.d.placeholders(&b, 1, n)
		b.WriteString(after)
		rows, err := t.Query(ctx, b.String(), keys[:n]...)
		if err != nil {
			return err
		}
		for rows.Next() {
			if err := scan(rows); err != nil {
				rows.Close()
				return err
			}
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return err
		}
		keys = keys[n:]
	}
	return nil
}

// DeleteIn deletes the rows of table whose column is one of keys.
func (t *Tx) DeleteIn(ctx context.Context, table, column string, keys []any) error {
	for len(keys) > 0 {
		n := min(len(keys), 1000)
		var b strings.Builder
		b.WriteString("DELETE FROM ")
		b.WriteString(t.Table(table))
		b.WriteString(" WHERE ")
		b.WriteString(column)
		b.WriteString(" IN ")
		t.d.placeholders(&b, 1, n)
		if _, err := t.q.ExecContext(ctx, b.String(), keys[:n]...); err != nil {
			return fmt.Errorf("delete from %s: %w", table, err)
		}
		keys = keys[n:]
	}
	return nil
}

// Upsert inserts rows into table, replacing the rows whose first keyCols columns match.
// keyCols 0 is a plain insert. Rows are sent in multi-row statements.
func (t *Tx) Upsert(ctx context.Context, table string, cols []string, keyCols int, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	name := t.Table(table)
	var suffix strings.Builder
	if keyCols > 0 {
		suffix.WriteString(" ON CONFLICT (")
		suffix.WriteString(strings.Join(cols[:keyCols], ","))
		suffix.WriteString(")")
		if keyCols == len(cols) {
			suffix.WriteString(" DO NOTHING")
		} else {
			suffix.WriteString(" DO UPDATE SET ")
			for i, c := range cols[keyCols:] {
				if i > 0 {
					suffix.WriteByte(',')
				}
				suffix.WriteString(c + "=excluded." + c)
			}
		}
	}
	per := max(1, min(1000, t.d.maxParams/len(cols)))
	args := make([]any, 0, per*len(cols))
	for len(rows) > 0 {
		n := min(len(rows), per)
		var b strings.Builder
		b.Grow(64 + n*len(cols)*6)
		b.WriteString("INSERT INTO ")
		b.WriteString(name)
		b.WriteString(" (")
		b.WriteString(strings.Join(cols, ","))
		b.WriteString(") VALUES ")
		args = args[:0]
		for i, r := range rows[:n] {
			if len(r) != len(cols) {
				return fmt.Errorf("upsert into %s: row has %d values for %d columns", table, len(r), len(cols))
			}
			if i > 0 {
				b.WriteByte(',')
			}
			t.d.placeholders(&b, len(args)+1, len(cols))
			args = append(args, r...)
		}
		b.WriteString(suffix.String())
		if _, err := t.q.ExecContext(ctx, b.String(), args...); err != nil {
			return fmt.Errorf("upsert into %s: %w", table, err)
		}
		rows = rows[n:]
	}
	return nil
}
