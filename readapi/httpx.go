package readapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/httpapi"
	"github.com/orderengine/orderengine/problem"
	"github.com/orderengine/orderengine/projections"
	"github.com/orderengine/orderengine/projections/readmodel"
	"github.com/orderengine/orderengine/search"
)

// Headers the read API speaks.
const (
	// HeaderPosition: in a response, the position of the projection the answer was read
	// from; in a request, the position the answer must reflect (as query minPosition).
	HeaderPosition = "Orderengine-Position"
	// HeaderStale is "true" when the projection had not reached minPosition in time.
	HeaderStale = "Orderengine-Stale"
)

// Errors a Search (or any adapter) wraps so the API answers 400, 404 or 503.
var (
	ErrInvalidQuery  = errors.New("invalid query")
	ErrInvalidCursor = errors.New("invalid cursor")
	ErrNotFound      = errors.New("not found")
	// ErrUnavailable: a backend is down, or a dependency the route needs is not configured.
	ErrUnavailable = errors.New("not available on this server")
)

// Page limits of lists.
const (
	DefaultLimit = 20
	MaxLimit     = 100
)

var badRequest = httpapi.BadRequest

// param is a documented query parameter; the same list is the route's allow-list and
// its OpenAPI parameters, so the two cannot drift.
type param struct {
	name    string
	schema  map[string]any
	desc    string
	example string // a valid value (tests send it)
	repeat  bool   // may be given more than once
}

// query is a parsed query string; errors collect and are reported together.
type query struct {
	v    url.Values
	errs []string
}

// parseQuery rejects parameters not in allowed and single-valued parameters given twice.
func parseQuery(r *http.Request, allowed []param) (*query, error) {
	v, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, badRequest("malformed query string: %v", err)
	}
	var bad []string
	for name, vals := range v {
		i := slices.IndexFunc(allowed, func(p param) bool { return p.name == name })
		switch {
		case i < 0 && len(allowed) == 0:
			bad = append(bad, fmt.Sprintf("unknown query parameter %q (this route takes no query parameters)", name))
		case i < 0:
			names := make([]string, len(allowed))
			for j, p := range allowed {
				names[j] = p.name
			}
			bad = append(bad, fmt.Sprintf("unknown query parameter %q (accepted: %s)", name, strings.Join(names, ", ")))
		case len(vals) > 1 && !allowed[i].repeat:
			bad = append(bad, fmt.Sprintf("query parameter %q is given %d times", name, len(vals)))
		}
	}
	if len(bad) > 0 {
		slices.Sort(bad)
		return nil, badRequest("%s", strings.Join(bad, "; "))
	}
	return &query{v: v}, nil
}

func (q *query) fail(format string, args ...any) {
	q.errs = append(q.errs, fmt.Sprintf(format, args...))
}

func (q *query) err() error {
	if len(q.errs) == 0 {
		return nil
	}
	return badRequest("%s", strings.Join(q.errs, "; "))
}

func (q *query) has(name string) bool { _, ok := q.v[name]; return ok }

func (q *query) str(name string, maxLen int) string {
	s := q.v.Get(name)
	if len(s) > maxLen {
		q.fail("%s is longer than %d bytes", name, maxLen)
		return ""
	}
	return s
}

func (q *query) strs(name string, maxLen int) []string {
	var out []string
	for _, s := range q.v[name] {
		if s == "" {
			continue
		}
		if len(s) > maxLen {
			q.fail("%s is longer than %d bytes", name, maxLen)
			continue
		}
		out = append(out, s)
	}
	return out
}

func (q *query) oneOf(name string, vals ...string) string {
	s := q.v.Get(name)
	if s != "" && !slices.Contains(vals, s) {
		q.fail("%s must be one of %s", name, strings.Join(vals, ", "))
		return ""
	}
	return s
}

// int64 parses an optional integer in [lo, hi].
func (q *query) int64(name string, lo, hi int64) *int64 {
	if !q.has(name) {
		return nil
	}
	n, err := strconv.ParseInt(q.v.Get(name), 10, 64)
	if err != nil || n < lo || n > hi {
		q.fail("%s must be an integer between %d and %d", name, lo, hi)
		return nil
	}
	return &n
}

func (q *query) uint64(name string) uint64 {
	if !q.has(name) {
		return 0
	}
	n, err := strconv.ParseUint(q.v.Get(name), 10, 64)
	if err != nil {
		q.fail("%s must be a non-negative integer", name)
	}
	return n
}

func (q *query) bool(name string) bool {
	if !q.has(name) {
		return false
	}
	b, err := strconv.ParseBool(q.v.Get(name))
	if err != nil {
		q.fail("%s must be true or false", name)
	}
	return b
}

// time parses RFC 3339 or a date (midnight UTC).
func (q *query) time(name string) time.Time {
	if !q.has(name) {
		return time.Time{}
	}
	s := q.v.Get(name)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t
	}
	q.fail("%s must be an RFC 3339 time such as 2025-01-31T12:00:00Z, or a date", name)
	return time.Time{}
}

// limit parses limit (1…max, default def).
func (q *query) limit(def, max int) int {
	n := q.int64("limit", 1, int64(max))
	if n == nil {
		return def
	}
	return int(*n)
}

