// Package keyset encodes the opaque cursors of keyset pagination, the read models' and
// the search backends' alike: a cursor value as base64url JSON.
package keyset

import (
	"encoding/base64"
	"encoding/json"
)

// Encode returns the opaque cursor string of v (plain data).
func Encode(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // cursors are plain data
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// Decode decodes a cursor string into v; an error when s is not one.
func Decode(s string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
