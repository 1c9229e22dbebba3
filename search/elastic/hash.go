package elastic

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/elastic/go-elasticsearch/v8/esapi"
)

// hashKey is the sort key that orders the documents of a kind.
var hashKey = map[string]string{kindProduct: "productId", kindStock: "sku"}

// hashBody pages through one kind's documents in key order.
func hashBody(kind string, after string, size int) m {
	body := m{"size": size, "query": m{"bool": m{"filter": []m{term("kind", kind)}}},
		"sort": []m{{hashKey[kind]: "asc"}}, "track_total_hits": false}
	if after != "" {
		body["search_after"] = []any{after}
	}
	return body
}

// hashKind counts an index's documents of a kind and hashes their sources in key
// order (the sources are the bytes the runner wrote: the same fold gives the same
// bytes).
func (c *client) hashKind(ctx context.Context, index, kind string) (int64, string, error) {
	h := sha256.New()
	var (
		n     int64
		after string
	)
	for {
		var res struct {
			Hits struct {
				Hits []struct {
					Source json.RawMessage `json:"_source"`
					Sort   []any           `json:"sort"`
				} `json:"hits"`
			} `json:"hits"`
		}
		if err := c.do(ctx, esapi.SearchRequest{Index: []string{index}, Body: jsonBody(hashBody(kind, after, 1000))}, &res); err != nil {
			return 0, "", fmt.Errorf("search: hash %s of %s: %w", kind, index, err)
		}
		for _, hit := range res.Hits.Hits {
			n++
			_ = binary.Write(h, binary.BigEndian, uint32(len(hit.Source)))
			h.Write(hit.Source)
		}
		if len(res.Hits.Hits) < 1000 {
			break
		}
		last := res.Hits.Hits[len(res.Hits.Hits)-1]
		if len(last.Sort) == 0 {
			return 0, "", fmt.Errorf("search: hash %s of %s: hits carry no sort values", kind, index)
		}
		s, ok := last.Sort[0].(string)
		if !ok {
			return 0, "", fmt.Errorf("search: hash %s of %s: sort value %v", kind, index, last.Sort[0])
		}
		after = s
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}
