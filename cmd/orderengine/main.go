// Command orderengine is the one binary of the engine: serve, migrate, audit, bench.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// exitCode prints err in one line and maps it to the exit status: 0 on success, 2 for
// usage errors (bad flags, values, commands), 1 for runtime failures.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	// One line, whatever the error wraps.
	fmt.Fprintf(stderr, "orderengine: %s\n", strings.ReplaceAll(err.Error(), "\n", "; "))
	var u usageError
	if errors.As(err, &u) {
		return 2
	}
	return 1
}

// usageError marks bad command-line input (exit status 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// version is set at build time with -ldflags "-X main.version=..." (the Makefile and
// Dockerfile stamp it from git).
var version = "dev"

// runFunc is a command's entry point: its flags are args.
type runFunc func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error

// command is one (sub)command: name is its words after "orderengine".
type command struct {
	name    string
	summary string
	run     runFunc
}

// commandTable is every command, in the order the help lists them.
func commandTable() []command {
	return []command{
		{"serve", "run the HTTP server (default :8080)", runServe},
		{"migrate", "create or upgrade the storage schemas and exit", runMigrate},
		{"seed", "create a demo catalog with stock (with a progress bar)", runSeed},
		{"token", "print a development JWT (HS256) signed with the configured secret", runToken},
		{"projections list", "list the read models with their generation and checkpoint", projectionsCommand("list")},
		{"projections status", "show each read model's state, lag and failure", projectionsCommand("status")},
		{"projections run", "run the projection workers (for serve --projections=off)", projectionsCommand("run")},
		{"projections rebuild", "rebuild a read model blue/green: projections rebuild NAME", projectionsCommand("rebuild")},
		{"projections reset", "empty a read model (a running server rebuilds it): projections reset NAME", projectionsCommand("reset")},
		{"audit verify", "recompute the events' hash chains and report the first broken link", runAuditVerify},
		{"customers erase", "erase a customer's personal data: customers erase ID (destroys their data key)", runCustomersErase},
		{"bench eventstore", "benchmark an event store", runBenchEventStore},
		{"bench checkout", "benchmark checkouts over the HTTP command API (load generator + server)", runBenchCheckout},
		{"bench projections", "rebuild the orders and catalog read models from a generated log", runBenchProjections},
		{"bench read", "catalog, product, search and order-history reads at fixed concurrency", runBenchRead},
		{"healthcheck", "probe a running server's /healthz (for container health checks)", runHealthcheck},
		{"version", "print the version", runVersion},
		{"help", "print this help, or a command's: help COMMAND", nil},
	}
}

// topUsage is the top-level help.
func topUsage() string {
	var b strings.Builder
	b.WriteString("orderengine — an event-sourced CQRS order engine\n\nUsage:\n  orderengine <command> [flags]\n\nCommands:\n")
	for _, c := range commandTable() {
		fmt.Fprintf(&b, "  %-22s%s\n", c.name, c.summary)
	}
	b.WriteString("\nRun 'orderengine <command> --help' (or 'orderengine help <command>') for a command's flags.\n" +
		"Every flag can also be set by its ORDERENGINE_* environment variable; flags win.\n")
	return b.String()
}

// groupUsage lists the subcommands of a group ("bench", "projections", "audit").
func groupUsage(group string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: orderengine %s <command> [flags]\n\nCommands:\n", group)
	for _, c := range commandTable() {
		if strings.HasPrefix(c.name, group+" ") {
			fmt.Fprintf(&b, "  %-22s%s\n", c.name, c.summary)
		}
	}
	fmt.Fprintf(&b, "\nRun 'orderengine %s <command> --help' for a command's flags.\n", group)
	return b.String()
}

// lookup finds the command args name: the longest command name that prefixes args. A
// group name alone ("bench") returns group.
func lookup(args []string) (c command, rest []string, group string) {
	best := -1
	for _, cmd := range commandTable() {
		words := strings.Fields(cmd.name)
		if len(words) <= len(args) && strings.Join(args[:len(words)], " ") == cmd.name && len(words) > best {
			c, rest, best = cmd, args[len(words):], len(words)
		}
	}
	if best < 0 && len(args) > 0 {
		for _, cmd := range commandTable() {
			if strings.HasPrefix(cmd.name, args[0]+" ") {
				return command{}, args[1:], args[0]
			}
		}
	}
	return c, rest, ""
}

func isHelp(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help" || arg == "help"
}

// run is the whole program, reused by end-to-end tests.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if err := dispatch(ctx, args, getenv, stdout, stderr); !errors.Is(err, errHelp) {
		return err
	}
	return nil
}

func dispatch(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("no command given (orderengine help lists the commands)")
	}
	if isHelp(args[0]) || args[0] == "--version" {
		if args[0] == "--version" {
			return runVersion(ctx, nil, getenv, stdout, stderr)
		}
		if len(args) == 1 {
			fmt.Fprint(stdout, topUsage())
			return nil
		}
		// help CMD: the command's own --help.
		return dispatch(ctx, append(append([]string{}, args[1:]...), "--help"), getenv, stdout, stderr)
	}
	c, rest, group := lookup(args)
	switch {
	case group != "" && (len(rest) == 0 || !isHelp(rest[0])):
		if len(rest) == 0 {
			return usagef("%s needs a command: %s (orderengine %s --help)", group, strings.Join(groupCommands(group), ", "), group)
		}
		return usagef("unknown command %q (orderengine %s --help lists them)", group+" "+rest[0], group)
	case group != "":
		fmt.Fprint(stdout, groupUsage(group))
		return nil
	case c.run == nil:
		return usagef("unknown command %q (orderengine help lists the commands)", args[0])
	}
	return c.run(ctx, rest, getenv, stdout, stderr)
}

// groupCommands are the subcommand words of a group.
func groupCommands(group string) []string {
	var out []string
	for _, c := range commandTable() {
		if sub, ok := strings.CutPrefix(c.name, group+" "); ok {
			out = append(out, sub)
		}
	}
	return out
}

func runVersion(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", "version", getenv, stdout)
	if err := fs.parse(args); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "orderengine", version)
	return nil
}
