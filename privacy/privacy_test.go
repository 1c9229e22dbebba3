package privacy_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderengine/orderengine/eventstore/postgres"
	"github.com/orderengine/orderengine/eventstore/sqlite"
	"github.com/orderengine/orderengine/privacy"
)

func masterKey(t *testing.T) *privacy.MasterKey {
	t.Helper()
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	m, err := privacy.NewMasterKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// keyringContract: what every key table must do.
func keyringContract(t *testing.T, store privacy.KeyStore, wrap privacy.KeyWrapper) {
	ctx := context.Background()
	kr := privacy.NewKeyring(store, wrap, privacy.Options{})
	secret := []byte("Alice Liddell, Hauptstr. 1")
	sealed, err := kr.Seal(ctx, "alice", secret)
	if err != nil {
		t.Fatal(err)
	}
	if !privacy.IsSealed(sealed) || bytes.Contains([]byte(sealed), secret) {
		t.Fatalf("sealed %q", sealed)
	}
	// Another keyring (another process) opens it through the key table.
	other := privacy.NewKeyring(store, wrap, privacy.Options{CacheTTL: time.Millisecond})
	if got, err := other.Open(ctx, sealed); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("open: %q %v", got, err)
	}
	// A value sealed for alice does not open as bob's.
	if sub, err := privacy.Subject(sealed); err != nil || sub != "alice" {
		t.Fatalf("subject %q %v", sub, err)
	}
	bobs, _ := kr.Seal(ctx, "bob", []byte("x"))
	forged := sealed[:len("pd1.")] + bobs[len("pd1."):strings.Index(bobs[4:], ".")+4] + sealed[strings.Index(sealed[4:], ".")+4:]
	if _, err := other.Open(ctx, forged); err == nil {
		t.Fatal("alice's value opened as bob's")
	}
	// Concurrent first seals of one subject agree on one key.
	var wg sync.WaitGroup
	vals := make([]string, 16)
	for i := range vals {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := privacy.NewKeyring(store, wrap, privacy.Options{})
			vals[i], _ = k.Seal(ctx, "carol", []byte(fmt.Sprint(i)))
		}()
	}
	wg.Wait()
	for i, v := range vals {
		if got, err := other.Open(ctx, v); err != nil || string(got) != fmt.Sprint(i) {
			t.Fatalf("concurrent seal %d: %q %v", i, got, err)
		}
	}

	existed, err := kr.Erase(ctx, "alice")
	if err != nil || !existed {
		t.Fatalf("erase: %v %v", existed, err)
	}
	if _, err := kr.Open(ctx, sealed); !errors.Is(err, privacy.ErrErased) {
		t.Fatalf("open after erasure: %v", err)
	}
	time.Sleep(5 * time.Millisecond) // past the other keyring's cache
	if _, err := other.Open(ctx, sealed); !errors.Is(err, privacy.ErrErased) {
		t.Fatalf("another keyring after erasure: %v", err)
	}
	if _, err := other.Seal(ctx, "alice", secret); !errors.Is(err, privacy.ErrErased) {
		t.Fatalf("seal after erasure: %v", err)
	}
	if existed, err := kr.Erase(ctx, "alice"); err != nil || existed {
		t.Fatalf("second erase: %v %v", existed, err)
	}
	// carol is untouched.
	if _, err := other.Open(ctx, vals[0]); err != nil {
		t.Fatal(err)
	}
	// A wrong master key cannot open anything.
	if _, err := privacy.NewKeyring(store, masterKey(t), privacy.Options{}).Open(ctx, vals[0]); err == nil || errors.Is(err, privacy.ErrErased) {
		t.Fatalf("wrong master key: %v", err)
	}
}

func TestKeyringSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	st, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	keys, err := privacy.NewSQLiteKeys(context.Background(), st.DB())
	if err != nil {
		t.Fatal(err)
	}
	wrap := masterKey(t)
	// The wrapped key's bytes must leave the file and its WAL on erasure.
	w, err := keys.Create(context.Background(), "dave", mustWrap(t, wrap, "dave"))
	if err != nil {
		t.Fatal(err)
	}
	if !inFiles(t, path, w) {
		t.Fatal("fixture: the wrapped key is not in the database files")
	}
	if _, err := keys.Destroy(context.Background(), "dave"); err != nil {
		t.Fatal(err)
	}
	if inFiles(t, path, w) {
		t.Fatal("the destroyed key's bytes remain in the database file or its WAL")
	}
	keyringContract(t, keys, wrap)
}

func mustWrap(t *testing.T, w privacy.KeyWrapper, subject string) []byte {
	t.Helper()
	dk := make([]byte, 32)
	_, _ = rand.Read(dk)
	b, err := w.Wrap(context.Background(), subject, dk)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func inFiles(t *testing.T, path string, needle []byte) bool {
	t.Helper()
	for _, p := range []string{path, path + "-wal"} {
		b, err := os.ReadFile(p)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if bytes.Contains(b, needle) {
			return true
		}
	}
	return false
}

func postgresURL() string {
	if u := os.Getenv("ORDERENGINE_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

func TestKeyringPostgres(t *testing.T) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, postgresURL())
	if err == nil {
		err = pool.Ping(ctx)
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("PostgreSQL: %v", err)
		}
		t.Skipf("PostgreSQL not reachable: %v", err)
	}
	defer pool.Close()
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "oetest_" + hex.EncodeToString(b[:])
	defer pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
	st, err := postgres.Open(ctx, postgresURL(), postgres.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	keys, err := privacy.NewPostgresKeys(ctx, st.Pool(), st.Schema())
	if err != nil {
		t.Fatal(err)
	}
	keyringContract(t, keys, masterKey(t))
}

func TestMasterKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "master-key")
	k1, err := privacy.LoadOrCreateMasterKey(path)
	if err != nil || len(k1) != 32 {
		t.Fatalf("%x %v", k1, err)
	}
	k2, err := privacy.LoadOrCreateMasterKey(path)
	if err != nil || !bytes.Equal(k1, k2) {
		t.Fatal("the key changed on reload")
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	if _, err := privacy.ParseMasterKey("short"); err == nil {
		t.Fatal("a short key parsed")
	}
	os.WriteFile(path, []byte("nonsense\n"), 0o600)
	if _, err := privacy.LoadOrCreateMasterKey(path); err == nil {
		t.Fatal("a bad key file loaded")
	}
}
