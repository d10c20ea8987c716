// Package e2e holds the integration tests: each builds real images on a real
// buildkitd + registry (internal/testenv), one file per capability. Run with
// `make e2e`; NIX_IMAGE_E2E=0 skips them.
package e2e

import (
	"os"
	"testing"

	"github.com/nix-image/nix-image/internal/testenv"
)

// env is the stack shared by all tests of one `go test ./e2e/` run.
var env *testenv.Env

func TestMain(m *testing.M) {
	code := testenv.Main(m, &env)
	stopMirror()
	os.Exit(code)
}
