#!/usr/bin/env bash
# Builds bin/buildkitd and bin/buildctl from the BuildKit version pinned in
# go.mod (through hack/tools/tools.go). `go install ...@version` does not work
# for BuildKit (its go.mod has exclude directives), so build inside our module.
# Rebuilding is cheap after the first time: go build reuses its cache and only
# relinks.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
mkdir -p bin
go build -o bin/ github.com/moby/buildkit/cmd/buildkitd github.com/moby/buildkit/cmd/buildctl
