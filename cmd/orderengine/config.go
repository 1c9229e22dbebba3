package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"regexp"
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
	// MasterKey (hex or base64 of 32 bytes) or MasterKeyFile wraps the per-customer
	// data keys of crypto-shredding (see masterKey).
	MasterKey, MasterKeyFile string
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if err := checkAddr(c.Addr); err != nil {
		errs = append(errs, err)
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("--data-dir must not be empty"))
	}
	if _, _, err := parseStoreURL(c.Events); err != nil {
		errs = append(errs, fmt.Errorf("--events: %w", err))
	}
	if c.MaxEventSize < 1024 || c.MaxEventSize > 64<<20 {
		errs = append(errs, fmt.Errorf("--max-event-size %d: want 1024–%d bytes", c.MaxEventSize, 64<<20))
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		errs = append(errs, err)
	}
	if c.ShutdownTimeout <= 0 || c.ShutdownTimeout > time.Hour {
		errs = append(errs, fmt.Errorf("--shutdown-timeout %s: want more than 0 and at most 1h", c.ShutdownTimeout))
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
// --help prints the usage to the help writer (stdout); errors are returned, never
// printed with the whole flag list.
type flagSet struct {
	*flag.FlagSet
	getenv func(string) string
	errs   []error
	help   io.Writer
	usage  string
}

func newFlagSet(name, usage string, getenv func(string) string, help io.Writer) *flagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := &flagSet{FlagSet: fs, getenv: getenv, help: help, usage: usage}
	fs.Usage = func() {}
	return f
}

// printHelp writes the command's usage and flags.
func (f *flagSet) printHelp() {
	fmt.Fprintf(f.help, "Usage: orderengine %s\n", f.usage)
	n := 0
	f.VisitAll(func(*flag.Flag) { n++ })
	if n == 0 {
		return
	}
	fmt.Fprint(f.help, "\nFlags (environment variable in brackets):\n")
	f.SetOutput(f.help)
	f.PrintDefaults()
	f.SetOutput(io.Discard)
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
			f.errs = append(f.errs, fmt.Errorf("%s=%q: not a duration (want e.g. 5s, 500ms, 2m)", env, v))
		} else {
			def = d
		}
	}
	f.DurationVar(p, name, def, usage+" ["+env+"]")
}

// parse parses args; -h/--help prints the help and returns errHelp.
func (f *flagSet) parse(args []string) error {
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "-h" || a == "-help" || a == "--help" {
			f.printHelp()
			return errHelp
		}
	}
	if err := f.Parse(args); err != nil {
		return f.flagError(err)
	}
	if len(f.errs) > 0 {
		return usagef("%v", errors.Join(f.errs...))
	}
	if f.NArg() > 0 {
		return usagef("unexpected argument %q (orderengine %s --help)", f.Arg(0), f.Name())
	}
	return nil
}

var (
	reUnknownFlag = regexp.MustCompile(`^flag provided but not defined: -+(.*)$`)
	reBadValue    = regexp.MustCompile(`^invalid (?:boolean )?value "(.*)" for flag -+([^:]*): (.*)$`)
)

// flagError turns the flag package's message into one helpful line.
func (f *flagSet) flagError(err error) error {
	msg := err.Error()
	if m := reUnknownFlag.FindStringSubmatch(msg); m != nil {
		return usagef("unknown flag --%s (orderengine %s --help lists the flags)", m[1], f.Name())
	}
	if m := reBadValue.FindStringSubmatch(msg); m != nil {
		want := m[3]
		if fl := f.Lookup(m[2]); fl != nil {
			if g, ok := fl.Value.(flag.Getter); ok {
				switch g.Get().(type) {
				case time.Duration:
					want = "not a duration (want a number with a unit, e.g. 5s, 500ms, 2m)"
				case int, int64, uint, uint64:
					want = "not an integer"
				case bool:
					want = "want true or false"
				}
			}
		}
		return usagef("--%s %q: %s", m[2], m[1], want)
	}
	return usagef("%s (orderengine %s --help)", msg, f.Name())
}

// errHelp ends a command successfully after --help.
var errHelp = errors.New("help requested")

// commonFlags registers the flags every store-using command shares.
func commonFlags(fs *flagSet, c *Config) {
	fs.stringVar(&c.DataDir, "data-dir", "ORDERENGINE_DATA_DIR", "./data", "directory for the embedded tier's files")
	fs.stringVar(&c.Events, "events", "ORDERENGINE_EVENTS", "sqlite:", "event store URL: sqlite: | sqlite:PATH | postgres://… | kurrentdb://…")
	fs.intVar(&c.MaxEventSize, "max-event-size", "ORDERENGINE_MAX_EVENT_SIZE", 1<<20, "largest event (data+metadata) accepted, bytes")
	fs.stringVar(&c.LogLevel, "log-level", "ORDERENGINE_LOG_LEVEL", "info", "log level: debug, info, warn, error")
	fs.stringVar(&c.MasterKey, "master-key", "ORDERENGINE_MASTER_KEY", "", "master key wrapping the customers' data keys: 32 bytes as 64 hex digits or base64 (the embedded tier generates one in the data dir when unset)")
	fs.stringVar(&c.MasterKeyFile, "master-key-file", "ORDERENGINE_MASTER_KEY_FILE", "", "file holding the master key, created with a random one when missing (--master-key wins)")
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

// checkAddr accepts a listen address HOST:PORT or :PORT with a numeric port.
func checkAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err == nil {
		var n int
		n, err = strconv.Atoi(port)
		if err == nil && (n < 0 || n > 65535) {
			err = errors.New("port out of range")
		}
	}
	if err != nil {
		return fmt.Errorf("--addr %q: want HOST:PORT or :PORT, e.g. :8080 or 127.0.0.1:8080", addr)
	}
	return nil
}
