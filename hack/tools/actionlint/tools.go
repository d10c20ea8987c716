//go:build tools

// Package tools pins actionlint, which the e2e tests run on the GitHub
// Actions workflows (.github/workflows, examples/github-actions). It is a
// module of its own so that its dependencies stay out of the main
// module's go.mod.
package tools

import _ "github.com/rhysd/actionlint/cmd/actionlint"
