package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/nix-image/nix-image/internal/testenv"
)

// minimalSpec builds only the system profile: the quickest real image.
const minimalSpec = `nixpkgs:
  url: https://github.com/NixOS/nixpkgs/archive/0000000000000000000000000000000000000000.tar.gz
  sha256: 1111111111111111111111111111111111111111111111111111111111111111
images:
  default:
    defaultPackages: false
`

// TestBadInputFailsClearly feeds the build each kind of bad input and
// checks that the error names what is wrong and where; then a good build
// still works on the same cache.
func TestBadInputFailsClearly(t *testing.T) {
	e := testenv.Need(t, env)
	m := needMirror(t)
	brokenPkgs := tarGz(t, map[string]string{"nixpkgs/default.nix": "{ ... }: { hello = ; }\n"})
	brokenURL := m.Serve("broken-nixpkgs.tar.gz", brokenPkgs)
	brokenSum := sha256.Sum256(brokenPkgs)
	wrongSum := strings.Repeat("0", 64)
	nixURL := m.URL + "/" + m.Vars["NIX_TARBALL"]

	tests := []struct {
		name string
		spec string
		args []string
		// except lists the mirror's build args this case replaces.
		except []string
		want   []string
	}{
		{
			name:   "wrong nix tarball checksum",
			spec:   minimalSpec,
			args:   []string{"--opt", "build-arg:NIX_URL=" + nixURL, "--opt", "build-arg:NIX_SHA256=" + wrongSum},
			except: []string{"NIX_VERSION", "NIX_RELEASES"},
			want:   []string{"sha256:" + wrongSum, "sha256:" + m.Vars["NIX_SHA256"]},
		},
		{
			name: "unknown package attribute",
			spec: minimalSpec + "packages:\n  - hello\n  - no-such-package\n",
			// Line 1 is the # syntax line: the spec's line 9 is line 10.
			want: []string{`package attribute "no-such-package" is not in nixpkgs`, "nix-image.yaml:10:5 (packages[1])"},
		},
		{
			name: "nixpkgs does not evaluate",
			spec: minimalSpec,
			args: []string{"--opt", "build-arg:NIXPKGS_URL=" + brokenURL, "--opt", "build-arg:NIXPKGS_SHA256=" + hex.EncodeToString(brokenSum[:])},
			want: []string{"nixpkgs", "does not evaluate", "syntax error"},
		},
		{
			name: "unreachable substituter",
			spec: minimalSpec,
			args: []string{"--opt", "build-arg:SUBSTITUTERS=http://127.0.0.1:9"},
			want: []string{"substituter http://127.0.0.1:9", "unreachable"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			dir := e.SpecContext(t, tc.spec, nil)
			// The test's args come last: they override the mirror's.
			res, err := e.BuildSpec(ctx, dir, append(m.BuildctlOpts(tc.except...), tc.args...)...)
			if err == nil {
				t.Fatal("the build succeeded")
			}
			all := res.Stderr + res.Progress.Output("")
			for _, want := range tc.want {
				if !strings.Contains(all, want) {
					t.Errorf("error output lacks %q:\n%s", want, res.Stderr)
				}
			}
		})
	}
	t.Run("a good build still works on the same cache", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		dir := e.SpecContext(t, minimalSpec, nil)
		if res, err := e.BuildSpec(ctx, dir, m.BuildctlOpts()...); err != nil {
			t.Fatalf("build: %v\n%s", err, res.Stderr)
		}
	})
}
