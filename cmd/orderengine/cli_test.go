package main

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
)

// cliRun runs the program as main does: the exit status and what it printed.
func cliRun(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, env("ORDERENGINE_DATA_DIR", t.TempDir()), &out, &errOut)
	code = exitCode(err, &errOut)
	return code, out.String(), errOut.String()
}

// TestHelpConvention: -h, --help and help CMD print the command's help to stdout and
// exit 0, for every command and group.
func TestHelpConvention(t *testing.T) {
	for _, c := range commandTable() {
		if c.name == "help" {
			continue
		}
		words := strings.Fields(c.name)
		for _, args := range [][]string{
			append(append([]string{}, words...), "--help"),
			append(append([]string{}, words...), "-h"),
			append([]string{"help"}, words...),
		} {
			code, out, errOut := cliRun(t, args...)
			if code != 0 || errOut != "" || !strings.HasPrefix(out, "Usage: orderengine "+c.name) {
				t.Errorf("%q: exit %d, stderr %q, stdout %q", args, code, errOut, out)
			}
		}
	}
	for _, group := range []string{"projections", "bench", "audit"} {
		for _, args := range [][]string{{group, "--help"}, {group, "-h"}, {"help", group}} {
			code, out, errOut := cliRun(t, args...)
			if code != 0 || errOut != "" || !strings.HasPrefix(out, "Usage: orderengine "+group+" <command>") {
				t.Errorf("%q: exit %d, stderr %q, stdout %q", args, code, errOut, out)
			}
			for _, sub := range groupCommands(group) {
				if !strings.Contains(out, group+" "+sub) {
					t.Errorf("%q does not list %s %s:\n%s", args, group, sub, out)
				}
			}
		}
	}
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}} {
		code, out, errOut := cliRun(t, args...)
		if code != 0 || errOut != "" {
			t.Errorf("%q: exit %d, stderr %q", args, code, errOut)
		}
		for _, c := range commandTable() {
			if !strings.Contains(out, "\n  "+c.name+" ") {
				t.Errorf("%q does not list %q", args, c.name)
			}
		}
	}
	// A backquote in a usage string would become the argument name in the flag list.
	_, out, _ := cliRun(t, "serve", "--help")
	if strings.Contains(out, "-projections orderengine") || !strings.Contains(out, "-projections string") {
		t.Errorf("serve --help mangles --projections:\n%s", out)
	}
}

// TestExitCodes: usage errors exit 2 and runtime failures 1, each with one line on
// stderr and nothing on stdout.
func TestExitCodes(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	closed := freeAddr(t)
	cases := []struct {
		args []string
		code int
		want string // in the message
	}{
		{nil, 2, "no command"},
		{[]string{"frobnicate"}, 2, "unknown command"},
		{[]string{"bench"}, 2, "bench needs a command"},
		{[]string{"bench", "nope"}, 2, "unknown command"},
		{[]string{"projections", "frob"}, 2, "unknown command"},
		{[]string{"projections", "rebuild"}, 2, "NAME"},
		{[]string{"projections", "rebuild", "nope"}, 2, "unknown projection"},
		{[]string{"serve", "--bogus"}, 2, "unknown flag --bogus"},
		{[]string{"serve", "extra"}, 2, "unexpected argument"},
		{[]string{"serve", "--bus", "kafka://x"}, 2, "--bus"},
		{[]string{"serve", "--addr", "notaport"}, 2, "--addr"},
		{[]string{"serve", "--addr", ":99999"}, 2, "--addr"},
		{[]string{"serve", "--order-wait", "5"}, 2, "not a duration"},
		{[]string{"serve", "--low-stock-threshold", "-3"}, 2, "--low-stock-threshold"},
		{[]string{"serve", "--payment-webhook-secret", "weak"}, 2, "--payment-webhook-secret"},
		{[]string{"serve", "--reservation-ttl", "0s"}, 2, "--reservation-ttl"},
		{[]string{"serve", "--max-event-size", "0"}, 2, "--max-event-size"},
		{[]string{"serve", "--shutdown-timeout", "-1s"}, 2, "--shutdown-timeout"},
		{[]string{"serve", "--projections", "maybe"}, 2, "--projections"},
		{[]string{"serve", "--search", "redis://x"}, 2, "--search"},
		{[]string{"serve", "--events", "mysql://x"}, 2, "--events"},
		{[]string{"serve", "--log-level", "loud"}, 2, "--log-level"},
		{[]string{"serve", "--max-event-size", "big"}, 2, "not an integer"},
		{[]string{"seed", "--products", "0"}, 2, "--products"},
		{[]string{"seed", "--products", "-5"}, 2, "--products"},
		{[]string{"token"}, 2, "--sub"},
		{[]string{"token", "--sub", "x", "--ttl", "-1h"}, 2, "--ttl"},
		{[]string{"audit", "verify", "--stream", "not a stream"}, 2, "--stream"},
		{[]string{"bench", "read", "--concurrency", "0"}, 2, "--concurrency"},
		{[]string{"bench", "read", "--orders", "-1"}, 2, "--orders"},
		{[]string{"bench", "projections", "--order-events", "0"}, 2, "--order-events"},
		{[]string{"bench", "checkout", "--max-lines", "300"}, 2, "lines"},
		{[]string{"bench", "checkout", "--bus", "kafka://x"}, 2, "--bus"},
		{[]string{"bench", "checkout", "--concurrency", "-2"}, 2, "--concurrency"},
		{[]string{"bench", "checkout", "--order-wait", "1h"}, 2, "--order-wait"},
		{[]string{"token", "--sub", "x", "--ttl", "10000h"}, 2, "--ttl"},
		{[]string{"bench", "eventstore", "--writers", "-1"}, 2, "writers"},
		{[]string{"version", "extra"}, 2, "unexpected argument"},
		{[]string{"serve", "--addr", busy.Addr().String()}, 1, "cannot listen on"},
		{[]string{"healthcheck", "--addr", closed}, 1, "healthcheck"},
	}
	for _, c := range cases {
		code, out, errOut := cliRun(t, c.args...)
		if code != c.code || out != "" || strings.Count(errOut, "\n") != 1 || !strings.HasPrefix(errOut, "orderengine: ") || !strings.Contains(errOut, c.want) {
			t.Errorf("%q: exit %d (want %d), stdout %q, stderr %q (want one line with %q)", c.args, code, c.code, out, errOut, c.want)
		}
	}
}
