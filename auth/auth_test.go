package auth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var secret = []byte(strings.Repeat("s", 32))

func hsVerifier(t *testing.T) *Verifier {
	t.Helper()
	v, err := NewVerifier(Config{HS256Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSignVerify(t *testing.T) {
	v := hsVerifier(t)
	tok, err := Signer{Secret: secret}.Sign("alice", []Role{RoleCustomer}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.Verify(context.Background(), tok)
	if err != nil || p.Subject != "alice" || !p.Has(RoleCustomer) || p.Has(RoleAdmin) {
		t.Fatalf("principal %+v, err %v", p, err)
	}
}

func TestRejects(t *testing.T) {
	v := hsVerifier(t)
	now := time.Now()
	sign := func(c jwt.MapClaims, key []byte) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	good := func() jwt.MapClaims {
		return jwt.MapClaims{"sub": "alice", "roles": []string{"customer"}, "iss": DefaultIssuer, "aud": DefaultAudience,
			"exp": now.Add(time.Hour).Unix(), "iat": now.Unix()}
	}
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, good()).SignedString(jwt.UnsafeAllowNoneSignatureType)
	expired := good()
	expired["exp"] = now.Add(-time.Hour).Unix()
	noExp := good()
	delete(noExp, "exp")
	wrongIss := good()
	wrongIss["iss"] = "someone-else"
	wrongAud := good()
	wrongAud["aud"] = "another-app"
	badRole := good()
	badRole["roles"] = []string{"superuser"}
	noRoles := good()
	delete(noRoles, "roles")
	hs512, _ := jwt.NewWithClaims(jwt.SigningMethodHS512, good()).SignedString(secret)
	cases := map[string]string{
		"alg none":      none,
		"expired":       sign(expired, secret),
		"no exp":        sign(noExp, secret),
		"wrong issuer":  sign(wrongIss, secret),
		"wrong aud":     sign(wrongAud, secret),
		"wrong secret":  sign(good(), []byte(strings.Repeat("x", 32))),
		"unknown role":  sign(badRole, secret),
		"no roles":      sign(noRoles, secret),
		"other alg":     hs512,
		"garbage":       "not.a.jwt",
		"empty":         "",
		"tampered body": sign(good(), secret)[:20] + "x" + sign(good(), secret)[21:],
	}
	for name, tok := range cases {
		if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: got %v, want ErrInvalidToken", name, err)
		}
	}
	if _, err := v.Verify(context.Background(), sign(good(), secret)); err != nil {
		t.Fatalf("control token rejected: %v", err)
	}
}

func TestMiddleware(t *testing.T) {
	v := hsVerifier(t)
	h := v.Middleware(Require(RoleAdmin)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := FromContext(r.Context())
		w.Write([]byte(p.Subject))
	})))
	do := func(auth string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", "/", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	admin, _ := Signer{Secret: secret}.Sign("root", []Role{RoleAdmin}, time.Hour)
	cust, _ := Signer{Secret: secret}.Sign("bob", []Role{RoleCustomer}, time.Hour)
	if rec := do(""); rec.Code != 401 || rec.Header().Get("WWW-Authenticate") == "" {
		t.Fatalf("no token: %d", rec.Code)
	}
	if rec := do("Bearer junk"); rec.Code != 401 {
		t.Fatalf("bad token: %d", rec.Code)
	}
	if rec := do("Bearer " + cust); rec.Code != 403 {
		t.Fatalf("customer on admin route: %d", rec.Code)
	}
	if rec := do("Bearer " + admin); rec.Code != 200 || rec.Body.String() != "root" {
		t.Fatalf("admin: %d %s", rec.Code, rec.Body.String())
	}
}

func TestJWKS(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	fetches := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches++
		json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{
			"kty": "RSA", "kid": "k1", "use": "sig", "alg": "RS256",
			"n": base64.RawURLEncoding.EncodeToString(key.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes()),
		}}})
	}))
	defer srv.Close()
	v, err := NewVerifier(Config{JWKSURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	c := jwt.MapClaims{"sub": "carol", "roles": []string{"auditor"}, "iss": DefaultIssuer, "aud": DefaultAudience, "exp": now.Add(time.Hour).Unix()}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
	tok.Header["kid"] = "k1"
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if p, err := v.Verify(context.Background(), s); err != nil || p.Subject != "carol" {
			t.Fatalf("RS256 token: %+v %v", p, err)
		}
	}
	if fetches != 1 {
		t.Fatalf("JWKS fetched %d times, want 1 (cached)", fetches)
	}
	// An HS256 token "signed" with the public key must not pass (algorithm confusion).
	pub := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
	pub.Header["kid"] = "k1"
	forged, _ := pub.SignedString(key.N.Bytes())
	if _, err := v.Verify(context.Background(), forged); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("HS256 token accepted by an RS256 verifier: %v", err)
	}
}

func TestSecretFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "jwt-secret")
	a, err := LoadOrCreateSecret(path)
	if err != nil || len(a) < 32 {
		t.Fatalf("create: %q %v", a, err)
	}
	b, err := LoadOrCreateSecret(path)
	if err != nil || string(a) != string(b) {
		t.Fatalf("second load gave %q, first %q (%v)", b, a, err)
	}
	if err := (Config{}).Validate(); err == nil {
		t.Fatal("empty config valid")
	}
	if err := (Config{HS256Secret: []byte("short")}).Validate(); err == nil {
		t.Fatal("short secret valid")
	}
}
