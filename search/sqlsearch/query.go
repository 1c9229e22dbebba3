package sqlsearch

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/projections"
	"github.com/orderengine/orderengine/search"
	"github.com/orderengine/orderengine/search/internal/docs"
	"github.com/orderengine/orderengine/search/internal/plan"
)

// builder collects the arguments of a statement ($n placeholders, both dialects).
type builder struct {
	args []any
}

func (b *builder) arg(v any) string {
	b.args = append(b.args, v)
	return "$" + strconv.Itoa(len(b.args))
}

func (b *builder) list(vs []string) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = b.arg(v)
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// hitCols are the columns of m, the matching documents.
const hitCols = `d.product_id, d.doc_id, d.sku, d.name, d.name_key, d.description, d.brand, d.category, d.images,
	d.attrs, d.currency, d.price, d.max_price, d.available, d.in_stock, d.created_at, d.position`

// match is a query's text condition in the dialect's syntax ("" for none).
type match struct {
	expr string
}

// cte is "WITH m AS (…)": the active documents matching the text and the filters that
// no facet ignores (in stock, currency), with their score.
//
// The page reads every column of a hit and the score; counts (hits false) only what
// the filters and facets need, materialized once.
func (ix *Index) cte(b *builder, p *plan.Plan, m match, hits bool) string {
	var s strings.Builder
	if hits {
		s.WriteString("WITH m AS (SELECT " + hitCols)
	} else {
		s.WriteString("WITH m AS MATERIALIZED (SELECT d.product_id, d.brand, d.category, d.price")
	}
	switch {
	case m.expr == "":
		if hits {
			s.WriteString(", CAST(0 AS DOUBLE PRECISION) AS score")
		}
		s.WriteString(" FROM {search_docs} d WHERE d.active")
	case ix.pg:
		q := b.arg(m.expr)
		if hits {
			s.WriteString(", CAST(ts_rank_cd(d.tsv, q) AS DOUBLE PRECISION) AS score")
		}
		s.WriteString(" FROM {search_docs} d, to_tsquery('english', " + q + ") q WHERE d.tsv @@ q AND d.active")
	default:
		q := b.arg(m.expr)
		if hits {
			s.WriteString(", -bm25({search_fts}, " + sqliteWeights + ") AS score")
		}
		s.WriteString(" FROM {search_fts} JOIN {search_docs} d ON d.doc_id = {search_fts}.rowid WHERE {search_fts} MATCH " + q + " AND d.active")
	}
	if p.InStock {
		s.WriteString(" AND d.in_stock")
	}
	if p.Currency != "" {
		s.WriteString(" AND d.currency = " + b.arg(p.Currency))
	}
	s.WriteString(") ")
	return s.String()
}

// Dimensions a facet ignores the filter of.
const (
	dimBrand    = "brand"
	dimCategory = "category"
	dimPrice    = "price"
	dimAttr     = "attr:"
)

// filters are the multi-select filters on m, except the dimension except.
func filters(b *builder, p *plan.Plan, except string) []string {
	var out []string
	if len(p.Brands) > 0 && except != dimBrand {
		out = append(out, "m.brand IN "+b.list(p.Brands))
	}
	if len(p.Categories) > 0 && except != dimCategory {
		out = append(out, "m.category IN "+b.list(p.Categories))
	}
	if except != dimPrice {
		if p.MinPrice != nil {
			out = append(out, "m.price >= "+b.arg(*p.MinPrice))
		}
		if p.MaxPrice != nil {
			out = append(out, "m.price <= "+b.arg(*p.MaxPrice))
		}
	}
	for _, a := range p.Attrs {
		if except == dimAttr+a.Name {
			continue
		}
		out = append(out, "EXISTS (SELECT 1 FROM {search_attrs} a WHERE a.product_id = m.product_id AND a.name = "+
			b.arg(a.Name)+" AND a.value IN "+b.list(a.Values)+")")
	}
	return out
}

