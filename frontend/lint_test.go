package frontend

import (
	"bytes"
	"testing"

	"github.com/moby/buildkit/client/llb"
	"github.com/nix-image/nix-image/internal/golden"
	"github.com/nix-image/nix-image/llbgen"
	"github.com/nix-image/nix-image/spec"
)

// TestLintGolden prints --call check results as buildx does (warnings
// with their YAML lines, then the error) and compares them with
// testdata/lint/NAME.golden.
func TestLintGolden(t *testing.T) {
	golden.Files(t, "testdata/lint/*.yaml", func(t *testing.T, data []byte) []byte {
		s, specErr := spec.Parse("nix-image.yaml", data)
		res := lintSpec(s, specErr, spec.TargetDefault, llbgen.NewSourceMap(llb.NewSourceMap(nil, "nix-image.yaml", "yaml", data), s))
		var out bytes.Buffer
		if err := res.PrintTo(&out, nil); err != nil {
			t.Fatal(err)
		}
		if res.Error != nil {
			out.WriteString("\nERROR: ")
			res.PrintErrorTo(&out, nil)
		}
		return out.Bytes()
	})
}
