package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/orderengine/orderengine/eventstore"
)

// errAuditFailed makes `audit verify` exit non-zero when a chain is broken.
var errAuditFailed = errors.New("audit failed: the event history has been altered")

func runAuditVerify(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var (
		c      Config
		stream string
	)
	fs := newFlagSet("audit verify", "audit verify [--stream S] [flags]", getenv, stdout)
	commonFlags(fs, &c)
	fs.StringVar(&stream, "stream", "", "verify only this stream (default: every stream)")
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := c.Validate(); err != nil {
		return usagef("%v", err)
	}
	if stream != "" {
		if err := eventstore.ValidateStreamName(stream); err != nil {
			return usagef("--stream: %v", err)
		}
	}
	store, err := openEventStore(ctx, c, newLogger(c, io.Discard))
	if err != nil {
		return fmt.Errorf("open event store %s: %w", redactURL(c.Events), err)
	}
	defer store.Close()

	start := time.Now()
	last := start
	rep, err := eventstore.VerifyChains(ctx, store, stream, func(n int) {
		if time.Since(last) > time.Second {
			last = time.Now()
			fmt.Fprintf(stderr, "\rverified %d events…", n)
		}
	})
	if err != nil {
		return err
	}
	if rep.Broken != nil {
		fmt.Fprintf(stdout, "BROKEN %s\nfirst broken link: stream %s, version %d (%d events in %d streams verified before it)\n",
			rep.Broken, rep.Broken.Stream, rep.Broken.Version, rep.Events, rep.Streams)
		return errAuditFailed
	}
	fmt.Fprintf(stdout, "OK: %d events in %d streams verified in %s\n", rep.Events, rep.Streams, time.Since(start).Round(time.Millisecond))
	return nil
}
