package eventstore

import (
	"bytes"
	"testing"

	"github.com/google/uuid"
)

func TestValidateStreamName(t *testing.T) {
	good := []string{"order-1", "order-7f0c8a3e-7d2c-4b0e-9a51-1d6c1e0a9b11", "inventory-TEE-RED-M", "cart.v2-x", "a-b"}
	bad := []string{"", "order", "order-", "-1", "1order-x", "$all-1", "or der-1", "order-a b", "order-\x00", "ord/er-1"}
	for _, s := range good {
		if err := ValidateStreamName(s); err != nil {
			t.Errorf("%q rejected: %v", s, err)
		}
	}
	for _, s := range bad {
		if err := ValidateStreamName(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

func TestChainHashRoundTrip(t *testing.T) {
	for _, md := range []string{"", "{}", ` {"a":1} `, `{"correlationId":"x","nested":{"k":[1,2]}}`} {
		evs := Chain([32]byte{}, []EventData{{ID: uuid.New(), Type: "t.x", Data: []byte(`1`), Metadata: []byte(md)}})
		h, orig, err := SplitChainHash(evs[0].Metadata)
		if err != nil {
			t.Fatalf("%q: %v", md, err)
		}
		want, _ := metadataObject([]byte(md))
		if h != evs[0].Hash || !bytes.Equal(orig, want) {
			t.Fatalf("%q: split gave %s / %x", md, orig, h)
		}
	}
	// Chaining depends on the predecessor.
	e := EventData{ID: uuid.New(), Type: "t.x", Data: []byte(`1`)}
	a := Chain([32]byte{}, []EventData{e})[0].Hash
	b := Chain([32]byte{1}, []EventData{e})[0].Hash
	if a == b {
		t.Fatal("hash ignores the previous hash")
	}
	for _, bad := range []string{"{}", `{"chainHash":"zz"}`, `{"chainHash":"` + string(bytes.Repeat([]byte("0"), 64)) + `"x`} {
		if _, _, err := SplitChainHash([]byte(bad)); err == nil {
			t.Errorf("SplitChainHash(%q) accepted", bad)
		}
	}
}

func TestExpectedVersionCheck(t *testing.T) {
	cases := []struct {
		e      ExpectedVersion
		exists bool
		v      uint64
		want   bool
	}{
		{Any, false, 0, true}, {Any, true, 5, true},
		{NoStream, false, 0, true}, {NoStream, true, 0, false},
		{StreamExists, true, 0, true}, {StreamExists, false, 0, false},
		{Exact(3), true, 3, true}, {Exact(3), true, 4, false}, {Exact(0), false, 0, false},
	}
	for _, c := range cases {
		if got := c.e.Check(c.exists, c.v); got != c.want {
			t.Errorf("%s.Check(%v, %d) = %v", c.e, c.exists, c.v, got)
		}
	}
}

func TestFilterMatch(t *testing.T) {
	f := Filter{StreamPrefix: "order-", EventTypes: []string{"order.placed"}}
	if !f.Match("order-1", "order.placed") || f.Match("order-1", "order.paid") || f.Match("cart-1", "order.placed") || f.Match("ord", "order.placed") {
		t.Fatal("filter mismatch")
	}
	if !(Filter{}).Match("x-1", "y") {
		t.Fatal("zero filter rejects")
	}
}
