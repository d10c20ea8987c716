package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nix-image/nix-image/internal/testenv"
)

// oldBuildkit is the oldest BuildKit the README says nix-image works
// with; make tools builds it as bin/buildkitd-<oldBuildkit>
// (hack/tools/buildkit-v0.12).
const oldBuildkit = "v0.12.5"

// TestOldBuildkit runs a representative part of the suite on a stack of
// its own whose daemon is BuildKit oldBuildkit (the client stays
// bin/buildctl and bin/docker-buildx): the default and ssh images, built
// and used; layer reuse; the named contexts of an air-gapped build; the
// copy fallback for daemons without MergeOp; spec errors with their YAML
// lines (source maps); and the subrequests of `buildx build --call`.
func TestOldBuildkit(t *testing.T) {
	testenv.Need(t, env)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	e := ownStack(t, testenv.Options{Buildkitd: "bin/buildkitd-" + oldBuildkit})
	// The daemon the tests talk to is the old one, not bin/buildkitd.
	info, stderr, err := e.Buildctl(ctx, "debug", "info")
	if err != nil {
		t.Fatalf("buildctl debug info: %v\n%s", err, stderr)
	}
	if !strings.Contains(info, " "+oldBuildkit+" ") {
		t.Fatalf("the daemon is not BuildKit %s:\n%s", oldBuildkit, info)
	}

	tests := []struct {
		name string
		run  func(*testing.T, *testenv.Env)
	}{
		{"default image", testDefaultImage},
		{"ssh image", testSSHImage},
		{"layer reuse", testLayerReuse},
		{"named contexts", testBuildxNamedContexts},
		{"copy fallback", testCopyFallback},
		{"spec errors show the YAML line", testSpecErrors},
		{"buildx --call targets and outline", testBuildxCall},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, e) })
	}
}
