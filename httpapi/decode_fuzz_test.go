package httpapi_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/orderengine/orderengine/domain"
	"github.com/orderengine/orderengine/httpapi"
)

type fuzzBody struct {
	SKU      string          `json:"sku"`
	Quantity int64           `json:"quantity"`
	Price    domain.Money    `json:"price"`
	Address  *domain.Address `json:"address,omitempty"`
	Tags     []string        `json:"tags,omitempty"`
}

// FuzzDecodeStrict: any input either decodes into a body that has every required field
// and re-encodes, or is refused with a RequestError of 400 or 422 — never a panic, never
// another error, never a success without a required field.
func FuzzDecodeStrict(f *testing.F) {
	for _, s := range []string{
		`{"sku":"A","quantity":1,"price":{"amount":1,"currency":"EUR"}}`,
		`{}`, `null`, `[]`, `{"sku":"A"}`, `{"quantity":null}`, `{"sku":"A","quantity":1,"price":{"amount":1,"currency":"XXQ"}}`,
		`{"sku":"A","quantity":1,"price":{"amount":1,"currency":"EUR"},"extra":1}`, `{"sku":"A","quantity":"1"`, "\x00", `"str"`,
		`{"sku":"A","quantity":1,"price":{"amount":1,"currency":"EUR"},"address":{"name":null}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var b fuzzBody
		err := httpapi.DecodeStrict(in, &b, false)
		if err != nil {
			var re *httpapi.RequestError
			if !errors.As(err, &re) || (re.Status != 400 && re.Status != 422) {
				t.Fatalf("%q: %v", in, err)
			}
			return
		}
		var m map[string]any
		if json.Unmarshal(in, &m) != nil || m["sku"] == nil || m["quantity"] == nil || m["price"] == nil {
			t.Fatalf("%q accepted without a required field", in)
		}
		if _, err := json.Marshal(b); err != nil {
			t.Fatalf("%q decoded into a body that does not re-encode: %v", in, err)
		}
	})
}
