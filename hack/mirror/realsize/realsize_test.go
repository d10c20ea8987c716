package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// smallCounts is a layout a hundredth of the real one.
var smallCounts = counts{byName: 175, category: 110, modules: 48, tests: 12, hugeDiv: 100}

// TestGenerateIsDeterministic: the same counts give the same files.
func TestGenerateIsDeterministic(t *testing.T) {
	a, b := generate(smallCounts), generate(smallCounts)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two generations differ")
	}
	for p := range a {
		if !strings.HasPrefix(p, "pkgs/") && !strings.HasPrefix(p, "nixos/") {
			t.Errorf("%s is outside pkgs/ and nixos/ (it could shadow the package set's own files)", p)
		}
	}
}

// TestTarball: the tarball (the small tree and the generated files) is the
// same bytes every time, unpacks to the tree with the modes and order of
// hack/mirror.sh's det_tar, and its NAR hash is what Nix computes.
func TestTarball(t *testing.T) {
	src := t.TempDir()
	writeFiles(t, src, map[string]string{"default.nix": "{ ... }: { }\n", "lib/minver.nix": "\"2.3.17\"\n"})
	bin := filepath.Join(src, "bootstrap", "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "busybox"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(src, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	build := func(out string) *node {
		tree, err := readTree(src)
		if err != nil {
			t.Fatal(err)
		}
		for p, f := range generate(smallCounts) {
			if err := tree.add(p, f); err != nil {
				t.Fatal(err)
			}
		}
		if err := writeTarball(out, tree); err != nil {
			t.Fatal(err)
		}
		return tree
	}
	dir := t.TempDir()
	tree := build(filepath.Join(dir, "a.tar.gz"))
	build(filepath.Join(dir, "b.tar.gz"))
	a, b := readFile(t, filepath.Join(dir, "a.tar.gz")), readFile(t, filepath.Join(dir, "b.tar.gz"))
	if sha256.Sum256(a) != sha256.Sum256(b) {
		t.Fatal("two tarballs of the same tree differ")
	}

	zr, err := gzip.NewReader(bytes.NewReader(a))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var names []string
	files := 0
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Uid != 0 || h.Gid != 0 || h.ModTime.Unix() != 1 {
			t.Errorf("%s: owner %d:%d, mtime %d; want 0:0, 1", h.Name, h.Uid, h.Gid, h.ModTime.Unix())
		}
		want := int64(0o644)
		if h.Typeflag == tar.TypeDir || h.Name == "nixpkgs/bootstrap/bin/busybox" || strings.HasSuffix(h.Name, "/update.sh") {
			want = 0o755
		}
		if h.Mode != want {
			t.Errorf("%s: mode %o, want %o", h.Name, h.Mode, want)
		}
		if h.Typeflag == tar.TypeReg {
			files++
		}
	}
	if names[0] != "nixpkgs/" || !slices.Contains(names, "nixpkgs/empty/") || !slices.Contains(names, "nixpkgs/lib/minver.nix") {
		t.Errorf("entries start %q, want nixpkgs/ first, nixpkgs/empty/ and the small tree's files", names[:min(5, len(names))])
	}
	for i := 1; i < len(names); i++ {
		// Within a directory, by name; a directory before what it holds.
		if slices.Compare(strings.Split(strings.TrimSuffix(names[i-1], "/"), "/"), strings.Split(strings.TrimSuffix(names[i], "/"), "/")) >= 0 {
			t.Fatalf("entries out of order: %s before %s", names[i-1], names[i])
		}
	}
	if n, _ := tree.stats(); n != files {
		t.Errorf("stats: %d files, the tarball has %d", n, files)
	}

	// The NAR hash, against Nix's own serialisation of the unpacked tree.
	nixStore, err := exec.LookPath("nix-store")
	if err != nil {
		t.Skip("no nix-store to compare the NAR hash with")
	}
	unpacked := t.TempDir()
	cmd := exec.Command("tar", "-xzf", filepath.Join(dir, "a.tar.gz"), "-C", unpacked)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("GNU tar: %v\n%s", err, out)
	}
	nar, err := exec.Command(nixStore, "--dump", filepath.Join(unpacked, "nixpkgs")).Output()
	if err != nil {
		t.Fatalf("nix-store --dump: %v", err)
	}
	var mine bytes.Buffer
	nw := narWriter{w: &mine}
	nw.str("nix-archive-1")
	nw.node(tree)
	if !bytes.Equal(mine.Bytes(), nar) {
		t.Errorf("our NAR (%d bytes) is not nix-store --dump's (%d bytes)", mine.Len(), len(nar))
	}
}

// TestRealCounts: the real layout is about nixpkgs' size (hack/mirror.sh
// checks the same bounds on the whole tree).
func TestRealCounts(t *testing.T) {
	if testing.Short() {
		t.Skip("generates 230 MB")
	}
	files, n := 0, 0
	for _, f := range generate(realCounts) {
		files++
		n += len(f.data)
	}
	if files < 40000 || n < 200_000_000 {
		t.Errorf("%d files, %d bytes; want at least 40,000 files and 200 MB", files, n)
	}
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
