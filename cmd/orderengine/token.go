package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/orderengine/orderengine/auth"
)

// authFlags are the JWT settings shared by serve and token.
type authFlags struct {
	secret, secretFile, jwksURL, issuer, audience string
}

func (a *authFlags) register(fs *flagSet) {
	fs.stringVar(&a.secret, "jwt-secret", "ORDERENGINE_JWT_SECRET", "", "HS256 secret (≥ 32 bytes) for development tokens; the embedded tier generates one in the data dir when unset")
	fs.stringVar(&a.secretFile, "jwt-secret-file", "ORDERENGINE_JWT_SECRET_FILE", "", "file holding the HS256 secret, created with a random one when missing; instances sharing the file share the secret (--jwt-secret wins)")
	fs.stringVar(&a.jwksURL, "jwks-url", "ORDERENGINE_JWKS_URL", "", "JWKS URL of RS256 keys (production); excludes --jwt-secret")
	fs.stringVar(&a.issuer, "jwt-issuer", "ORDERENGINE_JWT_ISSUER", auth.DefaultIssuer, "required token issuer (iss)")
	fs.stringVar(&a.audience, "jwt-audience", "ORDERENGINE_JWT_AUDIENCE", auth.DefaultAudience, "required token audience (aud)")
}

// config resolves the settings: with neither a secret nor a JWKS URL, the embedded tier
// uses (creating if needed) <data-dir>/jwt-secret; other tiers must be configured, since
// several instances must share the key.
func (a authFlags) config(c Config) (auth.Config, error) {
	cfg := auth.Config{JWKSURL: a.jwksURL, Issuer: a.issuer, Audience: a.audience, HS256Secret: []byte(a.secret)}
	if a.secret == "" && a.jwksURL == "" && a.secretFile != "" {
		s, err := auth.LoadOrCreateSecret(a.secretFile)
		if err != nil {
			return cfg, err
		}
		cfg.HS256Secret = s
	} else if a.secret == "" && a.jwksURL == "" {
		kind, _, _ := parseStoreURL(c.Events)
		if kind != kindSQLite {
			return cfg, usagef("set --jwt-secret (ORDERENGINE_JWT_SECRET), --jwt-secret-file (ORDERENGINE_JWT_SECRET_FILE) or --jwks-url (ORDERENGINE_JWKS_URL): only the embedded tier generates a secret in its data dir")
		}
		s, err := auth.LoadOrCreateSecret(filepath.Join(c.DataDir, "jwt-secret"))
		if err != nil {
			return cfg, err
		}
		cfg.HS256Secret = s
	}
	if err := cfg.Validate(); err != nil {
		return cfg, usagef("%v", err)
	}
	return cfg, nil
}

func runToken(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var (
		c     Config
		af    authFlags
		sub   string
		roles string
		ttl   time.Duration
	)
	fs := newFlagSet("token", "token --sub SUBJECT --role ROLE[,ROLE] [--ttl 24h]", getenv, stdout)
	commonFlags(fs, &c)
	af.register(fs)
	fs.StringVar(&sub, "sub", "", "subject: the user id (a customer's orders and carts are theirs)")
	fs.StringVar(&roles, "role", "customer", "roles, comma-separated: customer, admin, auditor, analyst")
	fs.DurationVar(&ttl, "ttl", 24*time.Hour, "validity")
	if err := fs.parse(args); err != nil {
		return err
	}
	if sub == "" {
		return usagef("--sub is required")
	}
	if ttl <= 0 || ttl > 366*24*time.Hour {
		return usagef("--ttl %s: want more than 0 and at most 8784h (a year)", ttl)
	}
	if af.jwksURL != "" {
		return usagef("tokens for a JWKS (RS256) setup come from your identity provider; token signs HS256 only")
	}
	generated := appFlags{auth: af, webhookSecret: "not generated here"}.secretsToGenerate(c)
	cfg, err := af.config(c)
	if err != nil {
		return err
	}
	for _, path := range generated {
		fmt.Fprintf(stderr, "generated a development JWT secret in %s (serve with the same --data-dir uses it)\n", path)
	}
	var rs []auth.Role
	for _, r := range strings.Split(roles, ",") {
		rs = append(rs, auth.Role(strings.TrimSpace(r)))
	}
	tok, err := auth.Signer{Secret: cfg.HS256Secret, Issuer: cfg.Issuer, Audience: cfg.Audience}.Sign(sub, rs, ttl)
	if err != nil {
		return usagef("%v", err)
	}
	fmt.Fprintln(stdout, tok)
	return nil
}
