package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// runCustomersErase: `orderengine customers erase ID` destroys the customer's data key
// and records customer.erased, as POST /v1/customers/{id}/erasure does.
func runCustomersErase(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var c Config
	fs := newFlagSet("customers erase", "customers erase CUSTOMER_ID [flags]", getenv, stdout)
	commonFlags(fs, &c)
	var id string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		id, args = args[0], args[1:]
	}
	if err := fs.parse(args); err != nil {
		if errors.Is(err, errHelp) {
			return nil
		}
		return err
	}
	if id == "" {
		return usagef("usage: orderengine customers erase CUSTOMER_ID [flags]")
	}
	if err := c.Validate(); err != nil {
		return usagef("%v", err)
	}
	log := newLogger(c, stderr)
	raw, err := openEventStore(ctx, c, log)
	if err != nil {
		return fmt.Errorf("open event store %s: %w", redactURL(c.Events), err)
	}
	defer raw.Close()
	store, err := sealedStore(ctx, c, raw, log)
	if err != nil {
		return err
	}
	res, err := store.Erase(ctx, id, "system:cli", time.Now())
	if err != nil {
		return err
	}
	if res.AlreadyErased {
		fmt.Fprintf(stdout, "customer %s was already erased (record at position %d)\n", res.CustomerID, res.Position)
		return nil
	}
	fmt.Fprintf(stdout, "customer %s erased: data key destroyed, customer.erased at position %d\n", res.CustomerID, res.Position)
	return nil
}
