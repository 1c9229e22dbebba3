package sqlsearch

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/orderengine/orderengine/projections/projectionstest"
)

// TestTrigramPermission: a role that may not create pg_trgm gets ErrNoTrigram, naming
// what to do.
func TestTrigramPermission(t *testing.T) {
	projectionstest.RequirePostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, projectionstest.PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "oetest_notrgm_" + hex.EncodeToString(b[:])
	for _, q := range []string{"CREATE DATABASE " + name, "CREATE ROLE " + name + " LOGIN"} {
		if _, err := admin.Exec(ctx, q); err != nil {
			t.Skipf("cannot prepare a database without pg_trgm (%v)", err)
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, projectionstest.PostgresURL())
		if err != nil {
			return
		}
		defer c.Close(ctx)
		_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		_, _ = c.Exec(ctx, "DROP ROLE IF EXISTS "+name)
	})
	u, err := url.Parse(projectionstest.PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(name)
	u.Path = "/" + name
	cfg, err := pgx.ParseConfig(u.String())
	if err != nil {
		t.Fatal(err)
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	if err := db.PingContext(ctx); err != nil {
		t.Skipf("cannot connect as the restricted role (%v)", err)
	}
	_, err = ensureTrigram(ctx, db, "")
	if !errors.Is(err, ErrNoTrigram) || !strings.Contains(err.Error(), "CREATE EXTENSION pg_trgm") ||
		!strings.Contains(err.Error(), "permission denied") {
		t.Errorf("restricted role: %v, want ErrNoTrigram with the cause", err)
	}
	t.Log(err)
}
