package main

import (
	"context"
	"fmt"
	"io"
)

func runMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var (
		c  Config
		rf readModelFlags
	)
	fs := newFlagSet("migrate", "migrate [flags]", getenv, stdout)
	commonFlags(fs, &c)
	rf.register(fs)
	if err := fs.parse(args); err != nil {
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
	db, err := openReadModels(ctx, c, rf)
	if err != nil {
		return fmt.Errorf("migrate read models: %w", err)
	}
	defer db.Close()
	fmt.Fprintf(stdout, "read models %s: schema ready (projection tables are created by their runners)\n", redactURL(rf.url))
	return nil
}
