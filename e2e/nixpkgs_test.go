package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nix-image/nix-image/internal/testenv"
)

// TestNixpkgsConfig builds packages nixpkgs refuses to evaluate without
// the config that allows them (the offline set checks meta as nixpkgs
// does): refused with the spec line and the nixpkgs.config field to set,
// built with it; the image then behaves the same for nix-env.
func TestNixpkgsConfig(t *testing.T) {
	e := testenv.Need(t, env)
	m := needMirror(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()

	refused := []struct {
		name, spec string
		want       []string
	}{
		{
			name: "unfree without allowUnfree",
			// Line 1 is the # syntax line: packages[0] is on line 9.
			spec: minimalSpec + "packages:\n  - hello-unfree\n",
			want: []string{`nix-image.yaml:9:5 (packages[0]): package "hello-unfree" (hello-unfree-1.0) has an unfree license (unfree)`,
				"set nixpkgs.config.allowUnfree: true"},
		},
		{
			name: "insecure not permitted",
			spec: strings.Replace(minimalSpec, "images:", "  config:\n    allowUnfree: true\nimages:", 1) + "packages:\n  - hello-insecure\n",
			want: []string{`nix-image.yaml:11:5 (packages[0]): package "hello-insecure" (hello-insecure-1.0) is marked as insecure`,
				`add "hello-insecure-1.0" to nixpkgs.config.permittedInsecurePackages in the spec (nix-image.yaml:5:3 (nixpkgs.config))`},
		},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			dir := e.SpecContext(t, tc.spec, nil)
			res, err := e.BuildSpec(ctx, dir, m.BuildctlOpts()...)
			if err == nil {
				t.Fatal("the build succeeded")
			}
			all := res.Stderr + res.Progress.Output("")
			for _, want := range tc.want {
				if !strings.Contains(all, want) {
					t.Errorf("error output lacks %q:\n%s", want, res.Stderr)
				}
			}
			// nixpkgs' own advice is about files the user cannot reach.
			if strings.Contains(all, "~/.config/nixpkgs/config.nix") {
				t.Errorf("the error gives nixpkgs' advice instead of the spec's field:\n%s", all)
			}
		})
	}

	t.Run("allowed", func(t *testing.T) {
		spec := strings.Replace(minimalSpec, "images:", "  config:\n    allowUnfree: true\n    permittedInsecurePackages: [hello-insecure-1.0]\nimages:", 1) +
			"packages: [hello-unfree, hello-insecure]\n"
		dir := e.SpecContext(t, spec, nil)
		out := filepath.Join(t.TempDir(), "image.oci.tar")
		res, err := e.BuildSpec(ctx, dir, append(m.BuildctlOpts(), "--output", "type=oci,dest="+out)...)
		if err != nil {
			t.Fatalf("build: %v\n%s", err, res.Stderr)
		}
		rootfs, cfg := unpackImage(t, out)
		run := func(t *testing.T, script string) (string, string, error) {
			t.Helper()
			return e.Run(ctx, testenv.RunSpec{Image: rootfs, Config: cfg, Args: []string{"/bin/sh", "-c", script}})
		}
		steps := []struct {
			name, script, want string
		}{
			{"the programs run", "hello-unfree && hello-insecure", "Hello from hello-unfree!\nHello from hello-insecure!"},
			{"root's config.nix is the spec's", "cat /root/.config/nixpkgs/config.nix", "allowUnfree = true;"},
			// Installing again evaluates nixpkgs in the image, with
			// root's config.nix.
			{"nix-env in the image", "nix-env -iA nixpkgs.hello-unfree nixpkgs.hello-insecure >&2 && echo installed", "installed"},
		}
		for _, s := range steps {
			t.Run(s.name, func(t *testing.T) {
				stdout, stderr, err := run(t, s.script)
				if err != nil || !strings.Contains(stdout, s.want) {
					t.Errorf("%s: %v, output lacks %q:\n%s\n%s", s.script, err, s.want, stdout, stderr)
				}
			})
		}
		t.Run("without root's config.nix nixpkgs refuses", func(t *testing.T) {
			// The control: the same nix-env with another HOME is refused, so
			// it was config.nix that allowed it above.
			_, stderr, err := run(t, "HOME=/tmp nix-env -iA nixpkgs.hello-unfree")
			if err == nil || !strings.Contains(stderr, "has an unfree license") {
				t.Errorf("nix-env without the config: %v\n%s", err, stderr)
			}
		})
		t.Run("channel", func(t *testing.T) {
			// nix-channel --update downloads the pinned tarball again (a
			// URL ending in .tar.gz is the channel itself) and keeps the
			// channel working.
			stdout, stderr, err := run(t, "nix-channel --list && nix-channel --update >&2 && nix-env -iA nixpkgs.hello >&2 && hello")
			if err != nil {
				t.Fatalf("%v\n%s\n%s", err, stdout, stderr)
			}
			for _, want := range []string{"nixpkgs " + m.Args()["NIXPKGS_URL"] + "\n", "Hello, world!"} {
				if !strings.Contains(stdout, want) {
					t.Errorf("output lacks %q:\n%s\n%s", want, stdout, stderr)
				}
			}
		})
	})
}

