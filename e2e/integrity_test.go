package e2e

import (
	"archive/tar"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nix-image/nix-image/internal/testenv"
)

// TestTamperedStorePath changes store paths in the realise step's /nix
// cache mount between builds, as a killed build, a full disk or a person
// with access to the builder could: a Dockerfile step on the same daemon
// mounts the same cache (same id, in a cache namespace of this test's own)
// and changes a byte of a file of jq, adds a file to the nixpkgs source,
// then to the channel. The next builds that use those paths must never
// ship them: jq (which the binary cache has) is fetched again by its layer
// step and the image verifies; the nixpkgs source is neither evaluated
// nor shipped from the cache (its layer and the evaluation use the unpack
// step's tree); the channel (built here, so no substituter has it) is
// rebuilt (nix-store --repair-path), or the build fails naming it.
func TestTamperedStorePath(t *testing.T) {
	e := testenv.Need(t, env)
	m := needMirror(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	ns := fmt.Sprintf("tamper-%d", time.Now().UnixNano())
	// BuildKit leaves cache mount ids out of cache keys: an epoch of its
	// own makes the first realise step run, in this test's cache.
	opts := append(m.BuildctlOpts(), "--opt", "build-arg:BUILDKIT_CACHE_MOUNT_NS="+ns,
		"--opt", fmt.Sprintf("build-arg:SOURCE_DATE_EPOCH=%d", time.Now().Unix()))
	// cacheID is llbgen's id of the /nix cache, without the namespace
	// (the Dockerfile frontend adds it too).
	cacheID := "nix-image/nix/" + m.Vars["NIX_SYSTEM"] + "/" + m.Vars["NIX_SHA256"]

	spec := exampleSpec(t, "default")
	ref := e.RegistryAddr + "/test/tamper:" + ns
	res, err := e.BuildSpec(ctx, e.SpecContext(t, spec, nil), append(opts, "--output", "type=image,name="+ref+",push=true")...)
	if err != nil {
		t.Fatalf("first build: %v\n%s", err, lastLines(res.Progress.Output("[nix-image]"), 30))
	}

	// tamper runs script in the image just built, with the cache mounted
	// at /cache, and returns the store path it names in /tampered.
	tamper := func(t *testing.T, script string) string {
		t.Helper()
		dockerfile := fmt.Sprintf(`FROM %s AS tamper
RUN --mount=type=cache,id=%s,target=/cache,sharing=locked set -e; %s
FROM scratch
COPY --from=tamper /tampered /
`, ref, cacheID, script)
		dir := t.TempDir()
		if err := writeFile(filepath.Join(dir, "Dockerfile"), dockerfile); err != nil {
			t.Fatal(err)
		}
		out := t.TempDir()
		res, err := e.Build(ctx, dir, "Dockerfile", append(opts, "--output", "type=local,dest="+out)...)
		if err != nil {
			t.Fatalf("tampering with the cache: %v\n%s", err, res.Stderr)
		}
		p := strings.TrimSpace(readFile(t, filepath.Join(out, "tampered")))
		if !strings.HasPrefix(p, "/nix/store/") {
			t.Fatalf("tampered with %q, not a store path", p)
		}
		return p
	}
	// build builds the spec with extra packages (so that the realise step
	// runs again) and a Nix setting of its own (so that every layer step
	// runs again, on this test's cache) and returns the result and the
	// log of the nix-image steps.
	builds := 0
	build := func(t *testing.T, out string, packages ...string) (*testenv.BuildResult, string, error) {
		t.Helper()
		s := strings.Replace(spec, "packages:\n  - sqlite\n", "packages:\n  - sqlite\n  - "+strings.Join(packages, "\n  - ")+"\n", 1)
		builds++
		s = strings.Replace(s, "\nnixConfig:\n", fmt.Sprintf("\nnixConfig:\n  connect-timeout: \"%d\"\n", 20+builds), 1)
		if !strings.Contains(s, "connect-timeout") || !strings.Contains(s, packages[0]) {
			t.Fatal("examples/default has no `packages: [sqlite]` list or `nixConfig:` to extend")
		}
		res, err := e.BuildSpec(ctx, e.SpecContext(t, s, nil), append(opts, "--output", "type=oci,dest="+out)...)
		return res, res.Progress.Output("[nix-image]"), err
	}

	t.Run("repaired from the binary cache", func(t *testing.T) {
		// The cache's jq is the image's, until a byte of it changes.
		jq := tamper(t, `p=$(readlink -f /root/.nix-profile/bin/jq); p=${p#/nix/store/}; f=/cache/store/$p; `+
			`sum() { sha256sum < "$1"; }; test "$(sum "$f")" = "$(sum "/nix/store/$p")"; `+
			`printf X | dd of="$f" bs=1 seek=200 conv=notrunc; test "$(sum "$f")" != "$(sum "/nix/store/$p")"; `+
			`echo "/nix/store/${p%%/*}" > /tampered`)
		out := filepath.Join(t.TempDir(), "img.tar")
		res, log, err := build(t, out, "hello")
		if err != nil {
			t.Fatalf("build after changing %s: %v\n%s", jq, err, res.Stderr)
		}
		if want := "store path " + jq + " does not match its registration"; !strings.Contains(log, want) {
			t.Errorf("the build's log does not say %q:\n%s", want, lastLines(log, 40))
		}
		if want := "substituting them"; !strings.Contains(log, want) {
			t.Errorf("the build's log does not say %q", want)
		}
		rootfs, cfg := unpackImage(t, out)
		stdout, stderr, err := e.Run(ctx, testenv.RunSpec{Image: rootfs, Config: cfg, Args: []string{"/bin/sh", "-c",
			"nix-store --verify --check-contents 2>&1 && echo '{\"a\":42}' | jq .a && hello"}})
		if err != nil || !strings.Contains(stdout, "42") || !strings.Contains(stdout, "Hello, world!") {
			t.Errorf("in the image: %v\n%s\n%s", err, stdout, stderr)
		}
	})

	t.Run("nixpkgs source: the cache copy is not used", func(t *testing.T) {
		// The cache holds the source as a link to the unpack step's tree,
		// which only the nix-image steps mount: whoever can write the cache
		// puts a tree of their own there instead.
		src := tamper(t, `p=$(readlink -f /root/.nix-defexpr/channels/nixpkgs); c=/cache/store/${p#/nix/store/}; `+
			`test -L "$c" || test -d "$c"; rm -f "$c"; mkdir -p "$c"; touch "$c/planted"; echo "$p" > /tampered`)
		out := filepath.Join(t.TempDir(), "img.tar")
		res, _, err := build(t, out, "which")
		if err != nil {
			t.Fatalf("build after changing %s: %v\n%s", src, err, res.Stderr)
		}
		rootfs, cfg := unpackImage(t, out)
		stdout, stderr, err := e.Run(ctx, testenv.RunSpec{Image: rootfs, Config: cfg, Args: []string{"/bin/sh", "-c",
			"set -e; test ! -e " + src + "/planted; nix-store --verify --check-contents 2>&1; which which"}})
		if err != nil {
			t.Errorf("in the image: %v\n%s\n%s", err, stdout, stderr)
		}
	})

	t.Run("built path: rebuilt or the build fails naming it", func(t *testing.T) {
		channel := tamper(t, `p=$(readlink -f /root/.nix-defexpr/channels); touch "/cache/store/${p#/nix/store/}/planted"; echo "$p" > /tampered`)
		out := filepath.Join(t.TempDir(), "img.tar")
		res, log, err := build(t, out, "less")
		if want := "store path " + channel + " does not match its registration"; !strings.Contains(res.Stderr+log, want) {
			t.Errorf("the build's output does not say %q:\n%s", want, lastLines(res.Stderr+log, 40))
		}
		if err != nil {
			// buildctl creates the file before the build: it must stay empty.
			if fi, err := os.Stat(out); err == nil && fi.Size() > 0 {
				t.Errorf("an image was exported: %s (%d bytes)", out, fi.Size())
			}
			return
		}
		rootfs, cfg := unpackImage(t, out)
		stdout, stderr, err := e.Run(ctx, testenv.RunSpec{Image: rootfs, Config: cfg, Args: []string{"/bin/sh", "-c",
			"set -e; test ! -e " + channel + "/planted; nix-store --verify --check-contents 2>&1; less --version"}})
		if err != nil {
			t.Errorf("in the image: %v\n%s\n%s", err, stdout, stderr)
		}
	})
}

// TestHostileTarballs serves a nixpkgs tarball and a Nix release tarball
// that try to write outside their destination: each build fails, and the
// error names the entry and the URL it came from.
func TestHostileTarballs(t *testing.T) {
	e := testenv.Need(t, env)
	m := needMirror(t)
	pkgs := tarOfEntries(t,
		&tar.Header{Name: "nixpkgs/default.nix", Typeflag: tar.TypeReg, Mode: 0o644},
		&tar.Header{Name: "nixpkgs/lib", Typeflag: tar.TypeSymlink, Linkname: "/out"},
		&tar.Header{Name: "nixpkgs/lib/default.nix", Typeflag: tar.TypeReg, Mode: 0o644},
	)
	pkgsURL := m.Serve("hostile-nixpkgs.tar.gz", pkgs)
	pkgsSum := sha256.Sum256(pkgs)
	release := tarOfEntries(t,
		&tar.Header{Name: "nix-2.8.0-x86_64-linux/.reginfo", Typeflag: tar.TypeReg, Mode: 0o644},
		&tar.Header{Name: "nix-2.8.0-x86_64-linux/../../var/nix/evil", Typeflag: tar.TypeReg, Mode: 0o644},
	)
	releaseURL := m.Serve("hostile-nix.tar.gz", release)
	releaseSum := sha256.Sum256(release)
	tests := []struct {
		name   string
		args   []string
		except []string
		want   []string
	}{
		{
			name: "nixpkgs writes through its own symlink",
			args: []string{"--opt", "build-arg:NIXPKGS_URL=" + pkgsURL, "--opt", "build-arg:NIXPKGS_SHA256=" + hex.EncodeToString(pkgsSum[:])},
			want: []string{"unpacking " + pkgsURL + ":", `entry "nixpkgs/lib/default.nix"`, `goes through the symlink "nixpkgs/lib"`},
		},
		{
			name:   "the Nix release climbs out with ..",
			args:   []string{"--opt", "build-arg:NIX_URL=" + releaseURL, "--opt", "build-arg:NIX_SHA256=" + hex.EncodeToString(releaseSum[:])},
			except: []string{"NIX_VERSION", "NIX_RELEASES"},
			want:   []string{"unpacking " + releaseURL + ":", `entry "nix-2.8.0-x86_64-linux/../../var/nix/evil"`, `".." in the name: refused`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			res, err := e.BuildSpec(ctx, e.SpecContext(t, minimalSpec, nil), append(m.BuildctlOpts(tc.except...), tc.args...)...)
			if err == nil {
				t.Fatal("the build succeeded")
			}
			all := res.Stderr + res.Progress.Output("")
			for _, want := range tc.want {
				if !strings.Contains(all, want) {
					t.Errorf("error output lacks %q:\n%s", want, all)
				}
			}
		})
	}
}

// TestBrokenInputs feeds the build sources that are broken rather than
// hostile: each build fails with an error naming the source (URL), and
// what is wrong with it.
func TestBrokenInputs(t *testing.T) {
	e := testenv.Need(t, env)
	m := needMirror(t)
	serve := func(name string, data []byte) []string {
		sum := sha256.Sum256(data)
		return []string{"--opt", "build-arg:NIXPKGS_URL=" + m.Serve(name, data), "--opt", "build-arg:NIXPKGS_SHA256=" + hex.EncodeToString(sum[:])}
	}
	html := []byte("<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head><body>Not Found</body></html>\n")
	release := tarOfEntries(t,
		&tar.Header{Name: "nix-2.8.1-x86_64-linux/install", Typeflag: tar.TypeReg, Mode: 0o755},
		&tar.Header{Name: "nix-2.8.1-x86_64-linux/store/", Typeflag: tar.TypeDir, Mode: 0o755},
	)
	releaseURL := m.Serve("release-without-reginfo.tar.gz", release)
	releaseSum := sha256.Sum256(release)
	// An install script of a release that has no x86_64-linux tarball.
	m.Serve("releases/nix-9.9.9/install", []byte("#!/bin/sh\ncase \"$(uname -s).$(uname -m)\" in\n"+
		"    Linux.aarch64)\n        hash=0000000000000000000000000000000000000000000000000000000000000000\n        path=x\n        system=aarch64-linux\n        ;;\nesac\n"))
	// The offline set plus a package that no cache has and that fails to
	// build.
	missing := retarNixpkgs(t, filepath.Join(m.Dir, m.Vars["NIXPKGS_TARBALL"]), func(name string, data []byte) []byte {
		if name != "nixpkgs/default.nix" {
			return data
		}
		return []byte(strings.TrimSuffix(string(data), "pkgs\n") +
			"pkgs // { in-no-cache = derivation { name = \"in-no-cache-1.0\"; inherit system; builder = \"/no/such/builder\"; }; }\n")
	})
	tests := []struct {
		name   string
		spec   string
		args   []string
		except []string
		want   []string
	}{
		{
			name: "a package no substituter has",
			spec: minimalSpec + "packages: [in-no-cache]\n",
			args: serve("nixpkgs-missing.tar.gz", missing),
			want: []string{"none of the substituters (" + m.URL + "/cache) has these store paths", "-in-no-cache-1.0.drv"},
		},
		{
			// Without this check the build gives an image labelled
			// arm64 whose binaries are all x86_64.
			name: "a release of another system than the image's",
			args: []string{"--opt", "platform=linux/arm64",
				"--opt", "build-arg:NIX_URL=" + m.URL + "/" + m.Vars["NIX_TARBALL"], "--opt", "build-arg:NIX_SHA256=" + m.Vars["NIX_SHA256"]},
			except: []string{"NIX_VERSION", "NIX_RELEASES"},
			want:   []string{"nix.url (build-arg:NIX_URL) gives one Nix release, but this build needs two: the x86_64-linux one, whose Nix realises the image on the builder (platform linux/amd64), and the aarch64-linux one, which the image holds (platform linux/arm64)"},
		},
		{
			name: "nixpkgs is an HTML page",
			args: serve("nixpkgs-404.html", html),
			want: []string{m.URL + "/extra/nixpkgs-404.html", "not a tar archive"},
		},
		{
			name: "nixpkgs is an empty file",
			args: serve("nixpkgs-empty.tar.gz", nil),
			want: []string{m.URL + "/extra/nixpkgs-empty.tar.gz", "empty"},
		},
		{
			name:   "the release has no .reginfo",
			args:   []string{"--opt", "build-arg:NIX_URL=" + releaseURL, "--opt", "build-arg:NIX_SHA256=" + hex.EncodeToString(releaseSum[:])},
			except: []string{"NIX_VERSION", "NIX_RELEASES"},
			want:   []string{releaseURL, ".reginfo"},
		},
		{
			name:   "the install script lacks the system",
			args:   []string{"--opt", "build-arg:NIX_RELEASES=" + m.URL + "/extra/releases", "--opt", "build-arg:NIX_VERSION=9.9.9"},
			except: []string{"NIX_VERSION", "NIX_RELEASES"},
			want:   []string{m.URL + "/extra/releases/nix-9.9.9/install", "no tarball for x86_64-linux"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			spec := cmp.Or(tc.spec, minimalSpec)
			res, err := e.BuildSpec(ctx, e.SpecContext(t, spec, nil), append(m.BuildctlOpts(tc.except...), tc.args...)...)
			if err == nil {
				t.Fatal("the build succeeded")
			}
			all := res.Stderr + res.Progress.Output("")
			for _, want := range tc.want {
				if !strings.Contains(all, want) {
					t.Errorf("error output lacks %q:\n%s", want, lastLines(all, 30))
				}
			}
		})
	}
}
