package e2e

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nix-image/nix-image/internal/testenv"
)

// TestDefaultImage builds examples/default through `# syntax=` on the
// offline mirror, checks the exported filesystem, then runs what a user
// runs inside it.
func TestDefaultImage(t *testing.T) { testDefaultImage(t, testenv.Need(t, env)) }

// testDefaultImage is the body of TestDefaultImage, on the stack e.
func testDefaultImage(t *testing.T, e *testenv.Env) {
	m := needMirror(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()

	dir := e.SpecContext(t, exampleSpec(t, "default"), nil)
	out := filepath.Join(t.TempDir(), "default.oci.tar")
	args := append(m.BuildctlOpts(), "--output", "type=oci,dest="+out)
	res, err := e.BuildSpec(ctx, dir, args...)
	if err != nil {
		t.Fatalf("build: %v\n%s", err, res.Stderr)
	}
	rootfs, cfg := unpackImage(t, out)

	t.Run("filesystem", func(t *testing.T) { checkLayout(t, rootfs) })

	run := func(t *testing.T, script string) string {
		t.Helper()
		// pipefail: a pipeline fails when any of its programs does, not
		// only its last (`curl --version | head -1`).
		stdout, stderr, err := e.Run(ctx, testenv.RunSpec{Image: rootfs, Config: cfg, Args: []string{"/bin/sh", "-c", "set -o pipefail\n" + script}})
		if err != nil {
			t.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s", script, err, stdout, stderr)
		}
		return stdout
	}
	steps := []struct {
		name, script, want string
	}{
		{"nix version", "nix --version", "nix (Nix) " + m.Vars["NIX_VERSION"]},
		{"store verifies", "nix-store --verify --check-contents 2>&1 && echo verified", "verified"},
		{"env", "/usr/bin/env bash -c 'echo env-ok'", "env-ok"},
		{"install from the bundled channel", "nix-env -iA nixpkgs.hello >&2 && hello", "Hello, world!"},
		{"nix-build", `nix-build --no-out-link -E 'derivation { name = "t"; system = builtins.currentSystem; builder = "/bin/sh"; args = ["-c" "echo built > $out"]; }' | xargs cat`, "built"},
		{"nixpkgs on NIX_PATH", `nix-instantiate --eval -E '(import <nixpkgs> {}).hello.name'`, "hello"},
		{"nix repl", `echo hello.name | nix repl '<nixpkgs>' 2>&1`, "hello-"},
		{"the system profile's Nix is the release", "readlink -f /run/current-system/sw/bin/nix", m.Vars["NIX_STORE_PATH"] + "/"},
		{"nixpkgs' nix is another Nix", "nix-instantiate --eval -E '(import <nixpkgs> {}).nix.outPath' && nix-env -p /tmp/pn -iA nixpkgs.nix >&2 && /tmp/pn/bin/nix --version",
			"nix (Nix) " + m.Vars["NIXPKGS_NIX_VERSION"]},
		{"release read-only", "p=$(nix-store -qR " + m.Vars["NIX_STORE_PATH"] + ") && w=$(find $p ! -type l -perm /222) && [ -z \"$w\" ] && echo read-only || echo \"writable: $w\"", "read-only"},
		{"store verify", "nix store verify --all 2>&1 && echo verify-ok", "verify-ok"},
		{"gc keeps the profiles", "nix-store --gc >&2 && nix --version && hello && nix-instantiate --eval -E '(import <nixpkgs> {}).jq.name'", "jq"},
		{"useradd", "useradd -m alice && id alice", "uid="},
		{"tools", "curl --version | head -1 && jq --version && vim --version | head -1 && command -v man && git --version", "git version"},
	}
	// The test world must tell the two Nixes apart for the steps above to mean anything.
	if m.Vars["NIX_STORE_PATH"] == m.Vars["NIXPKGS_NIX_STORE_PATH"] || m.Vars["NIX_VERSION"] == m.Vars["NIXPKGS_NIX_VERSION"] {
		t.Fatalf("the mirror's release Nix (%s) is the package set's (%s)", m.Vars["NIX_STORE_PATH"], m.Vars["NIXPKGS_NIX_STORE_PATH"])
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if got := run(t, s.script); !strings.Contains(got, s.want) {
				t.Errorf("%s: output lacks %q:\n%s", s.script, s.want, got)
			}
		})
	}
	t.Run("nixpkgs' nix outPath", func(t *testing.T) {
		got := run(t, "nix-instantiate --eval -E '(import <nixpkgs> {}).nix.outPath'")
		if !strings.Contains(got, m.Vars["NIXPKGS_NIX_STORE_PATH"]) {
			t.Errorf("nixpkgs' nix is %s, want %s", got, m.Vars["NIXPKGS_NIX_STORE_PATH"])
		}
	})
	t.Run("signatures", func(t *testing.T) {
		checkSignatures(t, run(t, "nix path-info --sigs -r /run/current-system/sw /root/.nix-profile/"))
	})
}

