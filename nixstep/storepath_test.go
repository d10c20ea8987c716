package nixstep

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// writeFiles writes files (name -> content; a trailing "*" makes it
// executable) under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		mode := os.FileMode(0o644)
		if strings.HasSuffix(name, "*") {
			name, mode = strings.TrimSuffix(name, "*"), 0o755
		}
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), mode); err != nil {
			t.Fatal(err)
		}
	}
}

// TestStoreSource: the store path and registration StoreSource gives a
// tree are those `nix-store --add` gives it (the host's Nix, on a private
// store).
func TestStoreSource(t *testing.T) {
	nixStore, err := exec.LookPath("nix-store")
	if err != nil {
		t.Fatalf("nix-store (Debian's nix-bin, installed by make deps): %v", err)
	}
	files := map[string]string{"default.nix": "{ }: { }\n", "lib/minver.nix": `"2.3"`, "bin/x*": "#!/bin/sh\n"}
	work := t.TempDir()
	named := filepath.Join(work, "nixpkgs")
	writeFiles(t, named, files)
	// A symlink, and a directory two levels down.
	links := func(dir string) {
		t.Helper()
		if err := os.Symlink("../default.nix", filepath.Join(dir, "lib", "link")); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dir, "pkgs", "by-name"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	links(named)
	cmd := exec.Command(nixStore, "--store", filepath.Join(work, "store"), "--option", "build-users-group", "", "--add", named)
	want, err := cmd.Output()
	if err != nil {
		t.Fatalf("nix-store --add: %v", err)
	}
	tree := filepath.Join(work, "unpacked")
	writeFiles(t, tree, files)
	links(tree)
	out, meta := filepath.Join(work, "out"), filepath.Join(work, "meta.json")
	if err := StoreSource(tree, out, meta, "nixpkgs", "", ""); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(meta)
	if err != nil {
		t.Fatal(err)
	}
	var src SourcePath
	if err := json.Unmarshal(data, &src); err != nil {
		t.Fatal(err)
	}
	if src.Path != strings.TrimSpace(string(want)) {
		t.Errorf("store path %s, nix-store --add gives %s", src.Path, want)
	}
	if _, err := checkPath(filepath.Join(out, src.Path), PathInfo{Path: src.Path, NarHash: src.NarHash, NarSize: src.NarSize}); err != nil {
		t.Error(err)
	}
	// Every entry, the top one too, read-only (but symlinks) with the
	// store's time.
	n := 0
	err = filepath.WalkDir(filepath.Join(out, src.Path), func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		n++
		if fi.Mode()&os.ModeSymlink == 0 && fi.Mode().Perm()&0o222 != 0 || fi.ModTime().Unix() != 1 {
			t.Errorf("%s: mode %v, mtime %v; want read-only, mtime 1", p, fi.Mode(), fi.ModTime())
		}
		return nil
	})
	if err != nil || n != 9 {
		t.Errorf("walked %d entries (want 9): %v", n, err)
	}
	t.Run("pin mismatch", func(t *testing.T) {
		tree := filepath.Join(t.TempDir(), "unpacked")
		writeFiles(t, tree, files)
		err := StoreSource(tree, t.TempDir(), filepath.Join(t.TempDir(), "m.json"), "nixpkgs",
			"sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "nix-image.yaml:4:3 (nixpkgs.narHash)")
		if err == nil || !strings.Contains(err.Error(), "nix-image.yaml:4:3 (nixpkgs.narHash)") {
			t.Errorf("err = %v, want the pin's mismatch naming its field", err)
		}
	})
}

// TestWriteLayer: a layer step copies its paths from the /nix cache when
// it holds them intact, with the store's times and the owner asked for;
// a path the cache holds changed is not copied (without a release to
// fetch it with, the step fails naming it).
func TestWriteLayer(t *testing.T) {
	cache := t.TempDir()
	name := "0123456789abcdfghijklmnpqrsvwxyz-hello-1.0"
	writeFiles(t, filepath.Join(cache, "store", name), map[string]string{"bin/hello*": "#!/bin/sh\necho hello\n", "share/doc": "hello"})
	sum, size, err := narHashSize(filepath.Join(cache, "store", name))
	if err != nil {
		t.Fatal(err)
	}
	p := LayerPath{Path: storeDir + "/" + name, NarHash: "sha256:" + NixBase32(sum), NarSize: size}
	t.Run("from the cache", func(t *testing.T) {
		out := t.TempDir()
		cfg := LayerConfig{Paths: []LayerPath{p}, Owner: &Owner{UID: os.Getuid(), GID: os.Getgid()}}
		if err := WriteLayer(t.Context(), cfg, cache, out); err != nil {
			t.Fatal(err)
		}
		if _, err := checkPath(filepath.Join(out, p.Path), PathInfo{Path: p.Path, NarHash: p.NarHash, NarSize: p.NarSize}); err != nil {
			t.Error(err)
		}
		for _, d := range []string{"nix", "nix/store", "nix/store/" + name + "/bin/hello"} {
			fi, err := os.Lstat(filepath.Join(out, d))
			if err != nil {
				t.Fatal(err)
			}
			if fi.ModTime().Unix() != 1 {
				t.Errorf("%s: mtime %v, want 1", d, fi.ModTime())
			}
		}
	})
	t.Run("changed in the cache", func(t *testing.T) {
		bad := p
		bad.NarSize++
		out := t.TempDir()
		err := WriteLayer(t.Context(), LayerConfig{Paths: []LayerPath{bad}, ReleaseSource: "the test release"}, cache, out)
		if err == nil || !strings.Contains(err.Error(), "the test release") {
			t.Errorf("err = %v, want the release that could not fetch it named", err)
		}
		if _, err := os.Lstat(filepath.Join(out, p.Path)); err == nil {
			t.Errorf("the changed copy is left in the layer")
		}
	})
}
