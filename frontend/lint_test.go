package frontend

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/buildkit/client/llb"
	"github.com/nix-image/nix-image/internal/golden"
	"github.com/nix-image/nix-image/spec"
)

// TestLintGolden prints --call check results as buildx does (warnings
// with their YAML lines, then the error) and compares them with
// testdata/lint/NAME.golden.
func TestLintGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/lint/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no lint test files: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			s, specErr := spec.Parse("nix-image.yaml", data)
			res := lintSpec(s, specErr, spec.TargetDefault, data, llb.NewSourceMap(nil, "nix-image.yaml", "yaml", data))
			var out bytes.Buffer
			if err := res.PrintTo(&out, nil); err != nil {
				t.Fatal(err)
			}
			if res.Error != nil {
				out.WriteString("\nERROR: ")
				res.PrintErrorTo(&out, nil)
			}
			golden.Check(t, strings.TrimSuffix(f, ".yaml")+".golden", out.Bytes())
		})
	}
}