// minPosition is the position a read must reflect: query minPosition or the
// Orderengine-Position request header, whichever is higher.
func (q *query) minPosition(r *http.Request) uint64 {
	atLeast := q.uint64("minPosition")
	if h := strings.TrimSpace(r.Header.Get(HeaderPosition)); h != "" {
		n, err := strconv.ParseUint(h, 10, 64)
		if err != nil {
			q.fail("the %s header must be a non-negative integer", HeaderPosition)
		}
		atLeast = max(atLeast, n)
	}
	return atLeast
}

// await waits (bounded by MaxWait) until a SQL projection reaches atLeast.
func (a *API) await(ctx context.Context, projection string, atLeast uint64) error {
	if atLeast == 0 {
		return nil
	}
	_, _, err := a.positions.WaitPosition(ctx, projection, atLeast, a.maxWait)
	return err
}

// pollPosition waits (bounded by MaxWait) until pos reports at least atLeast.
func (a *API) pollPosition(ctx context.Context, atLeast uint64, pos func(context.Context) (uint64, error)) error {
	if atLeast == 0 {
		return nil
	}
	deadline := time.Now().Add(a.maxWait)
	delay := 2 * time.Millisecond
	for {
		p, err := pos(ctx)
		if err != nil || p >= atLeast {
			return err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil
		}
		t := time.NewTimer(min(delay, left))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		delay = min(delay*2, 50*time.Millisecond)
	}
}

// reply is a read's answer and what goes in its headers.
type reply struct {
	body any
	// tag, if set, is hashed for the ETag instead of body (to leave out fields that
	// change without the content changing, such as a page's position).
	tag      any
	position uint64
	min      uint64 // the client's minPosition
	public   bool
	// noPosition: the answer is not read from a projection (admin status).
	noPosition bool
	// link is the next page's URL, for a Link header.
	link string
}

// write sends a JSON answer with ETag (304 on a matching If-None-Match), the position
// and the stale marker.
func (a *API) write(w http.ResponseWriter, r *http.Request, rep reply) {
	body, err := marshal(rep.body)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	tagSrc := body
	if rep.tag != nil {
		if tagSrc, err = marshal(rep.tag); err != nil {
			a.fail(w, r, err)
			return
		}
	}
	h := w.Header()
	tag := etag(tagSrc)
	h.Set("ETag", tag)
	a.positionHeaders(w, rep)
	if rep.public {
		h.Set("Cache-Control", "public, no-cache")
	} else {
		h.Set("Cache-Control", "private, no-cache")
		h.Add("Vary", "Authorization")
	}
	h.Add("Vary", HeaderPosition)
	if rep.link != "" {
		h.Set("Link", "<"+rep.link+`>; rel="next"`)
	}
	if matches(r.Header.Get("If-None-Match"), tag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

func (a *API) positionHeaders(w http.ResponseWriter, rep reply) {
	if rep.noPosition {
		return
	}
	w.Header().Set(HeaderPosition, strconv.FormatUint(rep.position, 10))
	if rep.position < rep.min {
		w.Header().Set(HeaderStale, "true")
	}
}

// marshal encodes v without HTML escaping, so stored event bytes pass through unchanged.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// etag is a strong validator over the representation.
func etag(b []byte) string {
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}

// matches reports whether an If-None-Match header matches tag (weak comparison).
func matches(header, tag string) bool {
	if header == "" {
		return false
	}
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == tag {
			return true
		}
	}
	return false
}

// nextLink is the current URL with cursor replaced, for a Link header.
func nextLink(r *http.Request, key, value string) string {
	if value == "" {
		return ""
	}
	q := r.URL.Query()
	q.Set(key, value)
	return r.URL.Path + "?" + q.Encode()
}

// readProblem maps the read side's errors to problem documents.
func readProblem(err error) (problem.Details, bool) {
	switch {
	case errors.Is(err, readmodel.ErrBadCursor), errors.Is(err, search.ErrBadCursor), errors.Is(err, ErrInvalidCursor):
		return problem.New(http.StatusBadRequest, "invalid-cursor", "Invalid cursor", "the cursor is not one this list returned (or belongs to another sort order); start again without it"), true
	case errors.Is(err, readmodel.ErrBadRequest), errors.Is(err, search.ErrBadRequest), errors.Is(err, ErrInvalidQuery):
		return problem.Validation(err.Error()), true
	case errors.Is(err, readmodel.ErrNotFound), errors.Is(err, ErrNotFound), errors.Is(err, domain.ErrNotFound),
		errors.Is(err, projections.ErrUnknownProjection):
		return problem.NotFound(err.Error()), true
	case errors.Is(err, ErrUnavailable), errors.Is(err, search.ErrUnavailable):
		return problem.New(http.StatusServiceUnavailable, "unavailable", "Not available", err.Error()), true
	}
	return problem.Details{}, false
}

func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		httpapi.WriteProblem(w, r, problem.New(http.StatusServiceUnavailable, "canceled", "Request canceled", "the request was canceled"))
		return
	}
	httpapi.Fail(w, r, a.log, err, readProblem)
}

// failAt answers an error that was read at a position (a 404 of a projection tells the
// client how far the projection had got).
func (a *API) failAt(w http.ResponseWriter, r *http.Request, err error, position, atLeast uint64) {
	if position > 0 {
		a.positionHeaders(w, reply{position: position, min: atLeast})
	}
	a.fail(w, r, err)
}
