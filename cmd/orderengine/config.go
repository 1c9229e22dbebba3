package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// Config is everything the engine is configured with. Each field has a flag and an
// ORDERENGINE_* environment variable; flags win over the environment.
type Config struct {
	// Addr is the HTTP listen address (serve).
	Addr string
	// DataDir holds the embedded tier's files (events.db, …).
	DataDir string
	// Events is the event store URL: "sqlite:" (a file in DataDir), "sqlite:PATH",
	// "postgres://…" or "kurrentdb://…" / "esdb://…".
	Events string
	// EventsSchema is the PostgreSQL schema of the event store (default "orderengine");
	// benchmarks set a fresh one. Not a flag.
	EventsSchema string
	// MaxEventSize is the largest event (data + metadata) accepted, in bytes.
	MaxEventSize int
	// LogLevel is debug, info, warn or error.
	LogLevel string
	// ShutdownTimeout bounds how long in-flight requests may take to finish on SIGTERM.
	ShutdownTimeout time.Duration
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.Addr == "" {
		errs = append(errs, errors.New("--addr must not be empty"))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("--data-dir must not be empty"))
	}
	if _, _, err := parseStoreURL(c.Events); err != nil {
		errs = append(errs, fmt.Errorf("--events: %w", err))
	}
	if c.MaxEventSize <= 0 {
		errs = append(errs, errors.New("--max-event-size must be positive"))
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		errs = append(errs, err)
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("--shutdown-timeout must be positive"))
	}
	return errors.Join(errs...)
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return l, fmt.Errorf("--log-level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

// flagSet builds a subcommand's flag set whose defaults come from the environment.
type flagSet struct {
	*flag.FlagSet
	getenv func(string) string
	errs   []error
}

func newFlagSet(name, usage string, getenv func(string) string, stderr io.Writer) *flagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: orderengine %s\n\nFlags (environment variable in brackets):\n", usage)
		fs.PrintDefaults()
	}
	return &flagSet{FlagSet: fs, getenv: getenv}
}

func (f *flagSet) env(name string) (string, bool) {
	v := f.getenv(name)
	return v, v != ""
}

func (f *flagSet) stringVar(p *string, name, env, def, usage string) {
	if v, ok := f.env(env); ok {
		def = v
	}
	f.StringVar(p, name, def, usage+" ["+env+"]")
}

func (f *flagSet) intVar(p *int, name, env string, def int, usage string) {
	if v, ok := f.env(env); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			f.errs = append(f.errs, fmt.Errorf("%s=%q: not an integer", env, v))
		} else {
			def = n
		}
	}
	f.IntVar(p, name, def, usage+" ["+env+"]")
}

func (f *flagSet) durationVar(p *time.Duration, name, env string, def time.Duration, usage string) {
	if v, ok := f.env(env); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			f.errs = append(f.errs, fmt.Errorf("%s=%q: not a duration", env, v))
		} else {
			def = d
		}
	}
	f.DurationVar(p, name, def, usage+" ["+env+"]")
}

// parse parses args; --help prints usage and returns errHelp.
func (f *flagSet) parse(args []string) error {
	if err := f.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return usagef("%v", err)
	}
	if len(f.errs) > 0 {
		return usagef("%v", errors.Join(f.errs...))
	}
	if f.NArg() > 0 {
		return usagef("unexpected argument %q", f.Arg(0))
	}
	return nil
}

// errHelp ends a command successfully after --help.
var errHelp = errors.New("help requested")

// commonFlags registers the flags every store-using command shares.
func commonFlags(fs *flagSet, c *Config) {
	fs.stringVar(&c.DataDir, "data-dir", "ORDERENGINE_DATA_DIR", "./data", "directory for the embedded tier's files")
	fs.stringVar(&c.Events, "events", "ORDERENGINE_EVENTS", "sqlite:", "event store URL: sqlite: | sqlite:PATH | postgres://… | kurrentdb://…")
	fs.intVar(&c.MaxEventSize, "max-event-size", "ORDERENGINE_MAX_EVENT_SIZE", 1<<20, "largest event (data+metadata) accepted, bytes")
	fs.stringVar(&c.LogLevel, "log-level", "ORDERENGINE_LOG_LEVEL", "info", "log level: debug, info, warn, error")
	c.Addr = ":8080"
	c.ShutdownTimeout = 15 * time.Second
}

func newLogger(c Config, w io.Writer) *slog.Logger {
	level, _ := parseLevel(c.LogLevel)
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}

// redactURL hides a password in a store URL for logs.
func redactURL(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		rest := u[i+3:]
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if colon := strings.Index(rest[:at], ":"); colon >= 0 {
				return u[:i+3] + rest[:colon] + ":***" + rest[at:]
			}
		}
	}
	return u
}

// checkRange rejects a numeric flag outside lo–hi (exit 2).
func checkRange(name string, v, lo, hi int) error {
	if v < lo || v > hi {
		return usagef("%s %d: want %d–%d", name, v, lo, hi)
	}
	return nil
}
