package webhooks_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orderengine/orderengine/integration"
	"github.com/orderengine/orderengine/webhooks"
)

// TestDocsShowExamples keeps docs/events.md honest: it shows the receiver code of
// example_test.go verbatim, its Python verifier accepts a request signed by the sender
// and rejects a tampered one, and it lists every event type.
func TestDocsShowExamples(t *testing.T) {
	doc, err := os.ReadFile("../docs/events.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	s := string(src)
	goCode := s[strings.Index(s, "// verifyWebhook checks"):strings.Index(s, "// END receiver example")]
	if !strings.Contains(string(doc), strings.TrimSpace(goCode)) {
		t.Fatal("docs/events.md does not show the receiver code of example_test.go")
	}
	for _, typ := range append(integration.Types(), integration.PingType) {
		if !strings.Contains(string(doc), "| `"+typ+"` |") {
			t.Errorf("docs/events.md does not list %s", typ)
		}
	}
	py := string(doc)
	i := strings.Index(py, "```python\n")
	if i < 0 {
		t.Fatal("no Python example")
	}
	py = py[i+len("```python\n"):]
	py = py[:strings.Index(py, "```")]
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed; the Python example is not run")
	}
	secret, _ := webhooks.NewSecret()
	key, _ := webhooks.DecodeSecret(secret)
	body := `{"id":"e1","type":"order.placed","version":1,"orderId":"o1","position":7,"data":{"note":"ünïcode"}}`
	now := time.Now()
	sig := webhooks.Sign([]byte("old key"), "msg_1", now, []byte(body)) + " " + webhooks.Sign(key, "msg_1", now, []byte(body))
	harness := py + `
import json, sys
d = json.load(sys.stdin)
print(verify_webhook(d["secret"], d["headers"], d["body"].encode()), verify_webhook(d["secret"], d["headers"], d["body"].encode() + b" "))
`
	in, _ := json.Marshal(map[string]any{"secret": secret, "body": body, "headers": map[string]string{
		"webhook-id": "msg_1", "webhook-timestamp": strconv.FormatInt(now.Unix(), 10), "webhook-signature": sig}})
	cmd := exec.Command(python, "-c", harness)
	cmd.Stdin = strings.NewReader(string(in))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "True False" {
		t.Fatalf("the Python verifier says %q, want \"True False\"", got)
	}
}
