package elastic

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/search"
	"github.com/orderengine/orderengine/search/internal/docs"
	"github.com/orderengine/orderengine/search/internal/plan"
)

// textFields are the fields a query word is matched against, with their boosts.
var textFields = []string{"name^4", "brand.text^2", "category.text^2", "description", "attrText"}

// sourceFields are the fields of a hit.
var sourceFields = []string{"productId", "sku", "name", "nameKey", "description", "brand", "category", "images",
	"attributes", "currency", "price", "maxPrice", "available", "inStock", "created", "createdAt", "position"}

func term(field string, v any) m  { return m{"term": m{field: v}} }
func terms(field string, v any) m { return m{"terms": m{field: v}} }

// baseFilters apply to hits and facets alike.
func baseFilters(p *plan.Plan) []m {
	f := []m{term("kind", kindProduct), term("active", true)}
	if p.InStock {
		f = append(f, term("inStock", true))
	}
	if p.Currency != "" {
		f = append(f, term("currency", p.Currency))
	}
	return f
}

func attrPairs(a plan.Attr) []string {
	out := make([]string, len(a.Values))
	for i, v := range a.Values {
		out[i] = a.Name + "=" + v
	}
	return out
}

// facetFilters are the multi-select filters except the dimension except ("brand",
// "category", "price" or "attr:NAME").
func facetFilters(p *plan.Plan, except string) []m {
	var f []m
	if len(p.Brands) > 0 && except != "brand" {
		f = append(f, terms("brand", p.Brands))
	}
	if len(p.Categories) > 0 && except != "category" {
		f = append(f, terms("category", p.Categories))
	}
	if p.HasPrice() && except != "price" {
		r := m{}
		if p.MinPrice != nil {
			r["gte"] = *p.MinPrice
		}
		if p.MaxPrice != nil {
			r["lte"] = *p.MaxPrice
		}
		f = append(f, m{"range": m{"price": r}})
	}
	for _, a := range p.Attrs {
		if except != "attr:"+a.Name {
			f = append(f, terms("attrs", attrPairs(a)))
		}
	}
	return f
}

func boolFilter(f []m) m {
	if len(f) == 0 {
		return m{"match_all": m{}}
	}
	return m{"bool": m{"filter": f}}
}

// luceneRegexpEscape escapes the characters Lucene's regular expressions reserve.
func luceneRegexpEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`.?+*|{}[]()"\#@&<>~`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

var sortFields = map[string]string{plan.KeyPrice: "price", plan.KeyName: "nameKey", plan.KeyCreated: "created"}

// searchBody is the _search request of a plan.
func searchBody(p *plan.Plan) m {
	query := m{"filter": baseFilters(p)}
	if len(p.Tokens) > 0 {
		must := make([]m, len(p.Tokens))
		for i, t := range p.Tokens {
			must[i] = m{"multi_match": m{"query": t, "fields": textFields, "type": "best_fields", "operator": "and",
				"fuzziness": docs.Fuzziness, "zero_terms_query": "all"}}
		}
		query["must"] = must
	}
	body := m{
		"size":             p.Limit + 1,
		"track_total_hits": true,
		"_source":          sourceFields,
		"query":            m{"bool": query},
	}
	if f := facetFilters(p, ""); len(f) > 0 {
		body["post_filter"] = boolFilter(f)
	}
	if len(p.Facets) > 0 {
		aggs := m{}
		for i, f := range p.Facets {
			var inner m
			except := f.Field
			switch f.Kind {
			case plan.FacetTerms:
				inner = m{"terms": m{"field": f.Field, "size": p.FacetSize, "exclude": []string{""},
					"order": []m{{"_count": "desc"}, {"_key": "asc"}}}}
			case plan.FacetAttr:
				except = "attr:" + f.Field
				inner = m{"terms": m{"field": "attrs", "size": p.FacetSize, "include": luceneRegexpEscape(f.Field) + "=.*",
					"order": []m{{"_count": "desc"}, {"_key": "asc"}}}}
			case plan.FacetPrice:
				except = "price"
				ranges := make([]m, len(p.Ranges))
				for j, r := range p.Ranges {
					ranges[j] = m{"key": r.Key(), "from": r.From}
					if r.To != 0 {
						ranges[j]["to"] = r.To
					}
				}
				inner = m{"range": m{"field": "price", "ranges": ranges}}
			}
			aggs["f"+strconv.Itoa(i)] = m{"filter": boolFilter(facetFilters(p, except)), "aggs": m{"values": inner}}
		}
		body["aggs"] = aggs
	}
	var sort []m
	switch p.Sort.Key {
	case plan.KeyRelevance:
		sort = []m{{"_score": "desc"}, {"productId": "asc"}}
	default:
		dir := "asc"
		if p.Sort.Desc {
			dir = "desc"
		}
		sort = []m{{sortFields[p.Sort.Key]: dir}, {"productId": "asc"}}
	}
	body["sort"] = sort
	if len(p.Tokens) > 0 {
		body["track_scores"] = true
		body["highlight"] = m{"pre_tags": []string{plan.MarkStart}, "post_tags": []string{plan.MarkEnd},
			"fields": m{"name": m{"number_of_fragments": 0}}}
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
		body["search_after"] = []any{key, c.ID}
	}
	return body
}

