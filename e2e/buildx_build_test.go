package e2e

import (
	"context"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nix-image/nix-image/internal/mirror"
	"github.com/nix-image/nix-image/internal/testenv"
)

// buildxMirrorArgs are the mirror's build args as `docker buildx build`
// flags, in mirror.ArgNames order, leaving out the names in except.
func buildxMirrorArgs(m *mirror.Mirror, except ...string) []string {
	args := m.Args()
	var out []string
	for _, k := range mirror.ArgNames {
		if !slices.Contains(except, k) {
			out = append(out, "--build-arg", k+"="+args[k])
		}
	}
	return out
}

// TestBuildxBuild runs the users' `docker buildx build` on the unedited
// examples (BUILDKIT_SYNTAX points their `# syntax=` line at the frontend
// under test, as a user trying a frontend build would do): the default
// and the ssh target with build-arg overrides, a label and a platform,
// exported as OCI archives that run.
func TestBuildxBuild(t *testing.T) {
	e := testenv.Need(t, env)
	m := needMirror(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()

	tests := []struct {
		name    string
		example string
		args    []string
		// run is a shell script run in the image, its output must hold
		// every want.
		run  string
		want []string
		// ports are the image's ExposedPorts.
		ports []string
	}{
		{
			name:    "default",
			example: "default",
			run:     "nix --version",
			want:    []string{"nix (Nix) " + m.Vars["NIX_VERSION"]},
		},
		{
			name:    "ssh",
			example: "ssh",
			args:    []string{"--target", "ssh"},
			run:     "nix --version && command -v sshd",
			want:    []string{"nix (Nix) " + m.Vars["NIX_VERSION"], "/sshd"},
			ports:   []string{"22/tcp"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), tc.name+".oci.tar")
			args := []string{"build",
				"-f", "examples/" + tc.example + "/nix-image.yaml",
				"--build-arg", "BUILDKIT_SYNTAX=" + e.FrontendRef,
				"--label", "org.example.built-by=buildx-e2e",
				"--platform", "linux/amd64",
				"-o", "type=oci,dest=" + out,
			}
			// The mirror's build args override the spec's pins (Nix
			// version, nixpkgs, substituters), as behind any mirror.
			args = append(args, buildxMirrorArgs(m)...)
			args = append(args, tc.args...)
			res, err := e.BuildxJSON(ctx, e.Root, append(args, ".")...)
			if err != nil {
				t.Fatalf("docker buildx build: %v", err)
			}
			if len(res.Progress.Find("[nix-image]")) == 0 {
				t.Errorf("no [nix-image] step in the progress: the frontend under test did not build it")
			}
			img := inspectOCI(t, out, "amd64")
			if got := img.Config.Config.Labels["org.example.built-by"]; got != "buildx-e2e" {
				t.Errorf("--label: image label is %q, want buildx-e2e (labels %v)", got, img.Config.Config.Labels)
			}
			if img.Config.OS != "linux" || img.Config.Architecture != "amd64" {
				t.Errorf("platform: got %s/%s, want linux/amd64", img.Config.OS, img.Config.Architecture)
			}
			var ports []string
			for p := range img.Config.Config.ExposedPorts {
				ports = append(ports, p)
			}
			sort.Strings(ports)
			if strings.Join(ports, " ") != strings.Join(tc.ports, " ") {
				t.Errorf("ExposedPorts: got %v, want %v", ports, tc.ports)
			}
			stdout, stderr, err := e.Run(ctx, testenv.RunSpec{Image: out, Args: []string{"/bin/sh", "-c", tc.run}})
			if err != nil {
				t.Fatalf("running %q: %v\n%s", tc.run, err, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stdout, w) {
					t.Errorf("%q: output lacks %q:\n%s", tc.run, w, stdout)
				}
			}
		})
	}
}

// inspectOCI reads the linux/arch image of an `-o type=oci,dest=X.tar`
// export. buildx adds a provenance attestation by default, so the index
// may hold more than one manifest (also an index of them).
func inspectOCI(t *testing.T, path, arch string) testenv.OCIImage {
	t.Helper()
	a, err := testenv.ReadOCIArchive(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := a.Image(arch)
	if err != nil {
		t.Fatal(err)
	}
	return *img
}

// TestBuildxCall asks the frontend what it builds, as `docker buildx build
// --call targets|outline` users do, on the unedited default example.
func TestBuildxCall(t *testing.T) { testBuildxCall(t, testenv.Need(t, env)) }

// testBuildxCall is the body of TestBuildxCall, on the stack e.
func testBuildxCall(t *testing.T, e *testenv.Env) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{
			name: "targets",
			args: []string{"--call", "targets"},
			want: []string{
				`(?m)^default \(default\) +interactive Nix image`,
				`(?m)^ssh +Nix remote builder`,
			},
		},
		{
			name: "outline",
			args: []string{"--call", "outline", "--build-arg", "NIX_VERSION=2.30.1"},
			want: []string{
				`(?m)^TARGET: +default\s*$`,
				// A build arg given on the command line, and the spec's
				// own values for the others.
				`(?m)^NIX_VERSION +2\.30\.1 +Nix release: realises the image, and is its Nix`,
				`(?m)^NIXPKGS_URL +https://github\.com/NixOS/nixpkgs/archive/5e2a59a5b1a82f89f2c7e598302a9cacebb72a67\.tar\.gz `,
				`(?m)^SUBSTITUTERS +https://cache\.nixos\.org `,
				`(?m)^EXTRA_PACKAGES +nixpkgs attributes`,
				// The realise step's build secrets, none required.
				`(?m)^SECRET +REQUIRED\s*$`,
				`(?m)^netrc\s*$`,
				`(?m)^nix-access-tokens\s*$`,
				`(?m)^nix-ca\s*$`,
			},
		},
		{
			name: "outline of the ssh target",
			args: []string{"--call", "outline", "--target", "ssh"},
			want: []string{`(?m)^TARGET: +ssh\s*$`, `(?m)^DESCRIPTION: +Nix remote builder`, `(?m)^NIX_VERSION +2\.33\.3 `},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"build", "-f", "examples/default/nix-image.yaml",
				"--build-arg", "BUILDKIT_SYNTAX=" + e.FrontendRef}, tc.args...)
			stdout, stderr, err := e.Buildx(ctx, e.Root, append(args, ".")...)
			if err != nil {
				t.Fatalf("docker buildx build %v: %v\n%s", tc.args, err, stderr)
			}
			for _, w := range tc.want {
				if !regexp.MustCompile(w).MatchString(stdout) {
					t.Errorf("output has no match for %s:\n%s", w, stdout)
				}
			}
		})
	}
}
