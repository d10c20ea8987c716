// Package e2e holds the integration tests: each builds real images on a real
// buildkitd + registry (internal/testenv), one file per capability. Run with
// `make e2e`; NIX_IMAGE_E2E=0 skips them.
package e2e

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/nix-image/nix-image/internal/testenv"
)

// env is the stack shared by all tests of one `go test ./e2e/` run.
var env *testenv.Env

func TestMain(m *testing.M) {
	code := testenv.Main(m, &env)
	stopMirror()
	os.Exit(code)
}

// ownStack starts a stack of t's own (for a test that kills its daemons,
// or needs another buildkitd) and stops it when t ends, showing the
// daemons' logs if t failed.
func ownStack(t *testing.T, opts testenv.Options) *testenv.Env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	e, err := testenv.StartWith(ctx, opts)
	if err != nil {
		t.Fatalf("starting a stack of this test's own: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("daemon logs:\n%s", e.LogTail(40))
		}
		if err := e.Stop(); err != nil {
			t.Errorf("stopping the stack: %v", err)
		}
	})
	return e
}
