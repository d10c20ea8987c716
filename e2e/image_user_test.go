package e2e

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nix-image/nix-image/internal/testenv"
)

// userSpec is minimalSpec with a user and one package, which goes into the
// user's profile.
const userSpec = minimalSpec + `    packages: [jq]
    user:
      name: dev
      uid: 1000
      gid: 1000
`

// TestImageUser builds an image with a non-root user and uses Nix as that
// user: the image runs as its uid, owns /nix (the ownership is in the
// store layers themselves, no chown layer), and nix-env, nix-build and
// nix repl work as a single-user install.
func TestImageUser(t *testing.T) {
	e := testenv.Need(t, env)
	m := needMirror(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()

	dir := e.SpecContext(t, userSpec, nil)
	out := filepath.Join(t.TempDir(), "image.oci.tar")
	res, err := e.BuildSpec(ctx, dir, append(m.BuildctlOpts(), "--output", "type=oci,dest="+out)...)
	if err != nil {
		t.Fatalf("build: %v\n%s", err, res.Stderr)
	}
	rootfs, cfg := unpackImage(t, out)
	if cfg.User != "1000:1000" {
		t.Errorf("config User = %q, want 1000:1000", cfg.User)
	}

	t.Run("owners", func(t *testing.T) {
		// Every file of /nix is the user's, store paths included.
		var notOwned []string
		err := filepath.WalkDir(filepath.Join(rootfs, "nix"), func(p string, _ fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			fi, err := os.Lstat(p)
			if err != nil {
				return err
			}
			if st := fi.Sys().(*syscall.Stat_t); st.Uid != 1000 || st.Gid != 1000 {
				notOwned = append(notOwned, strings.TrimPrefix(p, rootfs))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(notOwned) > 0 {
			t.Errorf("%d files of /nix are not owned by 1000:1000, e.g. %s", len(notOwned), notOwned[0])
		}
		for _, p := range []string{"/etc/passwd", "/root", "/bin/sh"} {
			fi, err := os.Lstat(filepath.Join(rootfs, p))
			if err != nil {
				t.Fatal(err)
			}
			if fi.Sys().(*syscall.Stat_t).Uid != 0 {
				t.Errorf("%s is not root's", p)
			}
		}
	})

	run := func(t *testing.T, script string) string {
		t.Helper()
		stdout, stderr, err := e.Run(ctx, testenv.RunSpec{Image: rootfs, Config: cfg, Args: []string{"/bin/sh", "-c", script}})
		if err != nil {
			t.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s", script, err, stdout, stderr)
		}
		return stdout
	}
	steps := []struct {
		name, script, want string
	}{
		{"runs as the user", "echo $(id -u):$(id -g):$(id -un):$HOME:$USER", "1000:1000:dev:/home/dev:dev"},
		{"the packages are the user's profile", "readlink ~/.nix-profile && command -v jq && jq --version",
			"/nix/var/nix/profiles/per-user/dev/profile\n/home/dev/.nix-profile/bin/jq\njq-"},
		{"store verifies", "nix-store --verify --check-contents 2>&1 && echo verified", "verified"},
		{"install from the bundled channel", "nix-env -iA nixpkgs.hello >&2 && hello && readlink -f $(command -v hello)", "Hello, world!\n/nix/store/"},
		{"nix-build", `p=$(nix-build --no-out-link -E 'derivation { name = "t"; system = builtins.currentSystem; builder = "/bin/sh"; args = ["-c" "echo built > $out"]; }') && cat $p && stat -c %u:%g $p`, "built\n1000:1000"},
		{"nix repl", `echo hello.name | nix repl '<nixpkgs>' 2>&1`, "hello-"},
		{"store verifies after", "nix-store --verify --check-contents 2>&1 && nix store verify --all 2>&1 && echo verified", "verified"},
		{"gc keeps the profiles", "nix-store --gc >&2 && jq --version && nix --version", "nix (Nix) "},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if got := run(t, s.script); !strings.Contains(got, s.want) {
				t.Errorf("%s: output lacks %q:\n%s", s.script, s.want, got)
			}
		})
	}
}
