#!/usr/bin/env bash
# Builds the programs the tests and hack/ scripts run, at pinned versions:
#   bin/buildkitd, bin/buildctl  BuildKit, from the main go.mod (hack/tools/tools.go)
#   bin/buildkitd-v0.12.5        the oldest BuildKit the README names, from its own
#                                module (hack/tools/buildkit-v0.12); e2e/old_buildkit_test.go
#   bin/docker-buildx            docker buildx, from its own module (hack/tools/buildx)
#   bin/actionlint               actionlint, from its own module (hack/tools/actionlint)
# `go install ...@version` does not work for BuildKit (its go.mod has exclude
# directives), so build inside our modules. Rebuilding is cheap: go build
# leaves an up-to-date binary alone.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
mkdir -p bin
go build -o bin/ github.com/moby/buildkit/cmd/buildkitd github.com/moby/buildkit/cmd/buildctl
(
	cd hack/tools/buildkit-v0.12
	v=$(go list -m -f '{{.Version}}' github.com/moby/buildkit)
	# The version stamp lets `buildctl debug info` and the tests tell
	# which daemon runs.
	go build -ldflags "-X github.com/moby/buildkit/version.Version=$v" \
		-o "$root/bin/buildkitd-$v" github.com/moby/buildkit/cmd/buildkitd
)
(cd hack/tools/buildx && go build -o "$root/bin/docker-buildx" github.com/docker/buildx/cmd/buildx)
(cd hack/tools/actionlint && go build -o "$root/bin/actionlint" github.com/rhysd/actionlint/cmd/actionlint)
