package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nix-image/nix-image/internal/testenv"
)

// A valid spec whose pin cannot be fetched: the subrequests are answered
// before any source is fetched. (TestSpecErrorsShowTheYAMLLine points it
// at the mirror, so that its errors are not the pin's.)
const pinnedSpec = `nixpkgs:
  url: https://github.com/NixOS/nixpkgs/archive/0000000000000000000000000000000000000000.tar.gz
  sha256: 1111111111111111111111111111111111111111111111111111111111111111
packages: [hello]
`

func TestCallTargetsThroughSyntax(t *testing.T) {
	e := testenv.Need(t, env)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := e.SpecContext(t, pinnedSpec, nil)
	res, err := e.BuildSpec(ctx, dir, "--opt", "requestid=frontend.targets")
	if err != nil {
		t.Fatalf("--call targets: %v\n%s", err, res.Stderr)
	}
	// Only our frontend knows these targets: the `# syntax=` line was
	// followed to the image in the local registry.
	for _, want := range []string{"default", "ssh", "interactive Nix image", "Nix remote builder"} {
		if !strings.Contains(res.Stdout, want) {
			t.Errorf("targets output lacks %q:\n%s", want, res.Stdout)
		}
	}
	if !strings.Contains(res.Stdout, "default (default)") {
		t.Errorf("default is not marked as the default target:\n%s", res.Stdout)
	}
}

func TestCallOutline(t *testing.T) {
	e := testenv.Need(t, env)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := e.SpecContext(t, pinnedSpec, nil)
	res, err := e.BuildSpec(ctx, dir, "--opt", "requestid=frontend.outline", "--opt", "build-arg:NIX_VERSION=2.30.1")
	if err != nil {
		t.Fatalf("--call outline: %v\n%s", err, res.Stderr)
	}
	for _, want := range []string{"NIX_VERSION", "2.30.1", "NIXPKGS_URL", "https://github.com/NixOS/nixpkgs/archive/", "SUBSTITUTERS"} {
		if !strings.Contains(res.Stdout, want) {
			t.Errorf("outline lacks %q:\n%s", want, res.Stdout)
		}
	}
}

func TestSpecErrorsShowTheYAMLLine(t *testing.T) { testSpecErrors(t, testenv.Need(t, env)) }

// testSpecErrors is the body of TestSpecErrorsShowTheYAMLLine, on the stack e.
func testSpecErrors(t *testing.T, e *testenv.Env) {
	tests := []struct {
		name string
		spec string
		args []string
		want []string
	}{
		{
			name: "unknown key",
			spec: pinnedSpec + "pakages: [jq]\n",
			// The syntax line is line 1, so the spec's line 5 is line 6.
			want: []string{"nix-image.yaml:6:1", `unknown field "pakages"`, `did you mean "packages"`, ">>> pakages: [jq]"},
		},
		{
			name: "wrong type",
			spec: pinnedSpec + "layers: many\n",
			want: []string{"nix-image.yaml:6:9", "layers", ">>> layers: many"},
		},
		{
			name: "bad hash",
			spec: strings.Replace(pinnedSpec, "1111111111111111111111111111111111111111111111111111111111111111", "abc", 1),
			want: []string{"nix-image.yaml:4:11", "nixpkgs.sha256", ">>>   sha256: abc"},
		},
		{
			name: "bad build arg",
			spec: pinnedSpec,
			args: []string{"--opt", "build-arg:NIX_VERSION=latest"},
			want: []string{"NIX_VERSION", "latest"},
		},
		{
			name: "unknown target",
			spec: pinnedSpec,
			args: []string{"--opt", "target=nope"},
			want: []string{`unknown target "nope"`, "default, ssh"},
		},
	}
	// The mirror's build args make every pin fetchable: were a bad spec
	// not stopped before the build, its realise step would run (the
	// control case shows it does for the good spec).
	m := needMirror(t)
	t.Run("control: the good spec realises", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		res, err := e.BuildSpec(ctx, e.SpecContext(t, pinnedSpec, nil), m.BuildctlOpts()...)
		if err != nil {
			t.Fatalf("build: %v\n%s", err, res.Stderr)
		}
		if len(res.Progress.Find("[nix-image] realise ")) == 0 {
			t.Errorf("no realise step: %v", vertexNames(res.Progress.Vertices))
		}
	})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			dir := e.SpecContext(t, tc.spec, nil)
			// The case's args come last: they override the mirror's.
			res, err := e.BuildSpec(ctx, dir, append(m.BuildctlOpts(), tc.args...)...)
			if err == nil {
				t.Fatalf("build of a bad spec succeeded")
			}
			for _, want := range tc.want {
				if !strings.Contains(res.Stderr, want) {
					t.Errorf("error output lacks %q:\n%s", want, res.Stderr)
				}
			}
			if v := res.Progress.Find("[nix-image] realise "); len(v) > 0 {
				t.Errorf("a bad spec started the realise step: %v", vertexNames(v))
			}
		})
	}
}
