//go:build tools

// Package tools pins the oldest BuildKit daemon the README says the
// frontend works with. The e2e tests in e2e/old_buildkit_test.go run a
// subset of the suite on it (bin/buildkitd-v0.12.5). It is a module of its
// own so that this old BuildKit's dependencies stay out of the main module.
package tools

import _ "github.com/moby/buildkit/cmd/buildkitd"