// searchResponse is the part of a _search answer the backend reads.
type searchResponse struct {
	Hits struct {
		Total struct {
			Value int64 `json:"value"`
		} `json:"total"`
		Hits []struct {
			ID        string              `json:"_id"`
			Score     *float64            `json:"_score"`
			Source    productDoc          `json:"_source"`
			Highlight map[string][]string `json:"highlight"`
		} `json:"hits"`
	} `json:"hits"`
	Aggregations map[string]struct {
		Values struct {
			Buckets []struct {
				Key      json.RawMessage `json:"key"`
				DocCount int64           `json:"doc_count"`
			} `json:"buckets"`
		} `json:"values"`
	} `json:"aggregations"`
}

// result turns a _search answer into a page.
func result(p *plan.Plan, res *searchResponse) (search.Result, error) {
	out := search.Result{Items: []search.Hit{}, Total: res.Hits.Total.Value}
	hits := res.Hits.Hits
	more := len(hits) > p.Limit
	if more {
		hits = hits[:p.Limit]
	}
	for _, h := range hits {
		d := h.Source
		hit := search.Hit{ID: d.ProductID, SKU: d.SKU, Name: d.Name, Description: d.Description, Brand: d.Brand,
			Category: d.Category, Images: d.Images, Attributes: d.Attributes,
			MinPrice: domain.Money{Amount: d.Price, Currency: d.Currency}, MaxPrice: domain.Money{Amount: d.MaxPrice, Currency: d.Currency},
			Available: d.Available, InStock: d.InStock, CreatedAt: time.Unix(0, d.Created).UTC(), Position: d.Position}
		if len(hit.Images) == 0 {
			hit.Images = nil
		}
		if len(hit.Attributes) == 0 {
			hit.Attributes = nil
		}
		if h.Score != nil {
			hit.Score = *h.Score
		}
		if hl := h.Highlight["name"]; len(hl) > 0 {
			hit.Highlight = plan.Highlight(hl[0])
		}
		out.Items = append(out.Items, hit)
	}
	if more && len(hits) > 0 {
		last := hits[len(hits)-1]
		c := plan.Cursor{Sort: p.Sort.Name, ID: last.Source.ProductID}
		switch p.Sort.Key {
		case plan.KeyRelevance:
			if last.Score != nil {
				c.Score = *last.Score
			}
		case plan.KeyName:
			c.S = last.Source.NameKey
		case plan.KeyPrice:
			c.N = last.Source.Price
		default:
			c.N = last.Source.Created
		}
		out.NextCursor = c.Encode()
	}
	if len(p.Facets) > 0 {
		out.Facets = map[string][]search.FacetCount{}
	}
	for i, f := range p.Facets {
		agg, ok := res.Aggregations["f"+strconv.Itoa(i)]
		if !ok && res.Aggregations != nil {
			return search.Result{}, fmt.Errorf("search: the answer lacks the aggregation of facet %s", f.Name)
		}
		if f.Kind == plan.FacetPrice {
			counts := map[int]int64{}
			index := map[string]int{}
			for j, r := range p.Ranges {
				index[r.Key()] = j
			}
			for _, b := range agg.Values.Buckets {
				var key string
				if err := json.Unmarshal(b.Key, &key); err != nil {
					return search.Result{}, fmt.Errorf("search: price bucket key %s: %w", b.Key, err)
				}
				if j, ok := index[key]; ok {
					counts[j] = b.DocCount
				}
			}
			out.Facets[f.Name] = plan.PriceBuckets(p.Ranges, counts)
			continue
		}
		counts := []search.FacetCount{}
		for _, b := range agg.Values.Buckets {
			var key string
			if err := json.Unmarshal(b.Key, &key); err != nil {
				return search.Result{}, fmt.Errorf("search: facet %s key %s: %w", f.Name, b.Key, err)
			}
			if f.Kind == plan.FacetAttr {
				var ok bool
				if key, ok = strings.CutPrefix(key, f.Field+"="); !ok {
					continue
				}
			}
			counts = append(counts, search.FacetCount{Value: key, Count: b.DocCount})
		}
		out.Facets[f.Name] = plan.SortCounts(counts, p.FacetSize)
	}
	return out, nil
}