// checkSignatures checks `nix path-info --sigs` output: every path but
// those the realise step made itself (the profiles' user environments,
// ultimately trusted, and their manifests, content-addressed: `ca:`)
// carries the mirror cache's signature, the release's paths too (copied
// from the cache, which holds them).
func checkSignatures(t *testing.T, out string) {
	t.Helper()
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasSuffix(f[0], "-user-environment") {
			continue
		}
		n++
		signed := false
		for _, sig := range f[1:] {
			signed = signed || strings.HasPrefix(sig, "nix-image-mirror-1:") || strings.HasSuffix(f[0], "-env-manifest.nix") && strings.HasPrefix(sig, "ca:")
		}
		if !signed {
			t.Errorf("%s has no signature of the mirror's cache: %q", f[0], line)
		}
	}
	if n < 10 {
		t.Errorf("nix path-info --sigs listed only %d paths:\n%s", n, out)
	}
}

// checkLayout checks the image's filesystem: no distro, only the two
// global paths, the system profile, modes.
func checkLayout(t *testing.T, rootfs string) {
	t.Helper()
	allowed := map[string]bool{"bin": true, "etc": true, "nix": true, "root": true, "run": true, "tmp": true, "usr": true, "var": true}
	entries, err := os.ReadDir(rootfs)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !allowed[e.Name()] {
			t.Errorf("unexpected top-level entry /%s", e.Name())
		}
	}
	for dir, want := range map[string]string{"bin": "sh", "usr": "bin", "usr/bin": "env"} {
		if got := dirNames(t, filepath.Join(rootfs, dir)); got != want {
			t.Errorf("/%s holds %q, want only %q", dir, got, want)
		}
	}
	modes := map[string]os.FileMode{
		"tmp":       os.ModeDir | os.ModeSticky | 0o777,
		"var/tmp":   os.ModeDir | os.ModeSticky | 0o777,
		"nix":       os.ModeDir | 0o755,
		"nix/store": os.ModeDir | 0o755,
		"root":      os.ModeDir | 0o700,
	}
	for p, want := range modes {
		fi, err := os.Lstat(filepath.Join(rootfs, p))
		if err != nil {
			t.Errorf("/%s: %v", p, err)
			continue
		}
		if fi.Mode() != want {
			t.Errorf("/%s has mode %v, want %v", p, fi.Mode(), want)
		}
	}
	for _, p := range []string{"/run/current-system/sw/bin/nix", "/bin/sh", "/usr/bin/env", "/root/.nix-defexpr/channels/nixpkgs/default.nix", "/etc/ssl/certs/ca-bundle.crt", "/root/.nix-profile/bin/jq"} {
		target, err := resolveIn(rootfs, p)
		if err != nil {
			t.Errorf("%s does not resolve: %v", p, err)
			continue
		}
		if !strings.HasPrefix(target, "/nix/store/") {
			t.Errorf("%s resolves to %s, outside the store", p, target)
		}
	}
	if _, err := os.Stat(filepath.Join(rootfs, "nix/var/nix/db/db.sqlite")); err != nil {
		t.Errorf("no Nix DB: %v", err)
	}
}

func dirNames(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n []string
	for _, e := range entries {
		n = append(n, e.Name())
	}
	sort.Strings(n)
	return strings.Join(n, " ")
}

// resolveIn follows symlinks of p as the image would, inside rootfs, and
// returns the final path as seen from inside.
func resolveIn(rootfs, p string) (string, error) {
	for i := 0; i < 40; i++ {
		parts := strings.Split(strings.TrimPrefix(filepath.Clean(p), "/"), "/")
		cur := "/"
		changed := false
		for j, part := range parts {
			next := filepath.Join(cur, part)
			fi, err := os.Lstat(filepath.Join(rootfs, next))
			if err != nil {
				return "", err
			}
			if fi.Mode()&os.ModeSymlink != 0 {
				target, err := os.Readlink(filepath.Join(rootfs, next))
				if err != nil {
					return "", err
				}
				if !filepath.IsAbs(target) {
					target = filepath.Join(cur, target)
				}
				p = filepath.Join(append([]string{target}, parts[j+1:]...)...)
				changed = true
				break
			}
			cur = next
		}
		if !changed {
			return p, nil
		}
	}
	return "", os.ErrInvalid
}
