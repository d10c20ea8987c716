package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nix-image/nix-image/internal/testenv"
)

// TestSystemNixFromNixpkgs: with system.nix: nixpkgs the system profile has
// the package set's nix (another store path and version than the release
// that realised the image), the release is not in the image, and the
// description label says so.
func TestSystemNixFromNixpkgs(t *testing.T) {
	e := testenv.Need(t, env)
	m := needMirror(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()

	dir := e.SpecContext(t, minimalSpec+"system:\n  nix: nixpkgs\n", nil)
	out := filepath.Join(t.TempDir(), "image.oci.tar")
	res, err := e.BuildSpec(ctx, dir, append(m.BuildctlOpts(), "--output", "type=oci,dest="+out)...)
	if err != nil {
		t.Fatalf("build: %v\n%s", err, res.Stderr)
	}
	rootfs, cfg := unpackImage(t, out)
	if got := cfg.Labels["org.opencontainers.image.description"]; !strings.HasPrefix(got, "Nix of nixpkgs ") ||
		!strings.Contains(got, "realised with Nix "+m.Vars["NIX_VERSION"]) {
		t.Errorf("description label %q does not say the image's Nix is nixpkgs'", got)
	}
	script := "nix --version; readlink -f /run/current-system/sw/bin/nix; " +
		"if [ -e " + m.Vars["NIX_STORE_PATH"] + " ]; then echo release-present; fi; nix store verify --all 2>&1 && echo verify-ok"
	stdout, stderr, err := e.Run(ctx, testenv.RunSpec{Image: rootfs, Config: cfg, Args: []string{"/bin/sh", "-c", script}})
	if err != nil {
		t.Fatalf("%s: %v\n%s\n%s", script, err, stdout, stderr)
	}
	for _, want := range []string{"nix (Nix) " + m.Vars["NIXPKGS_NIX_VERSION"] + "\n", m.Vars["NIXPKGS_NIX_STORE_PATH"] + "/", "verify-ok"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, "release-present") {
		t.Errorf("the release %s is in the image, though its Nix is not used:\n%s", m.Vars["NIX_STORE_PATH"], stdout)
	}
}
