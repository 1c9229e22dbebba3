# orderengine — see README.md
GO        ?= go
BIN       := bin/orderengine
PKGS      := ./...
TEST_TIMEOUT ?= 15m
# The version the binary reports (orderengine version): from git, "dev" outside a checkout.
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)

.PHONY: run build docker test vet fmt-check bench bench-go stress clean

## run: start the engine on the embedded default (SQLite in ./data) at :8080
run: build
	@echo "orderengine $(VERSION) on http://localhost:8080 (embedded tier, data in ./data; Ctrl-C stops it)"
	@echo "a token for the API:  ./$(BIN) token --sub alice --role customer   (admin: --role admin)"
	@echo "try:  curl -H \"Authorization: Bearer \$$(./$(BIN) token --sub alice --role customer)\" http://localhost:8080/v1/orders"
	./$(BIN) serve

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/orderengine

## docker: the container image, stamped with the same version
docker:
	docker build --build-arg VERSION=$(VERSION) -t orderengine:$(VERSION) .

## test: vet, gofmt check, and every test with the race detector
test: vet fmt-check
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) $(PKGS)

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## bench: the event store benchmarks (go test -bench and the CLI workloads)
BENCH_EVENTS ?= sqlite:
bench: build
	$(GO) test -run '^$$' -bench . -benchtime 2000x ./eventstore/...
	./$(BIN) bench eventstore --events '$(BENCH_EVENTS)'

## stress: longer concurrency runs of the conformance suites
stress:
	$(GO) test -race -count=5 -run 'Conformance' ./eventstore/...

clean:
	rm -rf bin

## test-compose: start KurrentDB and Elasticsearch with docker compose and run the adapters' gated suites against them
.PHONY: test-compose
COMPOSE ?= docker compose
KURRENTDB_PORT ?= 2113
ELASTICSEARCH_PORT ?= 9200
test-compose:
	KURRENTDB_PORT=$(KURRENTDB_PORT) ELASTICSEARCH_PORT=$(ELASTICSEARCH_PORT) $(COMPOSE) up -d --wait kurrentdb elasticsearch
	ORDERENGINE_TEST_KURRENTDB_URL='kurrentdb://localhost:$(KURRENTDB_PORT)?tls=false' \
	ORDERENGINE_TEST_ELASTICSEARCH_URL='http://localhost:$(ELASTICSEARCH_PORT)' \
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) -run 'Conformance|RealServer' ./eventstore/kurrentdb/ ./search/elastic/
