package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nix-image/nix-image/internal/testenv"
)

// TestBuildxNamedContexts runs the README's air-gapped build: the Nix
// release and nixpkgs come as named contexts (`--build-context nix=DIR
// nixpkgs=DIR`, each a directory holding the tarball a user copied over),
// so nothing is downloaded; only the substituters point at the mirror's
// binary cache.
func TestBuildxNamedContexts(t *testing.T) { testBuildxNamedContexts(t, testenv.Need(t, env)) }

// testBuildxNamedContexts is the body of TestBuildxNamedContexts, on the stack e.
func testBuildxNamedContexts(t *testing.T, e *testenv.Env) {
	m := needMirror(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	// The spec's pins name a Nix release and a nixpkgs that cannot be
	// downloaded here: the contexts replace them.
	dir := e.SpecContext(t, minimalSpec+"packages: [hello]\n", nil)
	for _, d := range []string{"nix-release", "nixpkgs"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	copyFile(t, filepath.Join(m.Dir, m.Vars["NIX_TARBALL"]), filepath.Join(dir, "nix-release", filepath.Base(m.Vars["NIX_TARBALL"])))
	copyFile(t, filepath.Join(m.Dir, m.Vars["NIXPKGS_TARBALL"]), filepath.Join(dir, "nixpkgs", "nixpkgs.tar.gz"))

	cmds := readmeCommands(t, "Air-gapped: named contexts and a binary cache mirror", "")
	if len(cmds) != 1 {
		t.Fatalf("README: want one command, got %q", cmds)
	}
	cmd := cmds[0]
	for i, f := range cmd {
		for _, k := range []string{"SUBSTITUTERS", "TRUSTED_PUBLIC_KEYS"} {
			if strings.HasPrefix(f, k+"=") {
				cmd[i] = k + "=" + m.Args()[k]
			}
		}
	}
	out := filepath.Join(t.TempDir(), "image.oci.tar")
	res, err := e.BuildxJSON(ctx, dir, withArgs(cmd, "-o", "type=oci,dest="+out)...)
	if err != nil {
		t.Fatalf("docker buildx build with named contexts: %v", err)
	}
	if len(res.Progress.Find("[nix-image] realise ")) == 0 {
		t.Errorf("no realise step: %v", vertexNames(res.Progress.Vertices))
	}
	for _, v := range res.Progress.Vertices {
		if strings.Contains(v.Name, "https://") || strings.Contains(v.Name, m.URL+"/nix") {
			t.Errorf("downloaded although the contexts were given: %s", v.Name)
		}
	}
	stdout, stderr, err := e.Run(ctx, testenv.RunSpec{Image: out, Args: []string{"/bin/sh", "-c",
		"nix --version && hello && nix-instantiate --eval -E '(import <nixpkgs> {}).hello.name'"}})
	if err != nil {
		t.Fatalf("running the image: %v\n%s", err, stderr)
	}
	for _, w := range []string{"nix (Nix) " + m.Vars["NIX_VERSION"], "Hello, world!", "hello"} {
		if !strings.Contains(stdout, w) {
			t.Errorf("output lacks %q:\n%s", w, stdout)
		}
	}
}

// copyFile copies src to dst (hard links would let a test change the
// mirror).
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
