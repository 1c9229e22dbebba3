package privacy

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/eventstore"
)

// Rule says which JSON members of an event type are personal data and which member
// names their data subject. Rules come from struct tags (RulesFromRegistry): a string
// field tagged privacy:"personal" (at any depth of nested structs) is sealed under the
// value of the top-level field tagged privacy:"subject".
type Rule struct {
	Subject string     // top-level JSON member holding the subject id
	Paths   [][]string // JSON member paths of personal string values
	// Bytes marks paths holding []byte (base64 in JSON): erased they read as the
	// base64 of ErasedBytes, so they still decode.
	Bytes bool
}

// ErasedBytes replaces an erased []byte value (a stored HTTP response body).
var ErasedBytes = []byte(`"` + Erased + `"`)

// RulesFromRegistry reads the privacy tags of every registered event type.
func RulesFromRegistry(reg *domain.Registry) map[string]Rule {
	out := map[string]Rule{}
	for _, name := range reg.Names() {
		p, ok := reg.Prototype(name)
		if !ok {
			continue
		}
		t := reflect.TypeOf(p)
		var r Rule
		for i := range t.NumField() {
			f := t.Field(i)
			if f.Tag.Get("privacy") == "subject" {
				r.Subject = jsonName(f)
			}
		}
		r.Paths = personalPaths(t, nil)
		if r.Subject != "" && len(r.Paths) > 0 {
			out[name] = r
		}
	}
	return out
}

func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "" {
		return f.Name
	}
	return name
}

func personalPaths(t reflect.Type, prefix []string) [][]string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var out [][]string
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() || f.Tag.Get("json") == "-" {
			continue
		}
		path := append(append([]string(nil), prefix...), jsonName(f))
		if f.Tag.Get("privacy") == "personal" && f.Type.Kind() == reflect.String {
			out = append(out, path)
			continue
		}
		out = append(out, personalPaths(f.Type, path)...)
	}
	return out
}

// Store seals personal data on its way into the log and opens it on its way out: the
// codec boundary of crypto-shredding. Appends seal the Rules' values under their
// subject's key; reads (ReadStream, ReadAll, SubscribeAll) replace every sealed value of
// an event type with rules by its plaintext, or by Erased once the subject is erased.
// Events stay byte-for-byte what was appended in the inner store, so the hash chain
// covers the ciphertext: audit reads go to the inner store (Inner).
type Store struct {
	eventstore.Store
	keys  *Keyring
	rules map[string]Rule
}

// NewStore wraps inner.
func NewStore(inner eventstore.Store, keys *Keyring, rules map[string]Rule) *Store {
	return &Store{Store: inner, keys: keys, rules: rules}
}

// Inner is the wrapped store (stored bytes: ciphertext).
func (s *Store) Inner() eventstore.Store { return s.Store }

// Keys is the keyring.
func (s *Store) Keys() *Keyring { return s.keys }

// Append implements eventstore.Store.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	out, copied := events, false
	for i, e := range events {
		r, ok := s.rules[e.Type]
		if !ok {
			continue
		}
		data, err := s.seal(ctx, r, e.Data)
		if err != nil {
			return eventstore.AppendResult{}, fmt.Errorf("seal %s: %w", e.Type, err)
		}
		if !copied {
			out, copied = append([]eventstore.EventData(nil), events...), true
		}
		out[i].Data = data
	}
	return s.Store.Append(ctx, stream, expected, out...)
}

// AppendMulti implements eventstore.MultiAppender when the wrapped store does: every
// part is sealed like Append's events, then appended atomically by the wrapped store.
func (s *Store) AppendMulti(ctx context.Context, parts ...eventstore.StreamAppend) ([]eventstore.AppendResult, error) {
	m, ok := s.Store.(eventstore.MultiAppender)
	if !ok {
		return nil, eventstore.ErrMultiAppendUnsupported
	}
	sealed := make([]eventstore.StreamAppend, len(parts))
	for i, p := range parts {
		sealed[i] = p
		evs := append([]eventstore.EventData(nil), p.Events...)
		for j, e := range evs {
			r, ok := s.rules[e.Type]
			if !ok {
				continue
			}
			data, err := s.seal(ctx, r, e.Data)
			if err != nil {
				return nil, fmt.Errorf("seal %s: %w", e.Type, err)
			}
			evs[j].Data = data
		}
		sealed[i].Events = evs
	}
	return m.AppendMulti(ctx, sealed...)
}

