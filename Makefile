# modelguard — the two commands that matter are `make demo` and `make test`.
# Everything runs on this machine: a real kube-apiserver, etcd and Tekton
# controller built from the Go module proxy (cached under
# $${XDG_CACHE_HOME:-$$HOME/.cache}/modelguard), no Docker.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
GO ?= go
GOFLAGS_TEST ?=
E2E_TIMEOUT ?= 60m

.PHONY: help demo demo-stop test test-unit test-e2e test-tekton check bench fuzz build tools deps release

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

demo: deps ## the tour: a git push through Triggers releases a model into KServe, on a local cluster
	$(GO) run ./hack/demo up

demo-stop: ## stop the demo cluster
	$(GO) run ./hack/demo down

# test runs each package once: the engines' unit tests, then everything
# under test/ (which test-unit would also run in -short mode).
test: deps check ## everything: static checks, unit tests, e2e on a real control plane
	$(GO) test -count=1 $(GOFLAGS_TEST) ./pkg/... ./cmd/... ./hack/...
	$(MAKE) --no-print-directory test-e2e
	$(MAKE) --no-print-directory test-tekton

test-unit: ## the fast loop: unit tests only (no cluster)
	$(GO) test -count=1 -short $(GOFLAGS_TEST) ./...

# -p 1: each e2e package starts its own control plane, and the Tekton
# controller always binds port 8080, so they take turns.
test-e2e: tools ## e2e tests against a real kube-apiserver + Tekton controller
	$(GO) test -count=1 -p 1 -timeout $(E2E_TIMEOUT) $(GOFLAGS_TEST) ./test/...

# The versions the README names besides the pin (test/tools.TektonVersions).
TEKTON_VERSIONS_OTHER ?= v1.15.1 v0.59.0
test-tekton: tools ## the e2e suite against the other Tekton versions the README names
	for v in $(TEKTON_VERSIONS_OTHER); do \
	  echo "e2e suite against Tekton $$v"; \
	  MODELGUARD_TEKTON_VERSION=$$v $(GO) test -count=1 -p 1 -timeout $(E2E_TIMEOUT) $(GOFLAGS_TEST) ./test/e2e/; \
	done

check: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# Benchmarks print figures and assert no timings. Each package starts its
# own services, one after the other.
bench: deps tools ## the figures the issues ask for, measured on this machine
	MODELGUARD_BENCH=1 $(GO) test -count=1 -p 1 -v -timeout 45m -run '^TestBench' ./test/e2e/ ./test/buildtest/ ./test/pods/ ./test/localcluster/ \
	  | grep -E '^(bench:|--- FAIL|ok|FAIL|panic)'

FUZZTIME ?= 20s
fuzz: ## run each fuzz target for FUZZTIME
	$(GO) test ./pkg/kinds/ -run '^$$' -fuzz '^FuzzCheck$$' -fuzztime $(FUZZTIME)
	$(GO) test ./pkg/guard/ -run '^$$' -fuzz '^FuzzParseIngress$$' -fuzztime $(FUZZTIME)
	$(GO) test ./pkg/guard/ -run '^$$' -fuzz '^FuzzParseEgress$$' -fuzztime $(FUZZTIME)
	$(GO) test ./pkg/guard/ -run '^$$' -fuzz '^FuzzReadLimits$$' -fuzztime $(FUZZTIME)
	$(GO) test ./pkg/guard/ -run '^$$' -fuzz '^FuzzLimitsEgress$$' -fuzztime $(FUZZTIME)
	$(GO) test ./pkg/acs/ -run '^$$' -fuzz '^FuzzDecodeImage$$' -fuzztime $(FUZZTIME)
	$(GO) test ./pkg/acs/ -run '^$$' -fuzz '^FuzzDecodeRuntime$$' -fuzztime $(FUZZTIME)
	$(GO) test ./pkg/acs/ -run '^$$' -fuzz '^FuzzDecodeBounded$$' -fuzztime $(FUZZTIME)
	$(GO) test ./pkg/gate/ -run '^$$' -fuzz '^FuzzParseAllow$$' -fuzztime $(FUZZTIME)
	$(GO) test ./pkg/gate/ -run '^$$' -fuzz '^FuzzParseProcessAllow$$' -fuzztime $(FUZZTIME)
	$(GO) test ./pkg/gate/ -run '^$$' -fuzz '^FuzzParseManifests$$' -fuzztime $(FUZZTIME)
	$(GO) test ./pkg/imageref/ -run '^$$' -fuzz '^FuzzDigest$$' -fuzztime $(FUZZTIME)
	$(GO) test ./pkg/attest/ -run '^$$' -fuzz '^FuzzStatements$$' -fuzztime $(FUZZTIME)
	$(GO) test ./pkg/source/ -run '^$$' -fuzz '^FuzzParseLFSPointer$$' -fuzztime $(FUZZTIME)

# release reads KO_DOCKER_REPO, VERSION, KO_DEFAULTBASEIMAGE (default:
# .ko.yaml's, by digest), COSIGN_KEY and COSIGN_PASSWORD; see hack/release.
VERSION ?=
RELEASE_OUT ?= _release/$(VERSION)
release: ## build, push and sign a release: make release KO_DOCKER_REPO=<registry>/modelguard VERSION=v0.1.0
	$(GO) run ./hack/release -version "$(VERSION)" -repo "$(KO_DOCKER_REPO)" -base "$(KO_DEFAULTBASEIMAGE)" -key "$(COSIGN_KEY)" -out "$(RELEASE_OUT)"

build: ## build the controller and CLI into bin/
	$(GO) build -o bin/ ./cmd/...

tools: deps ## build (once, cached) the control plane, the node's tools and its images
	$(GO) run ./test/localcluster/cmd/localcluster tools

deps: ## check the toolchain; install missing Debian packages
	@hack/deps.sh
