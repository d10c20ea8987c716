package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nix-image/nix-image/internal/testenv"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

func writeFile(p, data string) error { return os.WriteFile(p, []byte(data), 0o644) }

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// readOCI reads the image of an `--output type=oci,dest=X.tar` export of
// a single-platform image without attestations (index.json names only
// the image).
func readOCI(t *testing.T, path string) testenv.OCIImage {
	t.Helper()
	a, err := testenv.ReadOCIArchive(path)
	if err != nil {
		t.Fatal(err)
	}
	imgs, err := a.Images()
	if err != nil || len(a.Index.Manifests) != 1 || len(imgs) != 1 {
		t.Fatalf("%s: %v (%d manifests in index.json, %d images)", path, err, len(a.Index.Manifests), len(imgs))
	}
	return imgs[0]
}

// ociEntry is one thing an OCI archive holds, as walkOCI reports it: a
// blob that is not a layer (index, manifest, config; Path is ""), or an
// entry of a layer.
type ociEntry struct {
	Blob string // the archive member, e.g. blobs/sha256/<digest>
	Path string // the path in the layer
	Hdr  *tar.Header
	Data []byte // the blob, or the layer file's content
}

// walkOCI calls fn for every blob of an OCI archive that is not a gzip
// layer and for every entry of every layer, and returns how many layers
// and regular layer files it read; it fails t when there are none (not an
// image, so a scan of it would prove nothing).
func walkOCI(t *testing.T, image string, fn func(ociEntry)) (layers, files int) {
	t.Helper()
	f, err := os.Open(image)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	outer := tar.NewReader(f)
	for {
		hdr, err := outer.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("reading %s: %v", image, err)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		blob, err := io.ReadAll(outer)
		if err != nil {
			t.Fatalf("reading %s: %v", hdr.Name, err)
		}
		gz, err := gzip.NewReader(bytes.NewReader(blob))
		if err != nil {
			fn(ociEntry{Blob: hdr.Name, Hdr: hdr, Data: blob})
			continue
		}
		layers++
		inner := tar.NewReader(gz)
		for {
			lh, err := inner.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("reading layer %s: %v", hdr.Name, err)
			}
			data, err := io.ReadAll(inner)
			if err != nil {
				t.Fatalf("reading %s in layer %s: %v", lh.Name, hdr.Name, err)
			}
			if lh.Typeflag == tar.TypeReg {
				files++
			}
			fn(ociEntry{Blob: hdr.Name, Path: lh.Name, Hdr: lh, Data: data})
		}
	}
	if layers == 0 || files == 0 {
		t.Fatalf("%s: %d layers and %d files: not an image", image, layers, files)
	}
	return layers, files
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// tarEntry is one entry of a tarball a test writes.
type tarEntry struct {
	hdr  *tar.Header
	body []byte
}

// gzipTar is a gzip tarball of entries, each header's size set to its body.
func gzipTar(t *testing.T, entries []tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		e.hdr.Size = int64(len(e.body))
		if err := tw.WriteHeader(e.hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// tarGz builds a gzip tarball of files (path -> content), in name order.
func tarGz(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var entries []tarEntry
	for _, name := range slices.Sorted(maps.Keys(files)) {
		entries = append(entries, tarEntry{&tar.Header{Name: name, Mode: 0o644, Typeflag: tar.TypeReg}, []byte(files[name])})
	}
	return gzipTar(t, entries)
}

// tarOfEntries is a gzip tarball of hdrs, each regular file holding its
// own name.
func tarOfEntries(t *testing.T, hdrs ...*tar.Header) []byte {
	t.Helper()
	var entries []tarEntry
	for _, h := range hdrs {
		var body []byte
		if h.Typeflag == tar.TypeReg {
			body = []byte(h.Name)
		}
		entries = append(entries, tarEntry{h, body})
	}
	return gzipTar(t, entries)
}

// retarNixpkgs returns the gzip tarball at src with each regular file's
// content passed through edit.
func retarNixpkgs(t *testing.T, src string, edit func(name string, data []byte) []byte) []byte {
	t.Helper()
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var entries []tarEntry
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Typeflag == tar.TypeReg {
			data = edit(hdr.Name, data)
		}
		entries = append(entries, tarEntry{hdr, data})
	}
	return gzipTar(t, entries)
}

// unpackImage unpacks an `--output type=oci,dest=X.tar` export into a
// rootfs in a temp dir of t and returns it with the image's config.
func unpackImage(t *testing.T, image string) (string, *ocispecs.ImageConfig) {
	t.Helper()
	rootfs := filepath.Join(t.TempDir(), "rootfs")
	cfg, err := testenv.UnpackOCI(image, rootfs)
	if err != nil {
		t.Fatalf("unpacking the image %s: %v", image, err)
	}
	return rootfs, cfg
}
