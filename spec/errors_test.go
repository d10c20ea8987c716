package spec

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/nix-image/nix-image/internal/golden"
)

// TestErrorsGolden checks the exact text of every kind of spec error: each
// testdata/errors/NAME.yaml is a bad spec, and NAME.golden what Parse,
// ApplyBuildArgs and Resolve report for it, as `nix-image-frontend
// validate` prints it (go test ./spec -run TestErrorsGolden -update
// rewrites them). Comment lines "# build-arg: NAME=VALUE" are build args
// to apply, "# target: NAME" the target to resolve (default: default).
func TestErrorsGolden(t *testing.T) {
	golden.Files(t, filepath.Join("testdata", "errors", "*.yaml"), func(t *testing.T, data []byte) []byte {
		args, target := map[string]string{}, TargetDefault
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "# build-arg: "); ok {
				k, v, _ := strings.Cut(v, "=")
				args[k] = v
			} else if v, ok := strings.CutPrefix(line, "# target: "); ok {
				target = v
			}
		}
		s, err := Parse("nix-image.yaml", data)
		if err == nil {
			err = s.ApplyBuildArgs(args)
		}
		if err == nil {
			_, err = s.Resolve(target)
		}
		if err == nil {
			t.Fatal("the spec is valid")
		}
		return []byte(err.Error() + "\n")
	})
}
