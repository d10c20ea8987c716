package frontend

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/frontend/dockerui"
	"github.com/moby/buildkit/frontend/subrequests/outline"
	"github.com/nix-image/nix-image/internal/golden"
	"github.com/nix-image/nix-image/llbgen"
	"github.com/nix-image/nix-image/spec"
)

// TestOutline compares the --call outline answer (every build arg with
// its value, description and spec line; secrets; cache) with
// testdata/outline/NAME.golden.
func TestOutline(t *testing.T) {
	const pin = "1111111111111111111111111111111111111111111111111111111111111111"
	tests := []struct {
		name, target, spec string
		args               map[string]string
	}{
		{
			name:   "version",
			target: spec.TargetDefault,
			spec: "nix: 2.30.0\nnixpkgs:\n  url: https://example.com/n.tar.gz\n  sha256: " + pin +
				"\nsubstituters: [https://cache.example.com]\npackages: [hello]\n",
			// Given build args win; empty ones show the spec's value.
			args: map[string]string{"NIX_VERSION": "2.30.1", "EXTRA_PACKAGES": "jq", "SUBSTITUTERS": "", "https_proxy": "http://proxy:3128", "SOURCE_DATE_EPOCH": "5"},
		},
		{
			// A sha256 per system: NIX_SHA256's value lists them as the
			// build arg takes them.
			name:   "systems",
			target: spec.TargetDefault,
			spec: "nix:\n  url: https://example.com/nix-{system}.tar.xz\n  sha256:\n    x86_64-linux: " + pin + "\n    aarch64-linux: " + pin +
				"\nnixpkgs:\n  url: https://example.com/n.tar.gz\n  sha256: " + pin + "\n",
		},
		{
			name:   "url",
			target: spec.TargetSSH,
			spec: "nix:\n  url: https://example.com/nix.tar.xz\n  sha256: " + pin +
				"\nnixpkgs:\n  url: https://example.com/n.tar.gz\n  narHash: sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\nimages:\n  ssh: {}\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := spec.Parse("nix-image.yaml", []byte(tc.spec))
			if err != nil {
				t.Fatal(err)
			}
			if err := s.ApplyBuildArgs(tc.args); err != nil {
				t.Fatal(err)
			}
			bc := &dockerui.Client{Config: dockerui.Config{BuildArgs: tc.args}}
			o := outlineOf(s, tc.target, bc, llbgen.NewSourceMap(llb.NewSourceMap(nil, "nix-image.yaml", "yaml", []byte(tc.spec)), s))
			golden.Check(t, filepath.Join("testdata", "outline", tc.name+".golden"), outlineText(o))
		})
	}
}

// outlineText is o one field a line: the target, each arg as NAME=VALUE
// with its spec line (or -) and description, the secrets and the cache.
func outlineText(o *outline.Outline) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "target %s: %s\n", o.Name, o.Description)
	for _, a := range o.Args {
		line := "-"
		if a.Location != nil {
			line = fmt.Sprint(a.Location.Ranges[0].Start.Line)
		}
		fmt.Fprintf(&b, "arg %s=%s line %s: %s\n", a.Name, a.Value, line, a.Description)
	}
	for _, s := range o.Secrets {
		fmt.Fprintf(&b, "secret %s required=%v\n", s.Name, s.Required)
	}
	for _, c := range o.Cache {
		fmt.Fprintf(&b, "cache %s\n", c.ID)
	}
	return b.Bytes()
}
