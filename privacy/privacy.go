// Package privacy keeps personal data erasable although the event log is append-only:
// crypto-shredding. Personal data is sealed with AES-256-GCM under a data key of its data
// subject (the customer id); data keys are stored wrapped by a master key (KeyWrapper,
// which a KMS can implement) in a key table of the events database (KeyStore). Erasing a
// subject destroys its data key: everything sealed under it becomes unreadable for good,
// wherever the ciphertext lives (events, backups, the bus), and readers show Erased.
package privacy

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Erased stands in for personal data whose subject was erased.
const Erased = "[erased]"

// Errors of the keyring.
var (
	// ErrErased: the subject's data key was destroyed.
	ErrErased = errors.New("data subject erased")
	// ErrNoKey: the subject has no data key (nothing was ever sealed for it).
	ErrNoKey = errors.New("no data key")
	// ErrNotSealed: the value is not a sealed value of this package.
	ErrNotSealed = errors.New("not a sealed value")
)

// KeyWrapper wraps and unwraps data keys (the master key, or a KMS). The subject is
// authenticated with the wrapped key, so a wrapped key cannot be moved to another subject.
type KeyWrapper interface {
	Wrap(ctx context.Context, subject string, dataKey []byte) ([]byte, error)
	Unwrap(ctx context.Context, subject string, wrapped []byte) ([]byte, error)
}

// KeyStore keeps one wrapped data key per subject and a tombstone once it is destroyed.
type KeyStore interface {
	// Get returns the subject's wrapped key; ErrNoKey or ErrErased.
	Get(ctx context.Context, subject string) ([]byte, error)
	// Create stores wrapped unless the subject has a key already, and returns the key
	// that is stored (so concurrent creators agree); ErrErased after Destroy.
	Create(ctx context.Context, subject string, wrapped []byte) ([]byte, error)
	// Destroy removes the subject's key for good and leaves a tombstone (also for a
	// subject that never had a key); it reports false when the subject was erased before.
	Destroy(ctx context.Context, subject string) (bool, error)
}

// MasterKey is a KeyWrapper with a local AES-256-GCM key.
type MasterKey struct{ aead cipher.AEAD }

// NewMasterKey takes a 32-byte key.
func NewMasterKey(key []byte) (*MasterKey, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("privacy: the master key must be 32 bytes, got %d", len(key))
	}
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	return &MasterKey{aead: aead}, nil
}

// Wrap implements KeyWrapper.
func (m *MasterKey) Wrap(_ context.Context, subject string, dataKey []byte) ([]byte, error) {
	return seal(m.aead, []byte("wrap\x00"+subject), dataKey)
}

// Unwrap implements KeyWrapper.
func (m *MasterKey) Unwrap(_ context.Context, subject string, wrapped []byte) ([]byte, error) {
	k, err := open(m.aead, []byte("wrap\x00"+subject), wrapped)
	if err != nil {
		return nil, fmt.Errorf("privacy: unwrap the key of %q (wrong master key?): %w", subject, err)
	}
	return k, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("privacy: %w", err)
	}
	return cipher.NewGCM(block)
}

func seal(aead cipher.AEAD, aad, plaintext []byte) ([]byte, error) {
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("privacy: nonce: %w", err)
	}
	return aead.Seal(nonce, nonce, plaintext, aad), nil
}

func open(aead cipher.AEAD, aad, sealed []byte) ([]byte, error) {
	if len(sealed) < aead.NonceSize()+aead.Overhead() {
		return nil, ErrNotSealed
	}
	n := aead.NonceSize()
	return aead.Open(nil, sealed[:n], sealed[n:], aad)
}

// Keyring seals and opens personal data per subject.
type Keyring struct {
	store KeyStore
	wrap  KeyWrapper
	ttl   time.Duration
	now   func() time.Time

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	aead   cipher.AEAD
	erased bool
	until  time.Time
}

// Options tune a Keyring.
type Options struct {
	// CacheTTL bounds how long an unwrapped key is kept in memory (default 30 s). An
	// erasure is seen at once by the process that erased, by others within CacheTTL.
	CacheTTL time.Duration
	Now      func() time.Time
}

