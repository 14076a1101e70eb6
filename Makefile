# genmod: every target builds with GOEXPERIMENT=simd (without it the pure-Go
# backend's matmul is ~16x slower).
export GOEXPERIMENT := simd
GO ?= go
BIN := bin/genmod
# Fuzzing is bounded by executions, not time: a time bound makes Go's fuzzer
# fail with "context deadline exceeded" when the deadline lands while a
# worker is minimizing an input (seen in CI on 2 loaded cores).
FUZZTIME ?= 100000x

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
	$(MAKE) fuzz FUZZTIME=30000x

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
