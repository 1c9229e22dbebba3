package elastic

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/elastic/go-elasticsearch/v8/esapi"
)

// Document kinds.
const (
	kindProduct    = "product"
	kindStock      = "stock"
	kindCheckpoint = "checkpoint"
)

type m = map[string]any

// indexBody is the settings and explicit mapping of a generation's index.
func (c *client) indexBody() m {
	settings := m{
		"number_of_shards": c.shards,
		"analysis": m{
			"filter": m{
				"product_possessive": m{"type": "stemmer", "language": "possessive_english"},
				"product_stop":       m{"type": "stop", "stopwords": "_english_"},
				"product_stemmer":    m{"type": "stemmer", "language": "english"},
			},
			"analyzer": m{
				// Ranked text: like the english analyzer, with diacritics folded.
				"product_text": m{"type": "custom", "tokenizer": "standard",
					"filter": []string{"product_possessive", "lowercase", "asciifolding", "product_stop", "product_stemmer"}},
				// Autocomplete: words as typed (no stemming, no stop words).
				"product_suggest": m{"type": "custom", "tokenizer": "standard", "filter": []string{"lowercase", "asciifolding"}},
			},
		},
	}
	if c.replicas != nil {
		settings["number_of_replicas"] = *c.replicas
	}
	keyword := m{"type": "keyword"}
	long := m{"type": "long"}
	text := m{"type": "text", "analyzer": "product_text"}
	suggest := m{"type": "search_as_you_type", "analyzer": "product_suggest"}
	return m{
		"settings": settings,
		"mappings": m{
			"dynamic": "strict",
			"properties": m{
				"kind":        keyword,
				"productId":   keyword,
				"sku":         keyword,
				"name":        m{"type": "text", "analyzer": "product_text", "fields": m{"suggest": suggest}},
				"nameKey":     keyword,
				"description": text,
				"brand":       m{"type": "keyword", "fields": m{"text": text, "suggest": suggest}},
				"category":    m{"type": "keyword", "fields": m{"text": text}},
				"images":      m{"type": "keyword", "index": false, "doc_values": false},
				// Facets and filters on attributes: "key=value" terms.
				"attrs":      keyword,
				"attributes": m{"type": "object", "enabled": false},
				"attrText":   text,
				"currency":   keyword,
				// Prices in minor units: exact integers, so no scaled_float is needed.
				"price":           long,
				"maxPrice":        long,
				"available":       long,
				"inStock":         m{"type": "boolean"},
				"active":          m{"type": "boolean"},
				"created":         long, // Unix nanoseconds: the created sort key
				"createdAt":       m{"type": "date"},
				"updatedAt":       m{"type": "date"},
				"version":         long,
				"position":        long,
				"createdPosition": long,
				// The folded product, read back to apply later events.
				"state": m{"type": "object", "enabled": false},
				// Stock documents.
				"onHand":   long,
				"reserved": long,
				"owners":   keyword,
				// The checkpoint.
				"lastEventAt": long,
			},
		},
	}
}

// generationIndex names generation gen's index.
func (c *client) generationIndex(gen int64) string {
	return c.alias + "-g" + strconv.FormatInt(gen, 10)
}

// generationOf parses an index name of this alias ("ALIAS-gN"); 0 when it is not one.
func (c *client) generationOf(index string) int64 {
	rest, ok := strings.CutPrefix(index, c.alias+"-g")
	if !ok {
		return 0
	}
	n, err := strconv.ParseInt(rest, 10, 64)
	if err != nil || n <= 0 {
		return 0
	}
	return n
}

// liveIndex is the index the alias points at ("" when there is no alias).
func (c *client) liveIndex(ctx context.Context) (string, error) {
	var res map[string]any
	err := c.do(ctx, esapi.IndicesGetAliasRequest{Name: []string{c.alias}}, &res)
	if isNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("search: read alias %s: %w", c.alias, err)
	}
	var names []string
	for name := range res {
		names = append(names, name)
	}
	switch len(names) {
	case 0:
		return "", nil
	case 1:
		return names[0], nil
	}
	slices.Sort(names)
	return "", fmt.Errorf("search: alias %s points at %d indices %v; want one", c.alias, len(names), names)
}

// createIndex creates an index with the mapping; one that exists is an error unless
// exists is allowed.
func (c *client) createIndex(ctx context.Context, index string, existsOK bool) error {
	err := c.do(ctx, esapi.IndicesCreateRequest{Index: index, Body: jsonBody(c.indexBody())}, nil)
	if existsOK && errorType(err) == "resource_already_exists_exception" {
		return nil
	}
	if err != nil {
		return fmt.Errorf("search: create index %s: %w", index, err)
	}
	return nil
}

func (c *client) deleteIndex(ctx context.Context, index string) error {
	err := c.do(ctx, esapi.IndicesDeleteRequest{Index: []string{index}}, nil)
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("search: delete index %s: %w", index, err)
	}
	return nil
}

// aliasActions sends one atomic _aliases request.
func (c *client) aliasActions(ctx context.Context, actions ...m) error {
	if err := c.do(ctx, esapi.IndicesUpdateAliasesRequest{Body: jsonBody(m{"actions": actions})}, nil); err != nil {
		return fmt.Errorf("search: update alias %s: %w", c.alias, err)
	}
	return nil
}

// ensureLive returns the index behind the alias, creating generation 1 and the alias
// when there is none.
func (c *client) ensureLive(ctx context.Context) (string, error) {
	live, err := c.liveIndex(ctx)
	if err != nil || live != "" {
		return live, err
	}
	first := c.generationIndex(1)
	if err := c.createIndex(ctx, first, true); err != nil {
		return "", err
	}
	err = c.aliasActions(ctx, m{"add": m{"index": first, "alias": c.alias, "is_write_index": true}})
	if err != nil {
		// Another instance may have set the alias meanwhile.
		if live, lerr := c.liveIndex(ctx); lerr == nil && live != "" {
			return live, nil
		}
		return "", err
	}
	return first, nil
}

// generations lists the indices of this alias's generations, oldest first.
func (c *client) generations(ctx context.Context) ([]string, error) {
	var res map[string]any
	err := c.do(ctx, esapi.IndicesGetRequest{Index: []string{c.alias + "-g*"}}, &res)
	if err != nil && !isNotFound(err) {
		return nil, fmt.Errorf("search: list indices: %w", err)
	}
	var out []string
	for name := range res {
		if c.generationOf(name) > 0 {
			out = append(out, name)
		}
	}
	slices.SortFunc(out, func(a, b string) int {
		ga, gb := c.generationOf(a), c.generationOf(b)
		switch {
		case ga < gb:
			return -1
		case ga > gb:
			return 1
		}
		return 0
	})
	return out, nil
}
