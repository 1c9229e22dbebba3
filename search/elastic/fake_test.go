package elastic

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeES imitates the Elasticsearch endpoints the backend uses, in memory: aliases,
// index create/delete/list, real-time get and mget, bulk and index with external
// versions, and searches of one kind of document sorted by one keyword field (the
// rebuild's hashing). Other searches answer what searchHandler says.
type fakeES struct {
	t testing.TB

	mu       sync.Mutex
	indices  map[string]*fakeIndex
	aliases  map[string]string // alias → index
	requests []fakeRequest
	// failBulk, if set, answers a bulk request itself (status, body) when it returns a
	// status; 0 lets the request through. It is called with the request's actions.
	failBulk func(n int, ids []string) (int, string)
	// failItem, if set, gives a bulk item's status instead of applying it (0: apply).
	failItem func(n int, id string) int
	// searchHandler answers _search requests the fake does not evaluate.
	searchHandler func(index string, body map[string]any) (int, any)
	bulks         int
	// autoCreated lists the indices a write created, as a real cluster does by default
	// (action.auto_create_index): with dynamic mappings, outside the alias.
	autoCreated []string
	// refreshEvery is the scheduled refresh interval: searches see writes only after a
	// refresh (an explicit _refresh, or the next scheduled one), gets are real-time, and
	// bulk refresh=wait_for waits for the next scheduled refresh. 0 refreshes before
	// every request (writes are searchable at once).
	refreshEvery time.Duration
	lastRefresh  time.Time
	// bulkRefresh counts bulk requests by their refresh parameter.
	bulkRefresh map[string]int
}

type fakeIndex struct {
	body map[string]any
	docs map[string]*fakeDoc
	// visible is what searches see: docs as of the last refresh.
	visible map[string]*fakeDoc
}

func (ix *fakeIndex) refresh() { ix.visible = maps.Clone(ix.docs) }

func (f *fakeES) refreshAll() {
	for _, ix := range f.indices {
		ix.refresh()
	}
	f.lastRefresh = time.Now()
}

type fakeDoc struct {
	version int64
	source  json.RawMessage
}

type fakeRequest struct {
	Method, Path string
	Query        string
	Body         []byte
}

func newFakeES(t testing.TB) (*fakeES, *httptest.Server) {
	f := &fakeES{t: t, indices: map[string]*fakeIndex{}, aliases: map[string]string{}, bulkRefresh: map[string]int{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeES) requestsTo(suffix string) []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []fakeRequest
	for _, r := range f.requests {
		if strings.HasSuffix(r.Path, suffix) {
			out = append(out, r)
		}
	}
	return out
}

// source returns a document's source (nil when missing).
func (f *fakeES) source(index, id string) json.RawMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	if a, ok := f.aliases[index]; ok {
		index = a
	}
	ix := f.indices[index]
	if ix == nil || ix.docs[id] == nil {
		return nil
	}
	return ix.docs[id].source
}

// snapshot copies an index's documents (id → version and source).
func (f *fakeES) snapshot(index string) map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if a, ok := f.aliases[index]; ok {
		index = a
	}
	out := map[string]string{}
	if ix := f.indices[index]; ix != nil {
		for id, d := range ix.docs {
			out[id] = fmt.Sprintf("v%d %s", d.version, d.source)
		}
	}
	return out
}

func (f *fakeES) resolve(name string) string {
	if a, ok := f.aliases[name]; ok {
		return a
	}
	return name
}

func errorBody(status int, typ, reason string) map[string]any {
	return map[string]any{"error": map[string]any{"type": typ, "reason": reason}, "status": status}
}

func (f *fakeES) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, fakeRequest{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Body: body})
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	w.Header().Set("Content-Type", "application/json")
	if f.refreshEvery == 0 || time.Since(f.lastRefresh) >= f.refreshEvery {
		f.refreshAll()
	}
	status, out := f.route(r, body)
	if strings.HasSuffix(r.URL.Path, "/_bulk") && r.URL.Query().Get("refresh") == "wait_for" && f.refreshEvery > 0 {
		// Answer after the next scheduled refresh, as Elasticsearch does.
		next := time.Until(f.lastRefresh.Add(f.refreshEvery))
		f.mu.Unlock()
		select {
		case <-time.After(next):
		case <-r.Context().Done():
		}
		f.mu.Lock()
		f.refreshAll()
	}
	w.WriteHeader(status)
	if raw, ok := out.([]byte); ok {
		_, _ = w.Write(raw)
		return
	}
	_ = json.NewEncoder(w).Encode(out)
}

