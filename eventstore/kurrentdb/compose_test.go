package kurrentdb_test

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/orderengine/orderengine/eventstore/kurrentdb"
)

// docker-compose.yml (which no test machine can run) agrees with the code: the KurrentDB
// append limit the server gets is the one the adapter is told, PostgreSQL and NATS are not
// published on the host (they would clash with a host PostgreSQL or NATS), every published
// port is bound to 127.0.0.1, no variable must be exported, and no secret has a constant
// default.
func TestComposeFileMatchesAdapter(t *testing.T) {
	b, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	compose := string(b)

	serverLimit := regexp.MustCompile(`KURRENTDB_MAX_APPEND_SIZE: "(\d+)"`).FindStringSubmatch(compose)
	adapterLimit := regexp.MustCompile(`ORDERENGINE_EVENTS: "kurrentdb://[^"]*[?&]maxAppendSize=(\d+)`).FindStringSubmatch(compose)
	if serverLimit == nil || adapterLimit == nil || serverLimit[1] != adapterLimit[1] {
		t.Fatalf("server MaxAppendSize %v, adapter maxAppendSize %v: want both, equal", serverLimit, adapterLimit)
	}
	if n, _ := strconv.Atoi(serverLimit[1]); n != kurrentdb.DefaultMaxAppendSize {
		t.Errorf("compose sets MaxAppendSize %d, the adapter's default is %d", n, kurrentdb.DefaultMaxAppendSize)
	}

	ports := regexp.MustCompile(`(?m)^\s+- "([^"]*:\d+)"\s*$`).FindAllStringSubmatch(compose, -1)
	if len(ports) == 0 {
		t.Fatal("no published ports found")
	}
	for _, p := range ports {
		mapping := p[1]
		if !strings.HasPrefix(mapping, "127.0.0.1:") {
			t.Errorf("port %s is published on every interface", mapping)
		}
		if strings.HasSuffix(mapping, ":5432") || strings.HasSuffix(mapping, ":4222") ||
			strings.Contains(mapping, ":5432:") || strings.Contains(mapping, ":4222:") || strings.Contains(mapping, "-5432}") || strings.Contains(mapping, "-4222}") {
			t.Errorf("port %s clashes with a host PostgreSQL or NATS", mapping)
		}
	}

	if m := regexp.MustCompile(`\$\{[A-Z_]+:?\?[^}]*\}`).FindString(compose); m != "" {
		t.Errorf("compose requires an exported variable: %s", m)
	}
	for _, m := range regexp.MustCompile(`(?m)^\s+(ORDERENGINE_[A-Z_]*SECRET): "([^"]*)"`).FindAllStringSubmatch(compose, -1) {
		if v := m[2]; v != "${"+m[1]+":-}" {
			t.Errorf("%s has a constant default: %q", m[1], v)
		}
	}
	if !strings.Contains(compose, `ORDERENGINE_JWT_SECRET_FILE: "/var/lib/orderengine/`) {
		t.Error("the JWT secret is not generated in the data volume")
	}
}
