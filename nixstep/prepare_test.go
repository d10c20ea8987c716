package nixstep

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nix-image/nix-image/internal/archive"
	"github.com/ulikunitz/xz"
)

// tarball builds a tar archive with a top directory, as releases have.
func tarball(t *testing.T, compress string) []byte {
	t.Helper()
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	add := func(h *tar.Header, body string) {
		h.ModTime = time.Unix(1, 0)
		h.Size = int64(len(body))
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	add(&tar.Header{Name: "nix-2.8.0-x86_64-linux/", Typeflag: tar.TypeDir, Mode: 0o755}, "")
	add(&tar.Header{Name: "nix-2.8.0-x86_64-linux/.reginfo", Typeflag: tar.TypeReg, Mode: 0o644}, "reg")
	add(&tar.Header{Name: "nix-2.8.0-x86_64-linux/store/", Typeflag: tar.TypeDir, Mode: 0o555}, "")
	add(&tar.Header{Name: "nix-2.8.0-x86_64-linux/store/a-nix/", Typeflag: tar.TypeDir, Mode: 0o555}, "")
	add(&tar.Header{Name: "nix-2.8.0-x86_64-linux/store/a-nix/nix", Typeflag: tar.TypeReg, Mode: 0o555}, "#!nix")
	add(&tar.Header{Name: "nix-2.8.0-x86_64-linux/store/a-nix/nix-store", Typeflag: tar.TypeSymlink, Linkname: "nix"}, "")
	add(&tar.Header{Name: "nix-2.8.0-x86_64-linux/store/a-nix/copy", Typeflag: tar.TypeLink, Linkname: "nix-2.8.0-x86_64-linux/store/a-nix/nix"}, "")
	// The official tarballs keep write bits (tar --mode=u+rw,uga+r).
	add(&tar.Header{Name: "nix-2.8.0-x86_64-linux/store/a-nix/share/", Typeflag: tar.TypeDir, Mode: 0o755}, "")
	add(&tar.Header{Name: "nix-2.8.0-x86_64-linux/store/a-nix/share/doc", Typeflag: tar.TypeReg, Mode: 0o644}, "doc")
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	switch compress {
	case "gz":
		zw := gzip.NewWriter(&out)
		zw.Write(raw.Bytes())
		zw.Close()
	case "xz":
		zw, err := xz.NewWriter(&out)
		if err != nil {
			t.Fatal(err)
		}
		zw.Write(raw.Bytes())
		zw.Close()
	default:
		return raw.Bytes()
	}
	return out.Bytes()
}

func TestPrepare(t *testing.T) {
	for _, compress := range []string{"", "gz", "xz"} {
		t.Run("tarball-"+compress, func(t *testing.T) {
			dir := t.TempDir()
			src := filepath.Join(dir, "nix.tar")
			if err := os.WriteFile(src, tarball(t, compress), 0o644); err != nil {
				t.Fatal(err)
			}
			dst := filepath.Join(dir, "out")
			os.Mkdir(dst, 0o755)
			if err := Prepare(src, dst, ".reginfo", "test"); err != nil {
				t.Fatal(err)
			}
			checkTree(t, dst)
		})
	}
	t.Run("directory holding the tree", func(t *testing.T) {
		dir := t.TempDir()
		unpacked := filepath.Join(dir, "ctx")
		if err := archive.Unpack(writeTemp(t, tarball(t, "gz")), unpacked, "test"); err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(dir, "out")
		os.Mkdir(dst, 0o755)
		if err := Prepare(unpacked, dst, ".reginfo", "test"); err != nil {
			t.Fatal(err)
		}
		checkTree(t, dst)
	})
	t.Run("no marker", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "a"), nil, 0o644)
		os.WriteFile(filepath.Join(dir, "b"), nil, 0o644)
		if err := Prepare(dir, t.TempDir(), ".reginfo", "test"); err == nil {
			t.Fatal("want an error for a tree without .reginfo")
		}
	})
}

// rawTar is a tar of the given headers, with no content.
func rawTar(t *testing.T, hdrs ...*tar.Header) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, h := range hdrs {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestPrepareSymlinkedTop: a tarball whose only entry is a symlink to a
// directory outside (here one holding the marker and a file) is refused;
// hoisting it would move that directory's entries into dst.
func TestPrepareSymlinkedTop(t *testing.T) {
	dir := t.TempDir()
	outside := filepath.Join(dir, "outside")
	os.Mkdir(outside, 0o755)
	os.WriteFile(filepath.Join(outside, "keep"), []byte("x"), 0o644)
	os.Mkdir(filepath.Join(outside, "sub"), 0o755)
	os.WriteFile(filepath.Join(outside, "sub", "default.nix"), []byte("x"), 0o644)
	src := writeTemp(t, rawTar(t, &tar.Header{Name: "top", Typeflag: tar.TypeSymlink, Linkname: outside}))
	dst := filepath.Join(dir, "out")
	os.Mkdir(dst, 0o755)
	err := Prepare(src, dst, "default.nix", "https://example.org/nixpkgs.tar.gz")
	if err == nil || !strings.Contains(err.Error(), "unpacking https://example.org/nixpkgs.tar.gz: the tarball has no default.nix") {
		t.Errorf("err = %v, want the tarball's missing default.nix named", err)
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 2 {
		t.Errorf("outside holds %d entries, want its 2", len(entries))
	}
}

func writeTemp(t *testing.T, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "x.tar")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func checkTree(t *testing.T, dst string) {
	t.Helper()
	if b, err := os.ReadFile(filepath.Join(dst, ".reginfo")); err != nil || string(b) != "reg" {
		t.Errorf(".reginfo = %q, %v", b, err)
	}
	if l, err := os.Readlink(filepath.Join(dst, "store/a-nix/nix-store")); err != nil || l != "nix" {
		t.Errorf("symlink = %q, %v", l, err)
	}
	fi, err := os.Stat(filepath.Join(dst, "store/a-nix"))
	if err != nil || fi.Mode().Perm() != 0o555 {
		t.Errorf("store path mode = %v, %v; want 0555", fi.Mode(), err)
	}
	if fi.ModTime().Unix() != 1 {
		t.Errorf("mtime = %v, want the store's (1)", fi.ModTime())
	}
	if b, err := os.ReadFile(filepath.Join(dst, "store/a-nix/copy")); err != nil || string(b) != "#!nix" {
		t.Errorf("hard link = %q, %v", b, err)
	}
}