func (f *fakeES) route(r *http.Request, body []byte) (int, any) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	q := r.URL.Query()
	switch {
	case r.Method == http.MethodGet && len(parts) == 2 && parts[0] == "_alias":
		idx, ok := f.aliases[parts[1]]
		if !ok {
			return 404, errorBody(404, "aliases_not_found_exception", "alias ["+parts[1]+"] missing")
		}
		return 200, map[string]any{idx: map[string]any{"aliases": map[string]any{parts[1]: map[string]any{}}}}
	case r.Method == http.MethodPost && len(parts) == 1 && parts[0] == "_aliases":
		return f.updateAliases(body)
	case r.Method == http.MethodPut && len(parts) == 1:
		if _, ok := f.indices[parts[0]]; ok {
			return 400, errorBody(400, "resource_already_exists_exception", "index ["+parts[0]+"] already exists")
		}
		var b map[string]any
		if err := json.Unmarshal(body, &b); err != nil {
			return 400, errorBody(400, "parse_exception", err.Error())
		}
		f.indices[parts[0]] = &fakeIndex{body: b, docs: map[string]*fakeDoc{}, visible: map[string]*fakeDoc{}}
		return 200, map[string]any{"acknowledged": true, "index": parts[0]}
	case r.Method == http.MethodDelete && len(parts) == 1:
		if _, ok := f.indices[parts[0]]; !ok {
			return 404, errorBody(404, "index_not_found_exception", "no such index ["+parts[0]+"]")
		}
		delete(f.indices, parts[0])
		for a, i := range f.aliases {
			if i == parts[0] {
				delete(f.aliases, a)
			}
		}
		return 200, map[string]any{"acknowledged": true}
	case r.Method == http.MethodGet && len(parts) == 1:
		out := map[string]any{}
		for name, ix := range f.indices {
			if ok, _ := path.Match(parts[0], name); ok {
				out[name] = ix.body
			}
		}
		return 200, out
	case len(parts) == 2 && parts[1] == "_mget":
		return f.mget(f.resolve(parts[0]), body)
	case len(parts) == 2 && parts[1] == "_bulk":
		f.bulkRefresh[q.Get("refresh")]++
		return f.bulk(parts[0], body)
	case r.Method == http.MethodPost && len(parts) == 2 && parts[1] == "_refresh":
		ix := f.indices[f.resolve(parts[0])]
		if ix == nil {
			return 404, errorBody(404, "index_not_found_exception", "no such index ["+parts[0]+"]")
		}
		ix.refresh()
		return 200, map[string]any{"_shards": map[string]any{"total": 1, "successful": 1, "failed": 0}}
	case len(parts) == 3 && parts[1] == "_doc" && r.Method == http.MethodGet:
		ix := f.indices[f.resolve(parts[0])]
		if ix == nil {
			return 404, errorBody(404, "index_not_found_exception", "no such index ["+parts[0]+"]")
		}
		d := ix.docs[parts[2]]
		if d == nil {
			return 404, map[string]any{"_index": parts[0], "_id": parts[2], "found": false}
		}
		return 200, map[string]any{"_index": parts[0], "_id": parts[2], "_version": d.version, "found": true, "_source": d.source}
	case len(parts) == 3 && parts[1] == "_doc" && (r.Method == http.MethodPut || r.Method == http.MethodPost):
		v, err := strconv.ParseInt(q.Get("version"), 10, 64)
		if err != nil || q.Get("version_type") != "external" {
			f.t.Errorf("index %s without an external version: %q", r.URL.Path, r.URL.RawQuery)
		}
		status, res := f.put(f.resolve(parts[0]), parts[2], v, body)
		if status == 409 {
			return 409, errorBody(409, "version_conflict_engine_exception", "version conflict")
		}
		return status, res
	case len(parts) == 2 && parts[1] == "_search":
		var b map[string]any
		if err := json.Unmarshal(body, &b); err != nil {
			return 400, errorBody(400, "parse_exception", err.Error())
		}
		index := f.resolve(parts[0])
		if f.indices[index] == nil {
			return 404, errorBody(404, "index_not_found_exception", "no such index ["+parts[0]+"]")
		}
		if status, res, ok := f.evalSearch(index, b); ok {
			return status, res
		}
		if f.searchHandler != nil {
			return f.searchHandler(index, b)
		}
		return 400, errorBody(400, "fake", "unsupported search")
	}
	return 400, errorBody(400, "fake", "unsupported request "+r.Method+" "+r.URL.Path)
}

