# meshwave — the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /usr/bin/env bash
GO ?= go
TESTENV_BIN = $(shell test/testenv/build.sh)
ISTIO_BIN = $(shell test/testenv/build-istio.sh)
ARGO_BIN = $(shell test/testenv/build-argo-rollouts.sh)
BIN := bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

FAULTS_PKG := ./test/e2e/faults

.PHONY: all build testenv testenv-cp testenv-istio testenv-argo test test-faults test-badinput test-short e2e bench bench-micro bench-cluster fuzz fuzz-ci demo demo-down vet fmt-check tidy-check clean

all: build

build: ## build the meshwave binary into bin/
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/meshwave ./cmd/meshwave

testenv: testenv-cp testenv-istio testenv-argo ## build (once, cached outside the repo) the local control plane's, real Istio's and Argo Rollouts' binaries

testenv-cp: ## build (once, cached outside the repo) the local control plane: etcd, kube-*, kubectl, kwok
	@test/testenv/build.sh >/dev/null

testenv-istio: ## build (once, cached outside the repo) real istioctl and pilot-discovery
	@test/testenv/build-istio.sh >/dev/null

testenv-argo: ## build (once, cached outside the repo) the real Argo Rollouts controller, with its CRDs beside it
	@test/testenv/build-argo-rollouts.sh >/dev/null

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

tidy-check: ## go.mod and go.sum say exactly what the code imports
	$(GO) mod tidy -diff

test-short: ## unit tests only; cluster tests are skipped, saying why
	$(GO) test -race -short ./...

test: fmt-check tidy-check vet testenv ## unit and end-to-end tests against a real local control plane
	@# Compile every test binary first, as many at once as there are cores;
	@# the run below then takes one package at a time, because each cluster
	@# suite starts its own control plane.
	$(GO) test -race -short -count=1 -run '^$$' ./...
	$(MAKE) fuzz-ci
	MESHWAVE_TESTENV_BIN=$(TESTENV_BIN) MESHWAVE_ISTIO_BIN=$(ISTIO_BIN) MESHWAVE_ARGO_BIN=$(ARGO_BIN) $(GO) test -race -timeout 60m -p 1 $$($(GO) list ./... | grep -v '/test/e2e/faults$$')
	$(MAKE) test-faults

test-faults: testenv ## the fault suite (kill -9, API server stopped, conflicts, full disk, lock races); REPORT=1 rewrites its table in docs/reliability.md
	MESHWAVE_TESTENV_BIN=$(TESTENV_BIN) $(if $(REPORT),MESHWAVE_FAULTS_REPORT=$(CURDIR)/docs/reliability.md) \
		$(GO) test -race -count=1 -timeout 20m $(FAULTS_PKG)

test-badinput: ## the bad-input corpus alone; REPORT=1 rewrites its table in docs/reliability.md
	$(if $(REPORT),MESHWAVE_BADINPUT_REPORT=$(CURDIR)/docs/reliability.md) \
		$(GO) test -count=1 -run TestBadInputCorpus ./cmd/meshwave

bench: bench-micro bench-cluster ## every benchmark: the Go micro-benchmarks, then the cluster benchmark (docs/benchmarks.md)

bench-micro: ## the Go benchmarks (go test -bench), each reported against a baseline measured in the same run
	$(GO) test -run '^$$' -bench . -benchmem ./...

# The cluster benchmark (test/bench): one local control plane with meshsim,
# for each N and pod start delay meshwave plan and apply against a bare
# client (B) and the manual kubectl procedure (A); it rewrites its section of
# docs/benchmarks.md. BENCHFLAGS passes more flags (-reuse, -samples, -manual-max-n,
# -half-done=false, -workdir, -run-timeout; `go run ./test/bench/cmd/bench -h`).
N ?= 20,200,1000
REGIMES ?= 0s,3s

bench-cluster: build testenv-cp ## the cluster benchmark: N=20,200,1000 namespaces, REGIMES=0s,3s pod start delays
	$(GO) build -o $(BIN)/bench ./test/bench/cmd/bench
	MESHWAVE_TESTENV_BIN=$(TESTENV_BIN) $(BIN)/bench -meshwave $(BIN)/meshwave -sizes '$(N)' -regimes '$(REGIMES)' \
		-doc docs/benchmarks.md -command 'make bench-cluster N=$(N) REGIMES=$(REGIMES)$(if $(BENCHFLAGS), BENCHFLAGS=$(BENCHFLAGS))' $(BENCHFLAGS)

# The fuzz targets: the plan loader, the state decoder, the saved-plan
# decoder. Each runs in the package whose tests declare it (found by grep, so
# a target that moves to another package needs no change here), one at a
# time, since a fuzzer keeps every core busy. A failing input is written to
# that package's testdata/fuzz/<Target>/ and from then on is a seed that every
# `go test` runs (docs/reliability.md, "Fuzzing").
#
# make test fuzzes each target for a number of inputs, not a duration: with
# a duration, Go 1.26's fuzz coordinator can fail a clean run with a bare
# "context deadline exceeded" when the time runs out while a worker is busy
# (golang/go#75804, fixed in Go 1.27); it did so in a clean-clone CI run of
# FuzzRead. The counts are about 10–25 s each on the 2-core machine.
FUZZ_CI_BUDGETS ?= FuzzLoad=20000x FuzzRead=100000x FuzzDecode=150000x
FUZZ_TARGETS := $(foreach b,$(FUZZ_CI_BUDGETS),$(firstword $(subst =, ,$(b))))
FUZZTIME ?= 60s

# $(1): Target=fuzztime pairs, fuzzed one after another.
define run_fuzz
	@for tb in $(1); do \
		target=$${tb%%=*}; budget=$${tb#*=}; \
		pkg=$$(grep -rl --exclude-dir=.git --include='*_test.go' "^func $$target(" . | xargs -r -n1 dirname | sort -u); \
		if [ "$$(echo $$pkg | wc -w)" != 1 ]; then echo "fuzz: $$target is declared in '$$pkg', want one package"; exit 1; fi; \
		echo "$(GO) test -run '^$$' -fuzz '^$$target\$$' -fuzztime $$budget $$pkg"; \
		$(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $$budget $$pkg || exit 1; \
	done
endef

fuzz: ## $(FUZZTIME) each of fuzzing the plan loader, the state decoder and the saved-plan decoder
	$(call run_fuzz,$(addsuffix =$(FUZZTIME),$(FUZZ_TARGETS)))

fuzz-ci: ## what `make test` fuzzes: a fixed number of inputs of each of the same targets ($(FUZZ_CI_BUDGETS))
	$(call run_fuzz,$(FUZZ_CI_BUDGETS))

# The Backyards demo runs meshsim and no Istio binary, so it builds none;
# SCENARIO=istio builds (once) and uses the real ones.
DEMO_NEEDS := build testenv-cp $(if $(filter istio,$(SCENARIO)),testenv-istio)

demo: $(DEMO_NEEDS) ## the whole upgrade on a local cluster; leaves it running (SCENARIO=istio: real istiod)
	MESHWAVE_TESTENV_BIN=$(TESTENV_BIN) $(if $(filter istio,$(SCENARIO)),MESHWAVE_ISTIO_BIN=$(ISTIO_BIN)) SCENARIO=$(SCENARIO) test/demo/demo.sh up

demo-down: ## remove the demo cluster and stop its processes
	MESHWAVE_TESTENV_BIN=$(TESTENV_BIN) test/demo/demo.sh down

clean:
	rm -rf $(BIN)
