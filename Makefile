# nsalloc developer targets. Every tool comes from go.mod or tools/go.mod;
# nothing needs to be installed by hand beyond Go itself.

GO        ?= go
TOOL      := $(GO) tool -modfile=tools/go.mod
LISTEN    ?= 127.0.0.1:50051
DB        ?= nsalloc.db
GENERATED := proto/nsalloc/v1/nsalloc.pb.go proto/nsalloc/v1/nsalloc_grpc.pb.go \
             proto/nsalloc/v1/nsalloc.binpb

.PHONY: all build run test drill bench gobench fuzz lint generate tools clean

all: lint test build

## build: compile the daemon and the command line into bin/
build:
	$(GO) build -o bin/nsallocd ./cmd/nsallocd
	$(GO) build -o bin/nsallocctl ./cmd/nsallocctl

## run: build and start the daemon on the embedded store (LISTEN, DB override)
run: build
	./bin/nsallocd --listen $(LISTEN) --db $(DB)

## test: every test, with the race detector
test:
	$(GO) test -race -count=1 ./...

## drill: the crash and overload drills against the real daemon, in their full form
drill:
	$(GO) test -count=1 -v -timeout 15m -run . ./drill/ -args -drill.full

## bench: the daemon beside its references, every goal figure (QUICK=1: about a minute;
## BENCHFLAGS passes more flags, such as -cache DIR to seed the large store once)
QUICK      ?=
BENCHFLAGS ?=
bench: build
	$(GO) run ./cmd/nsallocbench -daemon bin/nsallocd -out bin/bench $(if $(QUICK),-quick) \
		$(BENCHFLAGS)

## gobench: the Go micro-benchmarks of the packages (BENCHTIME overrides)
BENCHTIME ?= 2s
gobench:
	$(GO) test -run=NONE -bench=. -benchtime=$(BENCHTIME) ./server/ ./naming/ ./store/...

## fuzz: every fuzz target in turn, FUZZTIME each (default 30s)
FUZZTIME ?= 30s
fuzz:
	@set -e; for file in $$(grep -rl --include='*_test.go' '^func Fuzz' .); do \
		for target in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$file); do \
			echo "== $$(dirname $$file) $$target"; \
			$(GO) test -run='^$$' -fuzz="^$$target$$" -fuzztime=$(FUZZTIME) ./$$(dirname $$file); \
		done; \
	done

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
