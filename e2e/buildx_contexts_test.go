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

// TestBuildxNamedContexts builds air-gapped: the Nix release and nixpkgs
// come as named contexts (`--build-context nix=DIR nixpkgs=DIR`, each a
// directory holding the tarball a user copied over), so nothing is
// downloaded; only the substituters point at the mirror's binary cache.
func TestBuildxNamedContexts(t *testing.T) {
	e := testenv.Need(t, env)
	m := needMirror(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	nixDir, nixpkgsDir := t.TempDir(), t.TempDir()
	copyFile(t, filepath.Join(m.Dir, m.Vars["NIX_TARBALL"]), filepath.Join(nixDir, filepath.Base(m.Vars["NIX_TARBALL"])))
	copyFile(t, filepath.Join(m.Dir, m.Vars["NIXPKGS_TARBALL"]), filepath.Join(nixpkgsDir, "nixpkgs.tar.gz"))

	// The spec's pins name a Nix release and a nixpkgs that cannot be
	// downloaded here: the contexts replace them.
	dir := e.SpecContext(t, minimalSpec+"packages: [hello]\n", nil)
	out := filepath.Join(t.TempDir(), "image.oci.tar")
	res, err := e.BuildxJSON(ctx, dir, "build", "-f", testenv.SpecFile,
		"--build-context", "nix="+nixDir,
		"--build-context", "nixpkgs="+nixpkgsDir,
		"--build-arg", "SUBSTITUTERS="+m.Args()["SUBSTITUTERS"],
		"--build-arg", "TRUSTED_PUBLIC_KEYS="+m.Args()["TRUSTED_PUBLIC_KEYS"],
		"-o", "type=oci,dest="+out, ".")
	if err != nil {
		t.Fatalf("docker buildx build with named contexts: %v", err)
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
