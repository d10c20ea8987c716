# The project's commands. CI runs `make test` (through .ci/run).

GO ?= go
FRONTEND := bin/nix-image-frontend

.PHONY: all frontend tools deps lint unit e2e test stack stack-stop push-frontend check-dockerfile demo try shell remote-builder

all: frontend

# Always invoke go build: it decides itself whether the binary is up to date.
frontend:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o $(FRONTEND) ./frontend/cmd/nix-image-frontend

tools:
	hack/build-tools.sh

deps:
	hack/install-deps.sh

lint:
	@out=$$(gofmt -l $$(git ls-files -co --exclude-standard '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# Every package except the integration tests in e2e/.
unit: deps
	$(GO) test -count=1 $$($(GO) list ./... | grep -v '/e2e$$')

e2e: deps tools frontend
	$(GO) test ./e2e/ -v -count=1 -timeout 40m

test: lint unit e2e

stack: tools
	hack/stack.sh start

stack-stop:
	hack/stack.sh stop

# The whole product from a fresh machine: examples/default built offline
# into out/default.oci.tar (hack/demo.sh; `hack/demo.sh stop` ends it).
demo: deps tools frontend
	hack/demo.sh

# hack/try runs the images make demo builds with runc, as the tests run
# them (docker run --rm --network host). Built, not `go run`: that exits 1
# on Ctrl-C and on any exit status of the shell.
TRY := bin/try
try:
	$(GO) build -o $(TRY) ./hack/try

# A shell in the image make demo built.
shell: try
	$(TRY) shell out/default.oci.tar

# examples/ssh built as make demo builds examples/default (out/ssh.oci.tar)
# and run as a remote builder for this machine's Nix until Ctrl-C; prints
# the nix-build command to try.
remote-builder: deps tools frontend try
	hack/demo.sh ssh
	$(TRY) builder out/ssh.oci.tar

push-frontend:
	hack/push-frontend.sh

check-dockerfile:
	hack/check-dockerfile.sh

# Builds the same packages three ways (our frontend, a flat multi-stage
# Dockerfile, FROM base + RUN nix-env) on a private stack and the offline
# mirror; prints a table and writes bench/results.json. BENCH_RUNS rounds;
# BENCH_NIXPKGS=small for the 2 MB package set instead of the real-size one.
.PHONY: bench
BENCH_RUNS ?= 3
BENCH_NIXPKGS ?= real
bench: deps tools frontend
	$(GO) run ./hack/bench -runs $(BENCH_RUNS) -nixpkgs $(BENCH_NIXPKGS)
