package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// --jwt-secret-file gives a tier that is not embedded a generated secret that every
// process sharing the file uses (docker compose: serve and `compose run … token`).
func TestJWTSecretFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "secrets", "jwt-secret")
	c := Config{Events: "kurrentdb://kurrentdb:2113?tls=false", DataDir: dir}
	a := authFlags{secretFile: file, issuer: "orderengine", audience: "orderengine"}
	first, err := a.config(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.HS256Secret) < 32 {
		t.Fatalf("generated secret of %d bytes", len(first.HS256Secret))
	}
	second, err := a.config(c)
	if err != nil || !bytes.Equal(first.HS256Secret, second.HS256Secret) {
		t.Fatalf("second process got a different secret (%v)", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "jwt-secret")); !os.IsNotExist(err) {
		t.Fatalf("the data dir got a secret too: %v", err)
	}
	// An explicit secret wins over the file.
	a.secret = "0123456789abcdef0123456789abcdef-explicit"
	got, err := a.config(c)
	if err != nil || string(got.HS256Secret) != a.secret {
		t.Fatalf("explicit secret: %q %v", got.HS256Secret, err)
	}
	// A weak secret in the file is refused.
	weak := filepath.Join(dir, "weak")
	if err := os.WriteFile(weak, []byte("change-me\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := (authFlags{secretFile: weak, issuer: "orderengine", audience: "orderengine"}).config(c); err == nil {
		t.Fatal("a 9-byte secret file was accepted")
	}
	// Without secret, file or JWKS URL the scale-out tier still refuses to start.
	if _, err := (authFlags{issuer: "orderengine", audience: "orderengine"}).config(c); err == nil {
		t.Fatal("no secret accepted outside the embedded tier")
	}
}
