# nsalloc developer targets. Every tool comes from go.mod or tools/go.mod;
# nothing needs to be installed by hand beyond Go itself.

GO        ?= go
TOOL      := $(GO) tool -modfile=tools/go.mod
LISTEN    ?= 127.0.0.1:50051
DB        ?= nsalloc.db
GENERATED := proto/nsalloc/v1/nsalloc.pb.go proto/nsalloc/v1/nsalloc_grpc.pb.go \
             proto/nsalloc/v1/nsalloc.binpb

.PHONY: all build run test bench lint generate tools clean

all: lint test build

## build: compile the daemon into bin/nsallocd
build:
	$(GO) build -o bin/nsallocd ./cmd/nsallocd

## run: build and start the daemon on the embedded store (LISTEN, DB override)
run: build
	./bin/nsallocd --listen $(LISTEN) --db $(DB)

## test: every test, with the race detector
test:
	$(GO) test -race -count=1 ./...

## bench: Go benchmarks of the service beside their references (BENCHTIME overrides)
BENCHTIME ?= 2s
bench:
	$(GO) test -run=NONE -bench=. -benchtime=$(BENCHTIME) ./server/ ./naming/

## lint: formatting, vet, staticcheck, buf lint and format, generated code
lint:
	@unformatted="$$(gofmt -l .)"; \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(TOOL) staticcheck ./...
	$(TOOL) buf lint
	$(TOOL) buf format --diff --exit-code
	@tmp="$$(mktemp -d)"; trap 'rm -rf "$$tmp"' EXIT; \
	$(TOOL) buf generate --output "$$tmp" && \
	$(TOOL) buf build --as-file-descriptor-set -o "$$tmp/proto/nsalloc/v1/nsalloc.binpb" && \
	for f in $(GENERATED); do \
		if ! cmp -s "$$f" "$$tmp/$$f"; then \
			echo "$$f is stale: run make generate"; exit 1; \
		fi; \
	done
	@echo "lint: ok"

## generate: regenerate the Go code and the documented descriptors from proto/
generate:
	$(TOOL) buf format --write
	$(TOOL) buf generate
	$(TOOL) buf build --as-file-descriptor-set -o proto/nsalloc/v1/nsalloc.binpb

## tools: build the pinned developer tools (buf, grpcurl, ...) into bin/
tools:
	cd tools && $(GO) build -o ../bin/ tool

clean:
	rm -rf bin