func (f *fakeES) updateAliases(body []byte) (int, any) {
	var req struct {
		Actions []map[string]struct {
			Index string `json:"index"`
			Alias string `json:"alias"`
		} `json:"actions"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return 400, errorBody(400, "parse_exception", err.Error())
	}
	next := map[string]string{}
	for k, v := range f.aliases {
		next[k] = v
	}
	for _, a := range req.Actions {
		for op, x := range a {
			if f.indices[x.Index] == nil {
				return 404, errorBody(404, "index_not_found_exception", "no such index ["+x.Index+"]")
			}
			switch op {
			case "add":
				if cur, ok := next[x.Alias]; ok && cur != x.Index {
					return 400, errorBody(400, "illegal_state_exception", "alias ["+x.Alias+"] has more than one index")
				}
				next[x.Alias] = x.Index
			case "remove":
				if next[x.Alias] != x.Index {
					return 404, errorBody(404, "aliases_not_found_exception", "alias missing")
				}
				delete(next, x.Alias)
			default:
				return 400, errorBody(400, "fake", "unsupported alias action "+op)
			}
		}
	}
	f.aliases = next
	return 200, map[string]any{"acknowledged": true}
}

func (f *fakeES) mget(index string, body []byte) (int, any) {
	ix := f.indices[index]
	if ix == nil {
		return 404, errorBody(404, "index_not_found_exception", "no such index ["+index+"]")
	}
	var req struct {
		IDs []string `json:"ids"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return 400, errorBody(400, "parse_exception", err.Error())
	}
	var docs []map[string]any
	for _, id := range req.IDs {
		d := ix.docs[id]
		if d == nil {
			docs = append(docs, map[string]any{"_index": index, "_id": id, "found": false})
			continue
		}
		docs = append(docs, map[string]any{"_index": index, "_id": id, "_version": d.version, "found": true, "_source": d.source})
	}
	return 200, map[string]any{"docs": docs}
}

func (f *fakeES) put(index, id string, version int64, source []byte) (int, any) {
	ix := f.indices[index]
	if ix == nil {
		// Elasticsearch creates a missing index on a write (dynamic mappings).
		ix = &fakeIndex{body: map[string]any{"mappings": map[string]any{"dynamic": true}}, docs: map[string]*fakeDoc{}, visible: map[string]*fakeDoc{}}
		f.indices[index] = ix
		f.autoCreated = append(f.autoCreated, index)
	}
	if d := ix.docs[id]; d != nil && version <= d.version {
		return 409, nil
	}
	var check map[string]any
	if err := json.Unmarshal(source, &check); err != nil {
		return 400, errorBody(400, "mapper_parsing_exception", err.Error())
	}
	ix.docs[id] = &fakeDoc{version: version, source: append(json.RawMessage(nil), source...)}
	return 201, map[string]any{"_index": index, "_id": id, "_version": version, "result": "created"}
}

