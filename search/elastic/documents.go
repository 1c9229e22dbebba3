package elastic

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/search/internal/docs"
)

// productDoc is a product document.
type productDoc struct {
	Kind            string              `json:"kind"`
	ProductID       string              `json:"productId"`
	SKU             string              `json:"sku"`
	Name            string              `json:"name"`
	NameKey         string              `json:"nameKey"`
	Description     string              `json:"description"`
	Brand           string              `json:"brand"`
	Category        string              `json:"category"`
	Images          []string            `json:"images"`
	Attrs           []string            `json:"attrs"`
	Attributes      map[string][]string `json:"attributes"`
	AttrText        string              `json:"attrText"`
	Currency        string              `json:"currency"`
	Price           int64               `json:"price"`
	MaxPrice        int64               `json:"maxPrice"`
	Available       int64               `json:"available"`
	InStock         bool                `json:"inStock"`
	Active          bool                `json:"active"`
	Created         int64               `json:"created"`
	CreatedAt       time.Time           `json:"createdAt"`
	UpdatedAt       time.Time           `json:"updatedAt"`
	Version         int64               `json:"version"`
	Position        uint64              `json:"position"`
	CreatedPosition uint64              `json:"createdPosition"`
	State           *domain.Product     `json:"state,omitempty"`
}

// stockDoc is a SKU's stock document.
type stockDoc struct {
	Kind     string   `json:"kind"`
	SKU      string   `json:"sku"`
	OnHand   int64    `json:"onHand"`
	Reserved int64    `json:"reserved"`
	Owners   []string `json:"owners"`
	Position uint64   `json:"position"`
}

func productID(id string) string { return "p:" + id }
func stockID(sku string) string  { return "s:" + sku }

func toProductDoc(d docs.Document, state domain.Product) productDoc {
	pd := productDoc{
		Kind: kindProduct, ProductID: d.ID, SKU: d.SKU, Name: d.Name, NameKey: d.NameKey, Description: d.Description,
		Brand: d.Brand, Category: d.Category, Images: d.Images, Attributes: d.Attributes, AttrText: d.AttrText,
		Currency: d.Currency, Price: d.Price, MaxPrice: d.MaxPrice, Available: d.Available, InStock: d.InStock,
		Active: d.Active, Created: d.CreatedAt.UnixNano(), CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt,
		Version: d.Version, Position: d.Position, CreatedPosition: d.CreatedPosition, State: &state,
	}
	if pd.Images == nil {
		pd.Images = []string{}
	}
	if pd.Attributes == nil {
		pd.Attributes = map[string][]string{}
	}
	pd.Attrs = []string{}
	for _, k := range sortedKeys(d.Attributes) {
		for _, v := range d.Attributes[k] {
			pd.Attrs = append(pd.Attrs, k+"="+v)
		}
	}
	return pd
}

func sortedKeys[V any](mp map[string]V) []string { return slices.Sorted(maps.Keys(mp)) }

// mget reads documents by id in real time; missing ones are absent from the answer.
func (c *client) mget(ctx context.Context, index string, ids []string) (map[string]json.RawMessage, error) {
	out := map[string]json.RawMessage{}
	for len(ids) > 0 {
		n := min(len(ids), 1000)
		var res struct {
			Docs []struct {
				ID     string          `json:"_id"`
				Found  bool            `json:"found"`
				Source json.RawMessage `json:"_source"`
				Error  json.RawMessage `json:"error"`
			} `json:"docs"`
		}
		if err := c.do(ctx, esapi.MgetRequest{Index: index, Body: jsonBody(m{"ids": ids[:n]})}, &res); err != nil {
			return nil, fmt.Errorf("search: mget: %w", err)
		}
		for _, d := range res.Docs {
			if len(d.Error) > 0 {
				return nil, fmt.Errorf("search: mget %s: %s", d.ID, d.Error)
			}
			if d.Found {
				out[d.ID] = d.Source
			}
		}
		ids = ids[n:]
	}
	return out, nil
}

// bulkOp is one index action of a bulk request.
type bulkOp struct {
	ID      string
	Version uint64
	Doc     any
}

// bulkBody renders the NDJSON body: an index action with the external version, then
// the document.
func bulkBody(index string, ops []bulkOp) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	for _, op := range ops {
		_ = enc.Encode(m{"index": m{"_index": index, "_id": op.ID, "version": op.Version, "version_type": "external"}})
		if err := enc.Encode(op.Doc); err != nil {
			panic(err) // documents are plain data
		}
	}
	return b.Bytes()
}

// bulkResponse is the part of a bulk answer the runner reads.
type bulkResponse struct {
	Errors bool `json:"errors"`
	Items  []map[string]struct {
		ID     string `json:"_id"`
		Status int    `json:"status"`
		Error  *struct {
			Type   string `json:"type"`
			Reason string `json:"reason"`
		} `json:"error"`
	} `json:"items"`
}

// check returns an error for failed items; a version conflict (a newer or the same
// version already indexed: a replay) is not a failure. Overloaded items (429) or
// unavailable shards make the error transient.
func (r *bulkResponse) check(ops int) error {
	if len(r.Items) != ops {
		return fmt.Errorf("search: bulk answered %d items for %d actions", len(r.Items), ops)
	}
	if !r.Errors {
		return nil
	}
	var (
		failed    []string
		transient bool
	)
	for _, it := range r.Items {
		for _, item := range it {
			if item.Status >= 200 && item.Status < 300 || item.Status == 409 {
				continue
			}
			msg := fmt.Sprintf("%s: %d", item.ID, item.Status)
			if item.Error != nil {
				msg += " " + item.Error.Type + ": " + item.Error.Reason
			}
			failed = append(failed, msg)
			if item.Status == 429 || item.Status >= 500 {
				transient = true
			}
		}
	}
	if len(failed) == 0 {
		return nil
	}
	if len(failed) > 5 {
		failed = append(failed[:5], fmt.Sprintf("and %d more", len(failed)-5))
	}
	err := &esError{Status: 400, Type: "bulk_failure", Reason: strings.Join(failed, "; ")}
	if transient {
		err.Status = 503
	}
	return err
}

// bulk sends index actions without waiting for a refresh: refresh=wait_for would wait
// for the next scheduled refresh (1 s by default) and cap a runner at one batch a
// second. Searches see the writes after the next refresh; a minPosition read forces one
// (WaitPosition).
func (c *client) bulk(ctx context.Context, index string, ops []bulkOp) error {
	if len(ops) == 0 {
		return nil
	}
	var res bulkResponse
	if err := c.do(ctx, esapi.BulkRequest{Index: index, Body: bytes.NewReader(bulkBody(index, ops))}, &res); err != nil {
		return fmt.Errorf("search: bulk: %w", err)
	}
	if err := res.check(len(ops)); err != nil {
		return fmt.Errorf("search: bulk: %w", err)
	}
	return nil
}
