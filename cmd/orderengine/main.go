// Command orderengine is the one binary of the engine: serve, migrate, audit, bench.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		var u usageError
		if errors.As(err, &u) {
			fmt.Fprintf(os.Stderr, "orderengine: %v\n", err)
			os.Exit(2)
		}
		fmt.Fprintf(os.Stderr, "orderengine: %v\n", err)
		os.Exit(1)
	}
}

// usageError marks bad command-line input (exit status 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

const topUsage = `orderengine — an event-sourced CQRS order engine

Usage:
  orderengine <command> [flags]

Commands:
  serve                 run the HTTP server (default :8080)
  migrate               create or upgrade the storage schemas and exit
  audit verify          recompute the events' hash chains and report the first broken link
  bench eventstore      benchmark an event store
  bench read            catalog, product, search and order-history reads at fixed concurrency
  bench projections     rebuild the orders and catalog read models from a generated log
  bench checkout        benchmark checkouts over the HTTP command API (load generator + server)
  seed                  create a demo catalog with stock (with a progress bar)
  projections           list|status|rebuild NAME|reset NAME the read models
  token                 print a development JWT (HS256) signed with the configured secret
  healthcheck           probe a running server's /healthz (for container health checks)
  version               print the version

Run 'orderengine <command> --help' for a command's flags. Every flag can also be set by
its ORDERENGINE_* environment variable; flags win.
`

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// run is the whole program, reused by end-to-end tests.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if err := dispatch(ctx, args, getenv, stdout, stderr); !errors.Is(err, errHelp) {
		return err
	}
	return nil
}

func dispatch(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, topUsage)
		return usagef("no command given")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return runServe(ctx, rest, getenv, stdout, stderr)
	case "migrate":
		return runMigrate(ctx, rest, getenv, stdout, stderr)
	case "audit":
		if len(rest) == 0 || rest[0] != "verify" {
			return usagef("usage: orderengine audit verify [--stream S] [flags]")
		}
		return runAuditVerify(ctx, rest[1:], getenv, stdout, stderr)
	case "bench":
		switch {
		case len(rest) > 0 && rest[0] == "eventstore":
			return runBenchEventStore(ctx, rest[1:], getenv, stdout, stderr)
		case len(rest) > 0 && rest[0] == "read":
			return runBenchRead(ctx, rest[1:], getenv, stdout, stderr)
		case len(rest) > 0 && rest[0] == "projections":
			return runBenchProjections(ctx, rest[1:], getenv, stdout, stderr)
		case len(rest) > 0 && rest[0] == "checkout":
			return runBenchCheckout(ctx, rest[1:], getenv, stdout, stderr)
		}
		return usagef("usage: orderengine bench eventstore|checkout|projections|read [flags]")
	case "seed":
		return runSeed(ctx, rest, getenv, stdout, stderr)
	case "projections":
		return runProjections(ctx, rest, getenv, stdout, stderr)
	case "token":
		return runToken(ctx, rest, getenv, stdout, stderr)
	case "healthcheck":
		return runHealthcheck(ctx, rest, getenv, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "orderengine", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, topUsage)
		return nil
	default:
		fmt.Fprint(stderr, topUsage)
		return usagef("unknown command %q", cmd)
	}
}
