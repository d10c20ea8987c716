//go:build tools

// Package tools pins the Go programs the hack/ scripts build (buildkitd,
// buildctl) to the BuildKit version in go.mod.
package tools

import (
	_ "github.com/moby/buildkit/cmd/buildctl"
	_ "github.com/moby/buildkit/cmd/buildkitd"
)