func (s *Store) seal(ctx context.Context, r Rule, data []byte) ([]byte, error) {
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		return nil, err
	}
	subject, _ := m[r.Subject].(string)
	if subject == "" {
		return data, nil // nobody's data (an admin's cart): nothing to seal it under
	}
	changed := false
	for _, p := range r.Paths {
		parent := m
		for _, k := range p[:len(p)-1] {
			parent, _ = parent[k].(map[string]any)
		}
		v, ok := parent[p[len(p)-1]].(string)
		if !ok || v == "" || IsSealed(v) {
			continue
		}
		sealed, err := s.keys.Seal(ctx, subject, []byte(v))
		if err != nil {
			return nil, err
		}
		parent[p[len(p)-1]] = sealed
		changed = true
	}
	if !changed {
		return data, nil
	}
	return json.Marshal(m)
}

// open replaces every sealed string value in data by its plaintext or Erased.
func (s *Store) open(ctx context.Context, rec eventstore.RecordedEvent) (eventstore.RecordedEvent, error) {
	r, ok := s.rules[rec.Type]
	if !ok || !bytes.Contains(rec.Data, []byte(`"`+prefix)) {
		return rec, nil
	}
	var out bytes.Buffer
	data := rec.Data
	for {
		i := bytes.Index(data, []byte(`"`+prefix))
		if i < 0 {
			out.Write(data)
			break
		}
		end := bytes.IndexByte(data[i+1:], '"')
		if end < 0 {
			out.Write(data)
			break
		}
		token := string(data[i+1 : i+1+end])
		out.Write(data[:i])
		plain, err := s.keys.Open(ctx, token)
		switch {
		case errors.Is(err, ErrErased):
			plain = []byte(Erased)
			if r.Bytes {
				plain = []byte(base64.StdEncoding.EncodeToString(ErasedBytes))
			}
		case err != nil:
			return rec, fmt.Errorf("open %s@%d: %w", rec.Stream, rec.Version, err)
		}
		q, _ := json.Marshal(string(plain))
		out.Write(q)
		data = data[i+1+end+1:]
	}
	rec.Data = out.Bytes()
	return rec, nil
}

func (s *Store) openAll(ctx context.Context, recs []eventstore.RecordedEvent) ([]eventstore.RecordedEvent, error) {
	for i := range recs {
		var err error
		if recs[i], err = s.open(ctx, recs[i]); err != nil {
			return nil, err
		}
	}
	return recs, nil
}

// ReadStream implements eventstore.Store.
func (s *Store) ReadStream(ctx context.Context, stream string, dir eventstore.Direction, from uint64, limit int) ([]eventstore.RecordedEvent, error) {
	recs, err := s.Store.ReadStream(ctx, stream, dir, from, limit)
	if err != nil {
		return recs, err
	}
	return s.openAll(ctx, recs)
}

// ReadAll implements eventstore.Store.
func (s *Store) ReadAll(ctx context.Context, from uint64, limit int, filter eventstore.Filter) ([]eventstore.RecordedEvent, error) {
	recs, err := s.Store.ReadAll(ctx, from, limit, filter)
	if err != nil {
		return recs, err
	}
	return s.openAll(ctx, recs)
}

// SubscribeAll implements eventstore.Store.
func (s *Store) SubscribeAll(ctx context.Context, from uint64, filter eventstore.Filter) (eventstore.Subscription, error) {
	sub, err := s.Store.SubscribeAll(ctx, from, filter)
	if err != nil {
		return nil, err
	}
	return &subscription{Subscription: sub, s: s}, nil
}

type subscription struct {
	eventstore.Subscription
	s   *Store
	err error // sticky, as the Subscription contract says: the failed event is not skipped
}

func (u *subscription) Next(ctx context.Context) (eventstore.RecordedEvent, error) {
	if u.err != nil {
		return eventstore.RecordedEvent{}, u.err
	}
	rec, err := u.Subscription.Next(ctx)
	if err != nil {
		return rec, err
	}
	if rec, err = u.s.open(ctx, rec); err != nil {
		u.err = err
	}
	return rec, err
}