func (f *fakeES) bulk(defaultIndex string, body []byte) (int, any) {
	f.bulks++
	n := f.bulks
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	type action struct {
		Index       string `json:"_index"`
		ID          string `json:"_id"`
		Version     int64  `json:"version"`
		VersionType string `json:"version_type"`
	}
	var (
		actions []action
		sources [][]byte
	)
	for sc.Scan() {
		var a map[string]action
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			return 400, errorBody(400, "parse_exception", err.Error())
		}
		x, ok := a["index"]
		if !ok || len(a) != 1 {
			return 400, errorBody(400, "fake", "only index actions are supported")
		}
		if x.VersionType != "external" {
			f.t.Errorf("bulk action without version_type external: %+v", x)
		}
		if !sc.Scan() {
			return 400, errorBody(400, "parse_exception", "action without a source")
		}
		if x.Index == "" {
			x.Index = defaultIndex
		}
		actions = append(actions, x)
		sources = append(sources, append([]byte(nil), sc.Bytes()...))
	}
	if !bytes.HasSuffix(body, []byte("\n")) {
		return 400, errorBody(400, "parse_exception", "the bulk request must be terminated by a newline")
	}
	if f.failBulk != nil {
		ids := make([]string, len(actions))
		for i, a := range actions {
			ids[i] = a.ID
		}
		if status, msg := f.failBulk(n, ids); status != 0 {
			return status, errorBody(status, "fake_failure", msg)
		}
	}
	var (
		items  []map[string]any
		errors bool
	)
	for i, a := range actions {
		status := 0
		if f.failItem != nil {
			status = f.failItem(n, a.ID)
		}
		var item map[string]any
		if status == 0 {
			var res any
			status, res = f.put(f.resolve(a.Index), a.ID, a.Version, sources[i])
			if m, ok := res.(map[string]any); ok && status >= 400 {
				item = m
			}
		}
		if item == nil {
			item = map[string]any{"_index": a.Index, "_id": a.ID, "status": status}
		}
		item["_id"], item["status"] = a.ID, status
		if status >= 300 {
			errors = true
			typ := "fake_failure"
			if status == 409 {
				typ = "version_conflict_engine_exception"
			}
			item["error"] = map[string]any{"type": typ, "reason": "fake"}
		}
		items = append(items, map[string]any{"index": item})
	}
	return 200, map[string]any{"took": 1, "errors": errors, "items": items}
}

// evalSearch answers the searches the rebuild's hashing sends: one kind, sorted by one
// keyword field, search_after, size.
func (f *fakeES) evalSearch(index string, b map[string]any) (int, any, bool) {
	if _, ok := b["aggs"]; ok {
		return 0, nil, false
	}
	if ids, ok := b["query"].(map[string]any)["ids"].(map[string]any); ok {
		var out []map[string]any
		for _, id := range ids["values"].([]any) {
			if d := f.indices[index].visible[id.(string)]; d != nil {
				out = append(out, map[string]any{"_id": id, "_source": d.source})
			}
		}
		return 200, map[string]any{"hits": map[string]any{"hits": out}}, true
	}
	sorts, _ := b["sort"].([]any)
	if len(sorts) != 1 {
		return 0, nil, false
	}
	var field string
	for k, v := range sorts[0].(map[string]any) {
		if v != "asc" {
			return 0, nil, false
		}
		field = k
	}
	kind := ""
	if qb, ok := b["query"].(map[string]any)["bool"].(map[string]any); ok {
		for _, fl := range qb["filter"].([]any) {
			if t, ok := fl.(map[string]any)["term"].(map[string]any); ok {
				if k, ok := t["kind"].(string); ok {
					kind = k
				}
			}
		}
		if _, ok := qb["must"]; ok {
			return 0, nil, false
		}
	}
	if kind == "" {
		return 0, nil, false
	}
	type hit struct {
		key string
		src json.RawMessage
	}
	var hits []hit
	for _, d := range f.indices[index].visible {
		var src map[string]any
		_ = json.Unmarshal(d.source, &src)
		if src["kind"] != kind {
			continue
		}
		key, _ := src[field].(string)
		hits = append(hits, hit{key, d.source})
	}
	slices.SortFunc(hits, func(a, b hit) int { return strings.Compare(a.key, b.key) })
	if after, ok := b["search_after"].([]any); ok && len(after) == 1 {
		k := after[0].(string)
		i := 0
		for i < len(hits) && hits[i].key <= k {
			i++
		}
		hits = hits[i:]
	}
	size := int(b["size"].(float64))
	if len(hits) > size {
		hits = hits[:size]
	}
	var out []map[string]any
	for _, h := range hits {
		out = append(out, map[string]any{"_source": h.src, "sort": []any{h.key}})
	}
	return 200, map[string]any{"hits": map[string]any{"hits": out}}, true
}