// NewKeyring builds a keyring.
func NewKeyring(store KeyStore, wrap KeyWrapper, opt Options) *Keyring {
	if opt.CacheTTL <= 0 {
		opt.CacheTTL = 30 * time.Second
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &Keyring{store: store, wrap: wrap, ttl: opt.CacheTTL, now: opt.Now, cache: map[string]cached{}}
}

// prefix marks a sealed value: "pd1.<base64url(subject)>.<base64url(nonce|ciphertext)>".
// The subject travels with the value (it is the pseudonymous customer id the event
// names anyway), so a reader needs nothing else to open it.
const prefix = "pd1."

// IsSealed reports whether s looks like a value Seal returned.
func IsSealed(s string) bool { return strings.HasPrefix(s, prefix) }

// Seal encrypts plaintext for subject (creating its data key on first use); ErrErased
// once the subject was erased.
func (k *Keyring) Seal(ctx context.Context, subject string, plaintext []byte) (string, error) {
	aead, err := k.key(ctx, subject, true)
	if err != nil {
		return "", err
	}
	b, err := seal(aead, []byte(subject), plaintext)
	if err != nil {
		return "", err
	}
	return prefix + base64.RawURLEncoding.EncodeToString([]byte(subject)) + "." + base64.RawURLEncoding.EncodeToString(b), nil
}

// Subject is the data subject a sealed value belongs to.
func Subject(sealed string) (string, error) {
	if !IsSealed(sealed) {
		return "", ErrNotSealed
	}
	sub, _, ok := strings.Cut(sealed[len(prefix):], ".")
	b, err := base64.RawURLEncoding.DecodeString(sub)
	if !ok || err != nil || len(b) == 0 {
		return "", ErrNotSealed
	}
	return string(b), nil
}

// Open decrypts a value Seal returned; ErrErased once its subject was erased.
func (k *Keyring) Open(ctx context.Context, sealed string) ([]byte, error) {
	subject, err := Subject(sealed)
	if err != nil {
		return nil, err
	}
	_, ct, _ := strings.Cut(sealed[len(prefix):], ".")
	raw, err := base64.RawURLEncoding.DecodeString(ct)
	if err != nil {
		return nil, ErrNotSealed
	}
	aead, err := k.key(ctx, subject, false)
	if errors.Is(err, ErrNoKey) {
		return nil, ErrErased // sealed under a key that is gone without a tombstone
	}
	if err != nil {
		return nil, err
	}
	p, err := open(aead, []byte(subject), raw)
	if err != nil {
		return nil, fmt.Errorf("privacy: open a value of %q: %w", subject, err)
	}
	return p, nil
}

// Erase destroys subject's data key; it reports false when the subject was erased before.
func (k *Keyring) Erase(ctx context.Context, subject string) (bool, error) {
	existed, err := k.store.Destroy(ctx, subject)
	if err != nil {
		return false, err
	}
	k.mu.Lock()
	k.cache[subject] = cached{erased: true, until: k.now().Add(k.ttl)}
	k.mu.Unlock()
	return existed, nil
}

func (k *Keyring) key(ctx context.Context, subject string, create bool) (cipher.AEAD, error) {
	if subject == "" {
		return nil, errors.New("privacy: no data subject")
	}
	now := k.now()
	k.mu.Lock()
	c, ok := k.cache[subject]
	k.mu.Unlock()
	if ok && now.Before(c.until) {
		if c.erased {
			return nil, ErrErased
		}
		return c.aead, nil
	}
	wrapped, err := k.store.Get(ctx, subject)
	switch {
	case errors.Is(err, ErrNoKey) && create:
		dk := make([]byte, 32)
		if _, err := rand.Read(dk); err != nil {
			return nil, fmt.Errorf("privacy: data key: %w", err)
		}
		w, err := k.wrap.Wrap(ctx, subject, dk)
		if err != nil {
			return nil, err
		}
		if wrapped, err = k.store.Create(ctx, subject, w); err != nil {
			return nil, k.remember(subject, nil, err)
		}
	case err != nil:
		return nil, k.remember(subject, nil, err)
	}
	dk, err := k.wrap.Unwrap(ctx, subject, wrapped)
	if err != nil {
		return nil, err
	}
	aead, err := newGCM(dk)
	if err != nil {
		return nil, err
	}
	return aead, k.remember(subject, aead, nil)
}

// remember caches a key or an erasure; other errors pass through uncached.
func (k *Keyring) remember(subject string, aead cipher.AEAD, err error) error {
	if err != nil && !errors.Is(err, ErrErased) {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.cache) > 100_000 {
		clear(k.cache) // bounded memory; keys are reloaded on demand
	}
	k.cache[subject] = cached{aead: aead, erased: err != nil, until: k.now().Add(k.ttl)}
	return err
}
