// Package auth verifies JWT bearer tokens and carries the caller's identity and roles.
//
// Development uses HS256 with a shared secret; production uses RS256 keys from a JWKS URL.
// The algorithm is pinned by the configuration, so "alg: none" or an HS256 token signed
// with an RSA public key is rejected. Issuer, audience and expiry are required.
package auth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/orderengine/orderengine/problem"
)

// Role is what a caller may do.
type Role string

const (
	RoleCustomer Role = "customer"
	RoleAdmin    Role = "admin"
	RoleAuditor  Role = "auditor"
	RoleAnalyst  Role = "analyst"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	switch r {
	case RoleCustomer, RoleAdmin, RoleAuditor, RoleAnalyst:
		return true
	}
	return false
}

// Principal is an authenticated caller.
type Principal struct {
	Subject string
	Roles   []Role
}

// Has reports whether p holds any of roles.
func (p Principal) Has(roles ...Role) bool {
	for _, r := range roles {
		if slices.Contains(p.Roles, r) {
			return true
		}
	}
	return false
}

// ErrInvalidToken wraps every verification failure.
var ErrInvalidToken = errors.New("invalid token")

// Defaults for issuer and audience.
const (
	DefaultIssuer   = "orderengine"
	DefaultAudience = "orderengine"
)

// Config selects how tokens are verified: exactly one of HS256Secret or JWKSURL.
type Config struct {
	// HS256Secret verifies (and signs) development tokens.
	HS256Secret []byte
	// JWKSURL is where RS256 public keys are fetched from in production.
	JWKSURL string
	// Issuer and Audience every token must carry (defaults "orderengine").
	Issuer, Audience string
	// Leeway tolerated on exp/nbf (default 30s).
	Leeway time.Duration
	// HTTPClient fetches the JWKS (default: 10s timeout).
	HTTPClient *http.Client
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (c *Config) defaults() {
	if c.Issuer == "" {
		c.Issuer = DefaultIssuer
	}
	if c.Audience == "" {
		c.Audience = DefaultAudience
	}
	if c.Leeway == 0 {
		c.Leeway = 30 * time.Second
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate checks that exactly one key source is set.
func (c Config) Validate() error {
	switch {
	case len(c.HS256Secret) == 0 && c.JWKSURL == "":
		return errors.New("auth: set a JWT secret (HS256) or a JWKS URL (RS256)")
	case len(c.HS256Secret) > 0 && c.JWKSURL != "":
		return errors.New("auth: set either a JWT secret or a JWKS URL, not both")
	case len(c.HS256Secret) > 0 && len(c.HS256Secret) < 32:
		return errors.New("auth: the HS256 secret must be at least 32 bytes")
	}
	return nil
}

// Verifier checks bearer tokens.
type Verifier struct {
	cfg    Config
	keys   *jwks
	parser *jwt.Parser
}

// NewVerifier builds a verifier from cfg.
func NewVerifier(cfg Config) (*Verifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.defaults()
	alg := "HS256"
	var keys *jwks
	if cfg.JWKSURL != "" {
		alg = "RS256"
		keys = newJWKS(cfg.JWKSURL, cfg.HTTPClient, cfg.Now)
	}
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{alg}),
		jwt.WithIssuer(cfg.Issuer),
		jwt.WithAudience(cfg.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithTimeFunc(cfg.Now),
	)
	return &Verifier{cfg: cfg, keys: keys, parser: parser}, nil
}

type claims struct {
	jwt.RegisteredClaims
	Roles []Role `json:"roles"`
}

// Verify checks a token and returns its principal.
func (v *Verifier) Verify(ctx context.Context, token string) (Principal, error) {
	var c claims
	_, err := v.parser.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		if v.keys == nil {
			return v.cfg.HS256Secret, nil
		}
		kid, _ := t.Header["kid"].(string)
		return v.keys.key(ctx, kid)
	})
	if err != nil {
		return Principal{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	if c.Subject == "" {
		return Principal{}, fmt.Errorf("%w: no subject", ErrInvalidToken)
	}
	if len(c.Roles) == 0 {
		return Principal{}, fmt.Errorf("%w: no roles", ErrInvalidToken)
	}
	for _, r := range c.Roles {
		if !r.Valid() {
			return Principal{}, fmt.Errorf("%w: unknown role %q", ErrInvalidToken, r)
		}
	}
	return Principal{Subject: c.Subject, Roles: c.Roles}, nil
}

type ctxKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext returns the principal a request was authenticated as.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(ctxKey{}).(Principal)
	return p, ok
}

// Middleware requires a valid bearer token and puts its principal in the request context.
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		scheme, token, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="orderengine"`)
			problem.Write(w, problem.Unauthorized("send an Authorization: Bearer <JWT> header").At(r.URL.Path))
			return
		}
		p, err := v.Verify(r.Context(), strings.TrimSpace(token))
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="orderengine", error="invalid_token"`)
			problem.Write(w, problem.Unauthorized(err.Error()).At(r.URL.Path))
			return
		}
		next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
	})
}

// Require answers 403 unless the authenticated caller holds one of roles.
func Require(roles ...Role) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, ok := FromContext(r.Context())
			if !ok {
				problem.Write(w, problem.Unauthorized("no credentials").At(r.URL.Path))
				return
			}
			if !p.Has(roles...) {
				problem.Write(w, problem.Forbidden(fmt.Sprintf("this route needs one of the roles %v", roles)).At(r.URL.Path))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// Signer issues HS256 tokens for development (`orderengine token`) and tests.
type Signer struct {
	Secret           []byte
	Issuer, Audience string
	Now              func() time.Time
}

// Sign returns a token for sub with roles, valid for ttl.
func (s Signer) Sign(sub string, roles []Role, ttl time.Duration) (string, error) {
	if len(s.Secret) < 32 {
		return "", errors.New("auth: the HS256 secret must be at least 32 bytes")
	}
	if sub == "" {
		return "", errors.New("auth: a token needs a subject")
	}
	if len(roles) == 0 {
		return "", errors.New("auth: a token needs at least one role")
	}
	for _, r := range roles {
		if !r.Valid() {
			return "", fmt.Errorf("auth: unknown role %q (customer, admin, auditor, analyst)", r)
		}
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	iss, aud := s.Issuer, s.Audience
	if iss == "" {
		iss = DefaultIssuer
	}
	if aud == "" {
		aud = DefaultAudience
	}
	t := now()
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   sub,
			Issuer:    iss,
			Audience:  jwt.ClaimStrings{aud},
			IssuedAt:  jwt.NewNumericDate(t),
			NotBefore: jwt.NewNumericDate(t),
			ExpiresAt: jwt.NewNumericDate(t.Add(ttl)),
		},
		Roles: roles,
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(s.Secret)
}

// LoadOrCreateSecret reads the development secret at path, creating a random one (mode
// 0600) when the file does not exist, so the embedded tier works with no configuration.
func LoadOrCreateSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		s := strings.TrimSpace(string(b))
		if len(s) < 32 {
			return nil, fmt.Errorf("auth: secret in %s is shorter than 32 bytes", path)
		}
		return []byte(s), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("auth: read secret: %w", err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("auth: generate secret: %w", err)
	}
	secret := hex.EncodeToString(raw)
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("auth: create secret dir: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return LoadOrCreateSecret(path) // another process won the race
	}
	if err != nil {
		return nil, fmt.Errorf("auth: write secret: %w", err)
	}
	if _, err := f.WriteString(secret + "\n"); err != nil {
		f.Close()
		return nil, fmt.Errorf("auth: write secret: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("auth: write secret: %w", err)
	}
	return []byte(secret), nil
}