func where(conds []string) string {
	if len(conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(conds, " AND ")
}

var sortColumns = map[string]string{
	plan.KeyRelevance: "m.score", plan.KeyPrice: "m.price", plan.KeyName: "m.name_key", plan.KeyCreated: "m.created_at",
}

// Search implements search.Index.
func (ix *Index) Search(ctx context.Context, q search.Query) (search.Result, error) {
	p, err := plan.New(q)
	if err != nil {
		return search.Result{}, err
	}
	v, err := ix.db.View(ctx, ix.proj)
	if err != nil {
		return search.Result{}, err
	}
	defer v.Close()
	m, err := ix.textMatch(ctx, v, p.Tokens)
	if err != nil {
		return search.Result{}, err
	}
	res := search.Result{Position: v.Position(), Items: []search.Hit{}}

	// The page.
	b := &builder{}
	query := ix.cte(b, p, m, true) + "SELECT m.*"
	if ix.pg && m.expr != "" {
		query += ", ts_headline('english', m.name, to_tsquery('english', " + b.arg(m.expr) + "), " + b.arg(headlineOptions) + ")"
	}
	query += " FROM m"
	conds := filters(b, p, "")
	col := sortColumns[p.Sort.Key]
	dir := " ASC"
	if p.Sort.Desc {
		dir = " DESC"
	}
	if c := p.Cursor; c != nil {
		var key any
		switch p.Sort.Key {
		case plan.KeyRelevance:
			key = c.Score
		case plan.KeyName:
			key = c.S
		default:
			key = c.N
		}
		op := ">"
		if p.Sort.Desc {
			op = "<"
		}
		k, id := b.arg(key), b.arg(c.ID)
		conds = append(conds, fmt.Sprintf("(%s %s %s OR (%s = %s AND m.product_id > %s))", col, op, k, col, k, id))
	}
	query += where(conds) + " ORDER BY " + col + dir + ", m.product_id ASC LIMIT " + b.arg(p.Limit+1)
	rows, err := v.Query(ctx, query, b.args...)
	if err != nil {
		return search.Result{}, fmt.Errorf("search: %w", err)
	}
	hits, keys, err := ix.scanHits(rows, ix.pg && m.expr != "")
	if err != nil {
		return search.Result{}, fmt.Errorf("search: %w", err)
	}
	if len(hits) > p.Limit {
		hits, keys = hits[:p.Limit], keys[:p.Limit]
		last, k := hits[p.Limit-1], keys[p.Limit-1]
		c := plan.Cursor{Sort: p.Sort.Name, ID: last.ID}
		switch p.Sort.Key {
		case plan.KeyRelevance:
			c.Score = last.Score
		case plan.KeyName:
			c.S = k.nameKey
		case plan.KeyPrice:
			c.N = last.MinPrice.Amount
		default:
			c.N = k.created
		}
		res.NextCursor = c.Encode()
	}
	if !ix.pg && m.expr != "" && len(hits) > 0 {
		if err := ix.highlight(ctx, v, m, hits, keys); err != nil {
			return search.Result{}, err
		}
	}
	res.Items = hits

	// The total and the facets, in one statement over the matching documents (a first
	// and only page without facets is its own total).
	if len(p.Facets) == 0 && p.Cursor == nil && res.NextCursor == "" {
		res.Total = int64(len(hits))
		return res, nil
	}
	if err := ix.aggregate(ctx, v, p, m, &res); err != nil {
		return search.Result{}, err
	}
	return res, nil
}

// headlineOptions mark every match of the name with the plan's marks.
const headlineOptions = "HighlightAll=true, StartSel=" + plan.MarkStart + ", StopSel=" + plan.MarkEnd

// aggregate counts the matches and the facets in one statement: the matching
// documents are materialized once, then each count is a branch of a UNION ALL whose
// rows are (branch, value, count).
func (ix *Index) aggregate(ctx context.Context, v *projections.View, p *plan.Plan, m match, res *search.Result) error {
	b := &builder{}
	query := ix.cte(b, p, m, false)
	branches := []string{"SELECT 't' AS k, '' AS v, count(*) AS n FROM m" + where(filters(b, p, ""))}
	for i, f := range p.Facets {
		label := "'" + strconv.Itoa(i) + "'"
		switch f.Kind {
		case plan.FacetTerms:
			col := "m." + f.Field // brand or category: validated names
			branches = append(branches, "SELECT * FROM (SELECT "+label+" AS k, "+col+" AS v, count(*) AS n FROM m"+
				where(append(filters(b, p, f.Field), col+" <> ''"))+
				" GROUP BY "+col+" ORDER BY count(*) DESC, "+col+" LIMIT "+b.arg(p.FacetSize)+") f"+strconv.Itoa(i))
		case plan.FacetAttr:
			name := b.arg(f.Field)
			branches = append(branches, "SELECT * FROM (SELECT "+label+" AS k, a.value AS v, count(*) AS n FROM {search_attrs} a"+
				" WHERE a.name = "+name+" AND a.product_id IN (SELECT m.product_id FROM m"+where(filters(b, p, dimAttr+f.Field))+")"+
				" GROUP BY a.value ORDER BY count(*) DESC, a.value LIMIT "+b.arg(p.FacetSize)+") f"+strconv.Itoa(i))
		case plan.FacetPrice:
			for j, r := range p.Ranges {
				conds := append(filters(b, p, dimPrice), "m.price >= "+b.arg(r.From))
				if r.To != 0 {
					conds = append(conds, "m.price < "+b.arg(r.To))
				}
				branches = append(branches, "SELECT "+label+" AS k, '"+strconv.Itoa(j)+"' AS v, count(*) AS n FROM m"+where(conds))
			}
		}
	}
	query += strings.Join(branches, " UNION ALL ")
	rows, err := v.Query(ctx, query, b.args...)
	if err != nil {
		return fmt.Errorf("search: count: %w", err)
	}
	defer rows.Close()
	terms := map[int][]search.FacetCount{}
	prices := map[int]map[int]int64{}
	for rows.Next() {
		var (
			k, val string
			n      int64
		)
		if err := rows.Scan(&k, &val, &n); err != nil {
			return err
		}
		if k == "t" {
			res.Total = n
			continue
		}
		i, _ := strconv.Atoi(k)
		if p.Facets[i].Kind == plan.FacetPrice {
			j, _ := strconv.Atoi(val)
			if prices[i] == nil {
				prices[i] = map[int]int64{}
			}
			prices[i][j] = n
			continue
		}
		terms[i] = append(terms[i], search.FacetCount{Value: val, Count: n})
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(p.Facets) > 0 {
		res.Facets = map[string][]search.FacetCount{}
	}
	for i, f := range p.Facets {
		if f.Kind == plan.FacetPrice {
			res.Facets[f.Name] = plan.PriceBuckets(p.Ranges, prices[i])
			continue
		}
		res.Facets[f.Name] = plan.SortCounts(append([]search.FacetCount{}, terms[i]...), p.FacetSize)
	}
	return nil
}

type hitKey struct {
	docID   int64
	nameKey string
	created int64
}

func (ix *Index) scanHits(rows *sql.Rows, headline bool) ([]search.Hit, []hitKey, error) {
	defer rows.Close()
	var (
		hits []search.Hit
		keys []hitKey
	)
	for rows.Next() {
		var (
			h                  search.Hit
			k                  hitKey
			images, attrs, cur string
			lo, hi, pos        int64
			marked             sql.NullString
		)
		dest := []any{&h.ID, &k.docID, &h.SKU, &h.Name, &k.nameKey, &h.Description, &h.Brand, &h.Category, &images,
			&attrs, &cur, &lo, &hi, &h.Available, &h.InStock, &k.created, &pos, &h.Score}
		if headline {
			dest = append(dest, &marked)
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, nil, err
		}
		if err := json.Unmarshal([]byte(images), &h.Images); err != nil {
			return nil, nil, err
		}
		if err := json.Unmarshal([]byte(attrs), &h.Attributes); err != nil {
			return nil, nil, err
		}
		if len(h.Images) == 0 {
			h.Images = nil
		}
		if len(h.Attributes) == 0 {
			h.Attributes = nil
		}
		h.MinPrice = domain.Money{Amount: lo, Currency: cur}
		h.MaxPrice = domain.Money{Amount: hi, Currency: cur}
		h.CreatedAt = time.Unix(0, k.created).UTC()
		h.Position = uint64(pos)
		h.Highlight = plan.Highlight(marked.String)
		hits = append(hits, h)
		keys = append(keys, k)
	}
	return hits, keys, rows.Err()
}

// highlight marks the names of a page's hits (SQLite: FTS5's highlight()).
func (ix *Index) highlight(ctx context.Context, v *projections.View, m match, hits []search.Hit, keys []hitKey) error {
	b := &builder{}
	start, end, q := b.arg(plan.MarkStart), b.arg(plan.MarkEnd), b.arg(m.expr)
	ids := make([]string, len(keys))
	idx := map[int64]int{}
	for i, k := range keys {
		ids[i] = b.arg(k.docID)
		idx[k.docID] = i
	}
	rows, err := v.Query(ctx, "SELECT rowid, highlight({search_fts}, 0, "+start+", "+end+") FROM {search_fts} WHERE {search_fts} MATCH "+q+
		" AND rowid IN ("+strings.Join(ids, ", ")+")", b.args...)
	if err != nil {
		return fmt.Errorf("search: highlight: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id     int64
			marked string
		)
		if err := rows.Scan(&id, &marked); err != nil {
			return err
		}
		if i, ok := idx[id]; ok {
			hits[i].Highlight = plan.Highlight(marked)
		}
	}
	return rows.Err()
}

// textMatch builds the text condition: every token, or (when the vocabulary does not
// know it) it or its close spellings.
func (ix *Index) textMatch(ctx context.Context, v *projections.View, tokens []string) (match, error) {
	if len(tokens) == 0 {
		return match{}, nil
	}
	fixes, err := ix.corrections(ctx, v, tokens, false)
	if err != nil {
		return match{}, err
	}
	alts := make([][]string, len(tokens))
	for i, t := range tokens {
		alts[i] = append([]string{t}, fixes[t]...)
	}
	return match{expr: ix.expr(alts, false)}, nil
}

// expr renders a conjunction of alternatives: FTS5 query syntax, or to_tsquery's.
// prefixLast makes the last token's alternatives prefixes.
func (ix *Index) expr(alts [][]string, prefixLast bool) string {
	parts := make([]string, len(alts))
	for i, as := range alts {
		prefix := prefixLast && i == len(alts)-1
		terms := make([]string, len(as))
		for j, a := range as {
			switch {
			case ix.pg && prefix:
				terms[j] = a + ":*"
			case ix.pg:
				terms[j] = a
			case prefix:
				terms[j] = `"` + a + `"*`
			default:
				terms[j] = `"` + a + `"`
			}
		}
		if len(terms) == 1 {
			parts[i] = terms[0]
			continue
		}
		sep := " OR "
		if ix.pg {
			sep = " | "
		}
		parts[i] = "(" + strings.Join(terms, sep) + ")"
	}
	if ix.pg {
		return strings.Join(parts, " & ")
	}
	return strings.Join(parts, " AND ")
}

// Suggest implements search.Index: product names and brands with words starting with
// the last word typed (the others complete), best matches first; when nothing matches,
// the same with close spellings of the words.
func (ix *Index) Suggest(ctx context.Context, prefix string, limit int) ([]search.Suggestion, error) {
	limit, err := plan.SuggestLimit(limit)
	if err != nil {
		return nil, err
	}
	if len(prefix) > search.MaxTextLength {
		return nil, fmt.Errorf("%w: prefix is longer than %d bytes", search.ErrBadRequest, search.MaxTextLength)
	}
	tokens := docs.Tokens(prefix)
	if len(tokens) > plan.MaxTokens {
		tokens = tokens[len(tokens)-plan.MaxTokens:]
	}
	out := []search.Suggestion{}
	if len(tokens) == 0 {
		return out, nil
	}
	v, err := ix.db.View(ctx, ix.proj)
	if err != nil {
		return nil, err
	}
	defer v.Close()
	alts := make([][]string, len(tokens))
	for i, t := range tokens {
		alts[i] = []string{t}
	}
	out, err = ix.suggest(ctx, v, ix.expr(alts, true), limit)
	if err != nil || len(out) > 0 {
		return out, err
	}
	fixes, err := ix.corrections(ctx, v, tokens, true)
	if err != nil || len(fixes) == 0 {
		return out, err
	}
	for i, t := range tokens {
		alts[i] = append(alts[i], fixes[t]...)
	}
	return ix.suggest(ctx, v, ix.expr(alts, true), limit)
}

func (ix *Index) suggest(ctx context.Context, v *projections.View, expr string, limit int) ([]search.Suggestion, error) {
	b := &builder{}
	var query string
	if ix.pg {
		query = "SELECT d.product_id, d.name FROM {search_docs} d, to_tsquery('simple', " + b.arg(expr) + ") q" +
			" WHERE d.active AND d.suggest @@ q ORDER BY ts_rank(d.suggest, q) DESC, d.name_key, d.product_id LIMIT " + b.arg(limit)
	} else {
		query = "SELECT d.product_id, d.name FROM {search_suggest} JOIN {search_docs} d ON d.doc_id = {search_suggest}.rowid" +
			" WHERE {search_suggest} MATCH " + b.arg(expr) + " ORDER BY bm25({search_suggest}, 4.0, 1.0), d.name_key, d.product_id LIMIT " + b.arg(limit)
	}
	rows, err := v.Query(ctx, query, b.args...)
	if err != nil {
		return nil, fmt.Errorf("search: suggest: %w", err)
	}
	defer rows.Close()
	out := []search.Suggestion{}
	for rows.Next() {
		var s search.Suggestion
		if err := rows.Scan(&s.ProductID, &s.Text); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// corrections finds, for each token the vocabulary does not know (and that is long
// enough to have typos), the vocabulary's closest words: up to docs.MaxEdits edits
// (optimal string alignment), the closest and most frequent first. With prefixLast,
// the last token is a prefix: its corrections are words starting within one edit of
// it. Candidates come from the words table: SQLite scans the words of a similar length
// (or, for a prefix, with the same first letter); PostgreSQL asks pg_trgm's trigram
// index (similarity, word_similarity) and the words sharing the first two letters.
func (ix *Index) corrections(ctx context.Context, v *projections.View, tokens []string, prefixLast bool) (map[string][]string, error) {
	complete := tokens
	var last string
	if prefixLast {
		complete, last = tokens[:len(tokens)-1], tokens[len(tokens)-1]
	}
	var check []string
	for _, t := range complete {
		if docs.MaxEdits(t) > 0 {
			check = append(check, t)
		}
	}
	unknown := map[string]bool{}
	if len(check) > 0 {
		b := &builder{}
		rows, err := v.Query(ctx, "SELECT word FROM {search_words} WHERE word IN "+b.list(check), b.args...)
		if err != nil {
			return nil, fmt.Errorf("search: vocabulary: %w", err)
		}
		known := map[string]bool{}
		for rows.Next() {
			var w string
			if err := rows.Scan(&w); err != nil {
				rows.Close()
				return nil, err
			}
			known[w] = true
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return nil, err
		}
		for _, t := range check {
			if known[t] {
				continue
			}
			// A word the vocabulary lacks may still match through stemming
			// ("jackets"): correct only words that match nothing.
			found, err := ix.matchesAny(ctx, v, t)
			if err != nil {
				return nil, err
			}
			if !found {
				unknown[t] = true
			}
		}
	}
	prefixFix := last != "" && len([]rune(last)) >= 3
	if len(unknown) == 0 && !prefixFix {
		return nil, nil
	}
	if ix.pg {
		var a, b string
		if err := v.QueryRow(ctx, "SELECT set_config('pg_trgm.similarity_threshold', '0.2', true), set_config('pg_trgm.word_similarity_threshold', '0.3', true)").Scan(&a, &b); err != nil {
			return nil, fmt.Errorf("search: pg_trgm thresholds: %w", err)
		}
	}
	out := map[string][]string{}
	for _, t := range sortedKeys(unknown) {
		limit := docs.MaxEdits(t)
		cands, err := ix.candidates(ctx, v, t, limit, false)
		if err != nil {
			return nil, err
		}
		var cs []docs.Correction
		for _, c := range cands {
			if d := docs.Distance(t, c.Word, limit); d <= limit && c.Word != t {
				c.Distance = d
				cs = append(cs, c)
			}
		}
		if best := docs.Best(cs); len(best) > 0 {
			out[t] = best
		}
	}
	if prefixFix {
		cands, err := ix.candidates(ctx, v, last, 1, true)
		if err != nil {
			return nil, err
		}
		var cs []docs.Correction
		for _, c := range cands {
			if d := docs.PrefixDistance(last, c.Word, 1); d == 1 {
				c.Distance = d
				// Offer the corrected prefix: the word cut to the typed length.
				c.Word = string([]rune(c.Word)[:min(len([]rune(c.Word)), len([]rune(last)))])
				cs = append(cs, c)
			}
		}
		if best := docs.Best(cs); len(best) > 0 {
			out[last] = best
		}
	}
	return out, nil
}

// matchesAny reports whether any active document matches word.
func (ix *Index) matchesAny(ctx context.Context, v *projections.View, word string) (bool, error) {
	b := &builder{}
	var query string
	if ix.pg {
		query = "SELECT count(*) FROM (SELECT 1 FROM {search_docs} WHERE active AND tsv @@ to_tsquery('english', " + b.arg(word) + ") LIMIT 1) x"
	} else {
		query = "SELECT count(*) FROM (SELECT 1 FROM {search_fts} WHERE {search_fts} MATCH " + b.arg(`"`+word+`"`) + " LIMIT 1) x"
	}
	var n int
	if err := v.QueryRow(ctx, query, b.args...).Scan(&n); err != nil {
		return false, fmt.Errorf("search: vocabulary: %w", err)
	}
	return n > 0, nil
}

func (ix *Index) candidates(ctx context.Context, v *projections.View, t string, limit int, prefix bool) ([]docs.Correction, error) {
	b := &builder{}
	var query string
	runes := []rune(t)
	switch {
	case ix.pg && prefix:
		query = "SELECT word, docs FROM {search_words} WHERE " + b.arg(t) + " OPERATOR(" + quoteIdent(ix.proj.trgm) + ".<%) word" +
			" OR word LIKE " + b.arg(string(runes[:1])+"%")
	case ix.pg:
		query = "SELECT word, docs FROM {search_words} WHERE word OPERATOR(" + quoteIdent(ix.proj.trgm) + ".%) " + b.arg(t) +
			" OR word LIKE " + b.arg(string(runes[:2])+"%")
	case prefix:
		first := runes[0]
		query = "SELECT word, docs FROM {search_words} WHERE word >= " + b.arg(string(first)) + " AND word < " + b.arg(string(first+1))
	default:
		n := len(runes)
		query = "SELECT word, docs FROM {search_words} WHERE len BETWEEN " + b.arg(n-limit) + " AND " + b.arg(n+limit)
	}
	rows, err := v.Query(ctx, query, b.args...)
	if err != nil {
		return nil, fmt.Errorf("search: corrections: %w", err)
	}
	defer rows.Close()
	var out []docs.Correction
	for rows.Next() {
		var c docs.Correction
		if err := rows.Scan(&c.Word, &c.Docs); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
