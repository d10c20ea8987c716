//go:build tools

// Package tools pins docker buildx, which the e2e tests use to run the
// users' commands (`docker buildx build -f nix-image.yaml`, `docker buildx
// bake`) against the test daemon. It is a module of its own so that
// buildx's dependencies stay out of the main module's go.mod.
package tools

import _ "github.com/docker/buildx/cmd/buildx"