// Search implements search.Index. The searchable position is read before the query:
// the query sees at least every event up to it (refreshes only add; documents are
// written before their checkpoint).
func (b *Backend) Search(ctx context.Context, q search.Query) (search.Result, error) {
	p, err := plan.New(q)
	if err != nil {
		return search.Result{}, err
	}
	pos, err := b.c.searchablePosition(ctx, b.c.alias)
	if err != nil {
		return search.Result{}, err
	}
	var res searchResponse
	err = b.c.do(ctx, esapi.SearchRequest{Index: []string{b.c.alias}, Body: jsonBody(searchBody(p))}, &res)
	if isNotFound(err) {
		res = searchResponse{} // no index yet: nothing found
	} else if err != nil {
		return search.Result{}, fmt.Errorf("search: %w", err)
	}
	out, err := result(p, &res)
	if err != nil {
		return search.Result{}, err
	}
	out.Position = pos
	return out, nil
}

// suggestBody is the request of Suggest: every word but the last complete, the last a
// prefix, on the search_as_you_type fields of name and brand. With fuzzy, the complete
// words may have typos and the query also matches whole words with typos.
func suggestBody(text string, limit int, fuzzy bool) m {
	prefix := m{"query": text, "type": "bool_prefix", "operator": "and",
		"fields": []string{"name.suggest", "name.suggest._2gram", "name.suggest._3gram", "brand.suggest", "brand.suggest._2gram"}}
	var match m
	if fuzzy {
		prefix["fuzziness"] = docs.Fuzziness
		match = m{"bool": m{"should": []m{
			{"multi_match": prefix},
			{"multi_match": m{"query": text, "fields": []string{"name", "brand.text"}, "operator": "and", "fuzziness": docs.Fuzziness}},
		}, "minimum_should_match": 1}}
	} else {
		match = m{"multi_match": prefix}
	}
	return m{
		"size":    limit,
		"_source": []string{"productId", "name"},
		"query":   m{"bool": m{"filter": []m{term("kind", kindProduct), term("active", true)}, "must": []m{match}}},
		"sort":    []m{{"_score": "desc"}, {"nameKey": "asc"}, {"productId": "asc"}},
	}
}

var spaces = regexp.MustCompile(`\s+`)

// Suggest implements search.Index; when nothing starts with the words typed, it
// retries with fuzziness.
func (b *Backend) Suggest(ctx context.Context, prefix string, limit int) ([]search.Suggestion, error) {
	limit, err := plan.SuggestLimit(limit)
	if err != nil {
		return nil, err
	}
	if len(prefix) > search.MaxTextLength {
		return nil, fmt.Errorf("%w: prefix is longer than %d bytes", search.ErrBadRequest, search.MaxTextLength)
	}
	tokens := docs.Tokens(prefix)
	out := []search.Suggestion{}
	if len(tokens) == 0 {
		return out, nil
	}
	text := spaces.ReplaceAllString(strings.Join(tokens, " "), " ")
	for _, fuzzy := range []bool{false, true} {
		var res searchResponse
		err := b.c.do(ctx, esapi.SearchRequest{Index: []string{b.c.alias}, Body: jsonBody(suggestBody(text, limit, fuzzy))}, &res)
		if isNotFound(err) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("search: suggest: %w", err)
		}
		for _, h := range res.Hits.Hits {
			out = append(out, search.Suggestion{Text: h.Source.Name, ProductID: h.Source.ProductID})
		}
		if len(out) > 0 {
			break
		}
	}
	return out, nil
}