// TestNixpkgsNarHash pins nixpkgs by the NAR hash of its unpacked tree,
// as flake.lock does: the right hash builds, a wrong one fails naming
// both hashes and the spec line, for a download and for the named
// context nixpkgs.
func TestNixpkgsNarHash(t *testing.T) {
	e := testenv.Need(t, env)
	m := needMirror(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	good := m.Vars["NIXPKGS_NAR_HASH"]
	if !strings.HasPrefix(good, "sha256-") {
		t.Fatalf("the mirror has no NIXPKGS_NAR_HASH: %q", good)
	}
	// The NAR hash of another tree: a well-formed pin of the wrong tree.
	wrong := "sha256-LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ="
	pinned := func(hash string) string {
		return "nixpkgs:\n  url: " + m.URL + "/" + m.Vars["NIXPKGS_TARBALL"] + "\n  narHash: " + hash + "\n" +
			"images:\n  default:\n    defaultPackages: false\npackages: [hello]\n"
	}
	opts := m.BuildctlOpts("NIXPKGS_URL", "NIXPKGS_SHA256")

	t.Run("right hash", func(t *testing.T) {
		dir := e.SpecContext(t, pinned(good), nil)
		out := filepath.Join(t.TempDir(), "image.oci.tar")
		res, err := e.BuildSpec(ctx, dir, append(opts, "--output", "type=oci,dest="+out)...)
		if err != nil {
			t.Fatalf("build: %v\n%s", err, res.Stderr)
		}
		stdout, stderr, err := e.Run(ctx, testenv.RunSpec{Image: out, Args: []string{"/bin/sh", "-c", "hello && nix-instantiate --eval -E '(import <nixpkgs> {}).hello.name'"}})
		if err != nil || !strings.Contains(stdout, "Hello, world!") {
			t.Fatalf("running the image: %v\n%s\n%s", err, stdout, stderr)
		}
	})

	t.Run("right hash as build arg", func(t *testing.T) {
		// The spec's own (sha256) pin is replaced.
		dir := e.SpecContext(t, minimalSpec+"packages: [hello]\n", nil)
		res, err := e.BuildSpec(ctx, dir, append(opts, "--opt", "build-arg:NIXPKGS_URL="+m.Args()["NIXPKGS_URL"],
			"--opt", "build-arg:NIXPKGS_NAR_HASH="+good)...)
		if err != nil {
			t.Fatalf("build: %v\n%s", err, res.Stderr)
		}
		if steps := res.Progress.Find("[nix-image] unpack nixpkgs"); len(steps) == 0 {
			t.Errorf("no nixpkgs unpack step: %v", vertexNames(res.Progress.Vertices))
		}
	})

	contextDir := func(t *testing.T, dir string) []string {
		t.Helper()
		pkgs := filepath.Join(dir, "nixpkgs-context")
		if err := os.Mkdir(pkgs, 0o755); err != nil {
			t.Fatal(err)
		}
		copyFile(t, filepath.Join(m.Dir, m.Vars["NIXPKGS_TARBALL"]), filepath.Join(pkgs, "nixpkgs.tar.gz"))
		return []string{"--local", "nixpkgs=" + pkgs, "--opt", "context:nixpkgs=local:nixpkgs"}
	}
	for _, tc := range []struct {
		name    string
		context bool
	}{{"wrong hash", false}, {"wrong hash for the named context", true}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := e.SpecContext(t, pinned(wrong), nil)
			args := opts
			if tc.context {
				args = append(append([]string{}, opts...), contextDir(t, dir)...)
			}
			res, err := e.BuildSpec(ctx, dir, args...)
			if err == nil {
				t.Fatal("the build succeeded")
			}
			all := res.Stderr + res.Progress.Output("")
			// Line 1 is the # syntax line.
			for _, want := range []string{"NAR hash mismatch", "nix-image.yaml:4:12 (nixpkgs.narHash)", "the spec pins " + wrong, "the tree has " + good} {
				if !strings.Contains(all, want) {
					t.Errorf("error output lacks %q:\n%s", want, all)
				}
			}
		})
	}
}

// TestNixpkgsMinVersion gives the build a nixpkgs whose lib/minver.nix
// asks for a newer Nix than the spec's: it fails before evaluating
// nixpkgs, naming both versions and the nix: line.
func TestNixpkgsMinVersion(t *testing.T) {
	e := testenv.Need(t, env)
	m := needMirror(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	// default.nix would fail on evaluation: the check must come first.
	pkgs := tarGz(t, map[string]string{
		"nixpkgs/default.nix":    "{ ... }: throw \"nixpkgs-was-evaluated\"\n",
		"nixpkgs/lib/minver.nix": "# Expose the minimum required version for evaluating Nixpkgs\n\"99.1\"\n",
	})
	sum := sha256.Sum256(pkgs)
	url := m.Serve("future-nixpkgs.tar.gz", pkgs)
	spec := "nix:\n  version: " + m.Vars["NIX_VERSION"] + "\n  releases: " + m.URL + "/nix\n" + minimalSpec
	dir := e.SpecContext(t, spec, nil)
	args := append(m.BuildctlOpts("NIX_VERSION", "NIX_RELEASES"),
		"--opt", "build-arg:NIXPKGS_URL="+url, "--opt", "build-arg:NIXPKGS_SHA256="+hex.EncodeToString(sum[:]))
	res, err := e.BuildSpec(ctx, dir, args...)
	if err == nil {
		t.Fatal("the build succeeded")
	}
	all := res.Stderr + res.Progress.Output("")
	for _, want := range []string{"needs Nix 99.1 or newer (its lib/minver.nix)", "the build uses Nix " + m.Vars["NIX_VERSION"],
		"chosen by nix-image.yaml:3:12 (nix.version)"} {
		if !strings.Contains(all, want) {
			t.Errorf("error output lacks %q:\n%s", want, all)
		}
	}
	if strings.Contains(all, "nixpkgs-was-evaluated") {
		t.Errorf("nixpkgs was evaluated before the version check:\n%s", all)
	}
}
