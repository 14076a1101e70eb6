# genmod: every target builds with GOEXPERIMENT=simd (without it the pure-Go
# backend's matmul is ~16x slower).
export GOEXPERIMENT := simd
GO ?= go
BIN := bin/genmod
FUZZTIME ?= 10s

.PHONY: all build demo test fuzz vet data bench clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/genmod

# The main job: a class-conditional rectified flow on the embedded
# Fashion-MNIST subset and a 2D rectified flow on moons, with pictures.
demo: build
	./scripts/demo.sh

# The test command CI runs (.ci/run).
test: vet
	$(GO) test -count=1 ./...
	$(MAKE) fuzz FUZZTIME=5s

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet ./...

# Short runs of every fuzzer (the seed corpora also run in `go test`).
fuzz:
	$(GO) test ./data/ -run '^$$' -fuzz '^FuzzIDX$$' -fuzztime $(FUZZTIME)
	$(GO) test ./data/ -run '^$$' -fuzz '^FuzzNPY$$' -fuzztime $(FUZZTIME)
	$(GO) test ./data/ -run '^$$' -fuzz '^FuzzCSV$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/safetensors/ -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME)

# Full datasets for benchmarks and experiments (tests never need them).
data:
	./scripts/install-data.sh

# Side-by-side training speed against PyTorch (needs python3-torch).
bench: build
	./bench/run.sh

clean:
	rm -rf bin
