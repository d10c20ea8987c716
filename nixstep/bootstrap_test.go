package nixstep

import (
	"archive/tar"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nix-image/nix-image/internal/archive"
)

func TestInstallRelease(t *testing.T) {
	tests := []struct {
		name string
		// source writes the release source into dir and returns its path.
		source func(t *testing.T, dir string) string
		// before prepares the store before the first install.
		before func(t *testing.T, store string)
		// unpacked: a tarball, whose files stay in the releases directory.
		unpacked bool
		wantErr  string
	}{
		{
			name: "tarball",
			source: func(t *testing.T, dir string) string {
				p := filepath.Join(dir, "nix.tar")
				os.WriteFile(p, tarball(t, "xz"), 0o644)
				return dir
			},
			unpacked: true,
		},
		{
			name: "tarball, a store path already there is kept",
			source: func(t *testing.T, dir string) string {
				p := filepath.Join(dir, "nix.tar")
				os.WriteFile(p, tarball(t, "gz"), 0o644)
				return p
			},
			before: func(t *testing.T, store string) {
				os.MkdirAll(filepath.Join(store, "a-nix"), 0o755)
				os.WriteFile(filepath.Join(store, "a-nix", "kept"), nil, 0o644)
			},
			unpacked: true,
		},
		{
			name: "unpacked release",
			source: func(t *testing.T, dir string) string {
				if err := archive.Unpack(writeTemp(t, tarball(t, "")), dir, "test"); err != nil {
					t.Fatal(err)
				}
				return dir
			},
		},
		{
			name: "tarball whose store is a symlink",
			source: func(t *testing.T, dir string) string {
				return writeTemp(t, rawTar(t,
					&tar.Header{Name: "nix/.reginfo", Typeflag: tar.TypeReg},
					&tar.Header{Name: "nix/store", Typeflag: tar.TypeSymlink, Linkname: dir},
				))
			},
			wantErr: "unpacking test release: the Nix release has no store directory",
		},
		{
			name:    "no release",
			source:  func(t *testing.T, dir string) string { return dir },
			wantErr: "has no .reginfo",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			if err := os.Mkdir(filepath.Join(root, "src"), 0o755); err != nil {
				t.Fatal(err)
			}
			src := tc.source(t, filepath.Join(root, "src"))
			store, releases := filepath.Join(root, "nix/store"), filepath.Join(root, "nix/var/releases")
			if tc.before != nil {
				tc.before(t, store)
			}
			rel, err := installRelease(src, store, releases, "test release")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(rel.names, []string{"a-nix"}) {
				t.Errorf("names = %q", rel.names)
			}
			if !rel.installedIn(store) || !exists(filepath.Join(rel.dir, ".reginfo")) {
				t.Errorf("release %+v not installed in %s", rel, store)
			}
			if tc.before != nil && !exists(filepath.Join(store, "a-nix", "kept")) {
				t.Error("the store path already there was replaced")
			}
			// As in a Nix store: nothing of the release is writable.
			filepath.WalkDir(filepath.Join(store, "a-nix"), func(p string, d os.DirEntry, err error) error {
				if err != nil {
					t.Error(err)
					return err
				}
				if fi, _ := d.Info(); d.Type()&os.ModeSymlink == 0 && fi.Mode()&0o222 != 0 {
					t.Errorf("%s has mode %v, want no write bits", p, fi.Mode())
				}
				return nil
			})
			if !tc.unpacked {
				return
			}
			if filepath.Dir(rel.dir) != releases || exists(filepath.Join(rel.dir, "store")) {
				t.Errorf("release files in %s (with store/: %v), want them in %s without it", rel.dir, exists(filepath.Join(rel.dir, "store")), releases)
			}
			if b, err := os.ReadFile(filepath.Join(store, "a-nix", "copy")); tc.before == nil && (err != nil || string(b) != "#!nix") {
				t.Errorf("store path file = %q, %v", b, err)
			}
			// A later build finds the release and unpacks nothing: an
			// unpack would replace the release's directory. A store path
			// gone from the store (garbage) is unpacked again.
			first, err := os.Stat(rel.dir)
			if err != nil {
				t.Fatal(err)
			}
			again, err := installRelease(src, store, releases, "test release")
			if err != nil || again.dir != rel.dir {
				t.Fatalf("again: %+v, %v; want %+v", again, err, rel)
			}
			if now, err := os.Stat(rel.dir); err != nil || !os.SameFile(first, now) {
				t.Errorf("the release was unpacked again although its store paths are there (%v)", err)
			}
			os.Chmod(filepath.Join(store, "a-nix"), 0o755)
			os.RemoveAll(filepath.Join(store, "a-nix"))
			if _, err := installRelease(src, store, releases, "test release"); err != nil || !rel.installedIn(store) {
				t.Errorf("after the store path was removed: %v, installed %v", err, rel.installedIn(store))
			}
			if now, err := os.Stat(rel.dir); err != nil || os.SameFile(first, now) {
				t.Errorf("a store path was missing, but the release was not unpacked again (%v)", err)
			}
			entries, _ := os.ReadDir(releases)
			if len(entries) != 1 {
				t.Errorf("releases holds %d entries, want 1 (no unpack leftovers)", len(entries))
			}
		})
	}
}
