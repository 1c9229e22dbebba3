package problem

import (
	"encoding/json"
	"net/http/httptest"
	"testing"
)

func TestWrite(t *testing.T) {
	rec := httptest.NewRecorder()
	Write(rec, New(409, "version-conflict", "Version conflict", "order-1 is at version 3").With("actualVersion", 3))
	if rec.Code != 409 || rec.Header().Get("Content-Type") != ContentType {
		t.Fatalf("status %d, content type %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if m["type"] != TypeBase+"version-conflict" || m["status"] != float64(409) || m["actualVersion"] != float64(3) || m["detail"] != "order-1 is at version 3" {
		t.Fatalf("body %v", m)
	}
}
