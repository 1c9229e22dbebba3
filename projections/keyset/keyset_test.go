package keyset

import "testing"

func TestRoundTrip(t *testing.T) {
	type cur struct {
		S  string `json:"s"`
		N  int64  `json:"n"`
		ID string `json:"i"`
	}
	in := cur{S: "price", N: -42, ID: "p/1"}
	var out cur
	if err := Decode(Encode(in), &out); err != nil || out != in {
		t.Fatalf("round trip: %+v, %v", out, err)
	}
	for _, bad := range []string{"!!", "e30=", Encode([]int{1})} {
		if err := Decode(bad, &out); err == nil {
			t.Errorf("Decode(%q): no error", bad)
		}
	}
}
