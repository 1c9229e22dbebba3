package main

import (
	"context"
	"errors"
	"fmt"
	"io"
)

func runMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var c Config
	fs := newFlagSet("migrate", "migrate [flags]", getenv, stderr)
	commonFlags(fs, &c)
	if err := fs.parse(args); err != nil {
		if errors.Is(err, errHelp) {
			return nil
		}
		return err
	}
	if err := c.Validate(); err != nil {
		return usagef("%v", err)
	}
	// Opening a store creates or upgrades its schema.
	store, err := openEventStore(ctx, c, newLogger(c, stderr))
	if err != nil {
		return fmt.Errorf("migrate event store %s: %w", redactURL(c.Events), err)
	}
	defer store.Close()
	fmt.Fprintf(stdout, "event store %s: schema ready\n", redactURL(c.Events))
	return nil
}
