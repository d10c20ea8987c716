package spec

import (
	"os"
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
	files, err := filepath.Glob(filepath.Join("testdata", "errors", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no spec error cases: %v", err)
	}
	goldens, _ := filepath.Glob(filepath.Join("testdata", "errors", "*.golden"))
	for _, g := range goldens {
		if _, err := os.Stat(strings.TrimSuffix(g, ".golden") + ".yaml"); err != nil {
			t.Errorf("%s has no spec: %v", g, err)
		}
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
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
				t.Fatalf("%s: the spec is valid", f)
			}
			golden.Check(t, strings.TrimSuffix(f, ".yaml")+".golden", []byte(err.Error()+"\n"))
		})
	}
}
