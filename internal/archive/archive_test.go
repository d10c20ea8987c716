package archive

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"
)

// source is how the tests name the archive: the step passes the URL and
// the spec field, or the named context.
const source = "https://example.org/x.tar.gz, given at nix-image.yaml:3:8 (nixpkgs.url)"

// entry is one member of a test archive.
type entry struct {
	hdr  tar.Header
	body string
}

func dir(name string) entry {
	return entry{hdr: tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755}}
}
func file(name, body string) entry {
	return entry{hdr: tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644}, body: body}
}
func symlink(name, target string) entry {
	return entry{hdr: tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target}}
}
func hardlink(name, target string) entry {
	return entry{hdr: tar.Header{Name: name, Typeflag: tar.TypeLink, Linkname: target}}
}

// tarOf writes entries as a tar archive.
func tarOf(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range entries {
		h := e.hdr
		if h.Typeflag != tar.TypeXGlobalHeader {
			h.ModTime = time.Unix(1, 0)
			h.Size = int64(len(e.body))
		}
		if h.Format == tar.FormatUnknown {
			h.Format = tar.FormatPAX
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func gzipOf(t testing.TB, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(data)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func xzOf(t testing.TB, data []byte, blockSize int64) []byte {
	return xzData(t, data, blockSize)
}

// world is a destination next to a directory it must never touch.
type world struct {
	base, dst, outside string
}

func newWorld(t testing.TB) world {
	t.Helper()
	base := t.TempDir()
	w := world{base: base, dst: filepath.Join(base, "dst"), outside: filepath.Join(base, "outside")}
	if err := os.MkdirAll(filepath.Join(w.outside, "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(w.outside, "victim"), []byte("untouched"), 0o644); err != nil {
		t.Fatal(err)
	}
	return w
}

// check fails unless base holds dst and outside only, and outside holds
// what newWorld put there.
func (w world) check(t testing.TB) {
	t.Helper()
	var got []string
	filepath.WalkDir(w.base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Errorf("walking %s: %v", p, err)
			return nil
		}
		rel, _ := filepath.Rel(w.base, p)
		if rel == "dst" {
			return filepath.SkipDir
		}
		if rel == "." {
			return nil
		}
		fi, _ := d.Info()
		got = append(got, rel+" "+fi.Mode().String())
		return nil
	})
	sort.Strings(got)
	want := []string{"outside drwxr-xr-x", "outside/dir drwxr-xr-x", "outside/victim -rw-r--r--"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("outside the destination:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if b, err := os.ReadFile(filepath.Join(w.outside, "victim")); err != nil || string(b) != "untouched" {
		t.Errorf("outside/victim = %q, %v", b, err)
	}
}

func TestExtractRefuses(t *testing.T) {
	tests := []struct {
		name string
		// archive builds the archive in the world w.
		archive func(t *testing.T, w world) []byte
		// entry is the entry the error must name ("" for a broken
		// stream), want a part of the message.
		entry, want string
	}{
		{
			name: "an HTML page served in place of the tarball",
			archive: func(*testing.T, world) []byte {
				return []byte("<!DOCTYPE html>\n<html><body>404 Not Found</body></html>\n")
			},
			want: "not a tar archive (plain, gzip, bzip2 or xz): it starts with \"<!DOCTYPE html>",
		},
		{
			name:    "an empty file",
			archive: func(*testing.T, world) []byte { return nil },
			want:    "the file is empty",
		},
		{
			name:    "text that is no archive",
			archive: func(*testing.T, world) []byte { return []byte(strings.Repeat("not a tarball ", 100)) },
			want:    "not a tar archive",
		},
		{
			name: "write through an absolute symlink to outside",
			archive: func(t *testing.T, w world) []byte {
				return tarOf(t, symlink("a", w.outside), file("a/victim", "pwned"))
			},
			entry: "a/victim", want: `goes through the symlink "a"`,
		},
		{
			name: "write through a relative symlink to outside",
			archive: func(t *testing.T, w world) []byte {
				return tarOf(t, dir("top/"), symlink("top/a", "../../outside"), file("top/a/new", "pwned"))
			},
			entry: "top/a/new", want: `goes through the symlink "top/a"`,
		},
		{
			name: "directory through a symlink to outside",
			archive: func(t *testing.T, w world) []byte {
				return tarOf(t, symlink("a", "../outside"), dir("a/dir/sub/"))
			},
			entry: "a/dir/sub/", want: "goes through the symlink",
		},
		{
			name: "symlink through a symlink to outside",
			archive: func(t *testing.T, w world) []byte {
				return tarOf(t, symlink("a", "../outside"), symlink("a/new", "x"))
			},
			entry: "a/new", want: "goes through the symlink",
		},
		{
			name: "write through a symlink inside the tree",
			archive: func(t *testing.T, w world) []byte {
				return tarOf(t, dir("d/"), symlink("a", "d"), file("a/f", "x"))
			},
			entry: "a/f", want: "goes through the symlink",
		},
		{
			name: "symlink made by a hard link to a symlink",
			archive: func(t *testing.T, w world) []byte {
				return tarOf(t, symlink("s", w.outside), hardlink("h", "s"), file("h/victim", "pwned"))
			},
			entry: "h/victim", want: `goes through the symlink "h"`,
		},
		{
			name:    "dot-dot name",
			archive: func(t *testing.T, w world) []byte { return tarOf(t, file("../outside/victim", "pwned")) },
			entry:   "../outside/victim", want: `".." in the name`,
		},
		{
			name: "zip-slip name under a top directory",
			archive: func(t *testing.T, w world) []byte {
				return tarOf(t, dir("nixpkgs-1/"), file("nixpkgs-1/../../outside/new", "pwned"))
			},
			entry: "nixpkgs-1/../../outside/new", want: `".." in the name`,
		},
		{
			name:    "absolute name",
			archive: func(t *testing.T, w world) []byte { return tarOf(t, file(filepath.Join(w.outside, "new"), "pwned")) },
			want:    "absolute name",
		},
		{
			name:    "hard link to outside, relative",
			archive: func(t *testing.T, w world) []byte { return tarOf(t, hardlink("h", "../outside/victim")) },
			entry:   "h", want: `hard link target: ".." in the name`,
		},
		{
			name: "hard link to outside, absolute",
			archive: func(t *testing.T, w world) []byte {
				return tarOf(t, hardlink("h", filepath.Join(w.outside, "victim")))
			},
			entry: "h", want: "hard link target: absolute name",
		},
		{
			name: "hard link through a symlink to outside",
			archive: func(t *testing.T, w world) []byte {
				return tarOf(t, symlink("s", w.outside), hardlink("h", "s/victim"))
			},
			entry: "h", want: `hard link target: goes through the symlink "s"`,
		},
		{
			name:    "hard link to nothing",
			archive: func(t *testing.T, w world) []byte { return tarOf(t, hardlink("h", "missing")) },
			entry:   "h", want: "which the archive has not made",
		},
		{
			name:    "hard link to a directory",
			archive: func(t *testing.T, w world) []byte { return tarOf(t, dir("d/"), hardlink("h", "d")) },
			entry:   "h", want: "hard link to the directory",
		},
		{
			name: "directory replaced by a symlink to outside",
			archive: func(t *testing.T, w world) []byte {
				return tarOf(t, dir("d/"), symlink("d", w.outside), file("d/victim", "pwned"))
			},
			entry: "d", want: "would replace a directory",
		},
		{
			name: "character device",
			archive: func(t *testing.T, w world) []byte {
				return tarOf(t, entry{hdr: tar.Header{Name: "dev/null", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3, Mode: 0o666}})
			},
			entry: "dev/null", want: "device or fifo",
		},
		{
			name: "block device",
			archive: func(t *testing.T, w world) []byte {
				return tarOf(t, entry{hdr: tar.Header{Name: "sda", Typeflag: tar.TypeBlock, Devmajor: 8, Mode: 0o660}})
			},
			entry: "sda", want: "device or fifo",
		},
		{
			name: "fifo",
			archive: func(t *testing.T, w world) []byte {
				return tarOf(t, entry{hdr: tar.Header{Name: "p", Typeflag: tar.TypeFifo, Mode: 0o644}})
			},
			entry: "p", want: "device or fifo",
		},
		{
			name: "sparse file",
			archive: func(t *testing.T, w world) []byte {
				return tarOf(t, entry{hdr: tar.Header{Name: "s", Typeflag: tar.TypeGNUSparse, Mode: 0o644, Format: tar.FormatGNU}})
			},
			entry: "s", want: "unsupported entry type",
		},
		{
			name:    "a file named as the destination",
			archive: func(t *testing.T, w world) []byte { return tarOf(t, file(".", "x")) },
			entry:   ".", want: "names the destination itself",
		},
		{
			name: "huge pax header",
			archive: func(t *testing.T, w world) []byte {
				return hugePAX(t, 2<<20)
			},
			want: `after entry "ok"`,
		},
		{
			name: "long name",
			archive: func(t *testing.T, w world) []byte {
				return tarOf(t, file(strings.Repeat("n", 4096), "x"))
			},
			entry: strings.Repeat("n", 4096), want: "file name too long",
		},
		{
			name: "huge size, truncated",
			archive: func(t *testing.T, w world) []byte {
				return truncatedEntry(t, 1<<40)
			},
			entry: "big", want: "unexpected EOF",
		},
		{
			name: "truncated gzip",
			archive: func(t *testing.T, w world) []byte {
				data := gzipOf(t, tarOf(t, file("a", strings.Repeat("x", 10000)), file("b", "y")))
				return data[:len(data)/2]
			},
			want: "unexpected EOF",
		},
		{
			name: "gzip without its trailer",
			archive: func(t *testing.T, w world) []byte {
				data := gzipOf(t, tarOf(t, file("a", "x")))
				return data[:len(data)-4]
			},
			want: "after the last entry: unexpected EOF",
		},
		{
			name: "gzip with a bad checksum",
			archive: func(t *testing.T, w world) []byte {
				data := gzipOf(t, tarOf(t, file("a", "x")))
				data[len(data)-8] ^= 1
				return data
			},
			want: "checksum",
		},
		{
			name: "truncated xz, one block",
			archive: func(t *testing.T, w world) []byte {
				data := xzOf(t, tarOf(t, file("a", string(sample(100000)))), 1<<20)
				return data[:len(data)/2]
			},
			want: "unpacking " + source,
		},
		{
			name: "truncated xz, many blocks",
			archive: func(t *testing.T, w world) []byte {
				data := xzOf(t, tarOf(t, file("a", string(sample(100000))), file("b", string(sample(100000)))), 16<<10)
				return data[:len(data)-100]
			},
			want: "unpacking " + source,
		},
		{
			name: "xz with a corrupt block",
			archive: func(t *testing.T, w world) []byte {
				data := xzOf(t, tarOf(t, file("a", string(sample(100000))), file("b", string(sample(100000)))), 16<<10)
				data[len(data)/2] ^= 0x55
				return data
			},
			want: "unpacking " + source,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			data := tc.archive(t, w)
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			err := Extract(bytes.NewReader(data), int64(len(data)), w.dst, source)
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			if err == nil {
				t.Fatal("extracted; want an error")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "unpacking "+source+": ") || !strings.Contains(msg, tc.want) {
				t.Errorf("error = %q, want one naming the source and saying %q", msg, tc.want)
			}
			if tc.entry != "" && !strings.Contains(msg, "entry \""+tc.entry+"\"") {
				t.Errorf("error = %q, want it to name the entry %q", msg, tc.entry)
			}
			// All it allocated, not its peak: a bound all the same.
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 128<<20 {
				t.Errorf("allocated %d MiB for a %d-byte archive", alloc>>20, len(data))
			}
			w.check(t)
		})
	}
}

// truncatedEntry is a tar whose only entry claims size bytes and holds a
// few.
func truncatedEntry(t testing.TB, size int64) []byte {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	if err := tw.WriteHeader(&tar.Header{Name: "big", Typeflag: tar.TypeReg, Size: size, Mode: 0o644}); err != nil {
		t.Fatal(err)
	}
	tw.Write([]byte("only this"))
	tw.Flush() // fails (the entry is short), but the header is written
	return b.Bytes()
}

// hugePAX is a tar of a file "ok" and then a pax header of size bytes
// naming the next entry (archive/tar writes none that big).
func hugePAX(t testing.TB, size int) []byte {
	name := strings.Repeat("a", size)
	record := "path=" + name + "\n"
	n := len(record) + 8
	record = fmt.Sprintf("%d %s", n+len(fmt.Sprint(n))-7, record)
	data := tarOf(t, file("ok", "x"), entry{hdr: tar.Header{Name: "PaxHeader", Typeflag: tar.TypeReg, Format: tar.FormatUSTAR, Mode: 0o644}, body: record})
	// The second header (after the first's header and data block).
	hdr := data[1024:1536]
	hdr[156] = tar.TypeXHeader
	copy(hdr[148:156], "        ")
	sum := 0
	for _, c := range hdr {
		sum += int(c)
	}
	copy(hdr[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return data
}

// tree describes what dst holds: per path its type, mode, time (the
// archive's, or the extraction's), link target or content.
func tree(t testing.TB, dst string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dst, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dst, p)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		stamp := "now" // a directory made for an entry's parent
		if fi.ModTime().Equal(time.Unix(1, 0)) {
			stamp = "epoch"
		}
		line := rel + " " + fi.Mode().String() + " " + stamp
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			line += " -> " + target
		case fi.Mode().IsRegular():
			b, _ := os.ReadFile(p)
			line += " " + string(b)
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestExtract(t *testing.T) {
	const epoch = "epoch"
	tests := []struct {
		name    string
		archive func(t *testing.T, w world) []byte
		want    []string
	}{
		{
			name: "Nix release layout, xz in blocks",
			archive: func(t *testing.T, w world) []byte {
				return xzOf(t, tarOf(t,
					dir("nix-2.8.0-x86_64-linux/"),
					file("nix-2.8.0-x86_64-linux/.reginfo", "reg"),
					dir("nix-2.8.0-x86_64-linux/store/"),
					entry{hdr: tar.Header{Name: "nix-2.8.0-x86_64-linux/store/a-nix/", Typeflag: tar.TypeDir, Mode: 0o555}},
					entry{hdr: tar.Header{Name: "nix-2.8.0-x86_64-linux/store/a-nix/nix", Typeflag: tar.TypeReg, Mode: 0o555}, body: "#!nix"},
					symlink("nix-2.8.0-x86_64-linux/store/a-nix/nix-store", "nix"),
					hardlink("nix-2.8.0-x86_64-linux/store/a-nix/copy", "nix-2.8.0-x86_64-linux/store/a-nix/nix"),
				), 512)
			},
			want: []string{
				". drwxr-xr-x now",
				"nix-2.8.0-x86_64-linux drwxr-xr-x " + epoch,
				"nix-2.8.0-x86_64-linux/.reginfo -rw-r--r-- " + epoch + " reg",
				"nix-2.8.0-x86_64-linux/store drwxr-xr-x " + epoch,
				"nix-2.8.0-x86_64-linux/store/a-nix dr-xr-xr-x " + epoch,
				"nix-2.8.0-x86_64-linux/store/a-nix/copy -r-xr-xr-x " + epoch + " #!nix",
				"nix-2.8.0-x86_64-linux/store/a-nix/nix -r-xr-xr-x " + epoch + " #!nix",
				"nix-2.8.0-x86_64-linux/store/a-nix/nix-store Lrwxrwxrwx " + epoch + " -> nix",
			},
		},
		{
			name: "GitHub archive: pax global header, one top directory, gzip",
			archive: func(t *testing.T, w world) []byte {
				return gzipOf(t, tarOf(t,
					entry{hdr: tar.Header{Name: "pax_global_header", Typeflag: tar.TypeXGlobalHeader, PAXRecords: map[string]string{"comment": "0123abcd"}}},
					dir("nixpkgs-0123abcd/"),
					file("nixpkgs-0123abcd/default.nix", "{}"),
				))
			},
			want: []string{
				". drwxr-xr-x now",
				"nixpkgs-0123abcd drwxr-xr-x " + epoch,
				"nixpkgs-0123abcd/default.nix -rw-r--r-- " + epoch + " {}",
			},
		},
		{
			name: "symlinks pointing outside are kept, not followed",
			archive: func(t *testing.T, w world) []byte {
				return tarOf(t, symlink("abs", w.outside), symlink("rel", "../outside/victim"), hardlink("h", "rel"))
			},
			want: []string{
				". drwxr-xr-x now",
				"abs Lrwxrwxrwx " + epoch + " -> OUTSIDE",
				"h Lrwxrwxrwx " + epoch + " -> ../outside/victim",
				"rel Lrwxrwxrwx " + epoch + " -> ../outside/victim",
			},
		},
		{
			name: "a later entry replaces a symlink to outside, never writes through it",
			archive: func(t *testing.T, w world) []byte {
				return tarOf(t, symlink("s", "../outside/victim"), file("s", "new"), symlink("d", "../outside"), dir("d/"), file("d/f", "in"))
			},
			want: []string{
				". drwxr-xr-x now",
				"d drwxr-xr-x " + epoch,
				"d/f -rw-r--r-- " + epoch + " in",
				"s -rw-r--r-- " + epoch + " new",
			},
		},
		{
			name: "./ prefixes, doubled slashes, backslashes are names",
			archive: func(t *testing.T, w world) []byte {
				return tarOf(t, dir("./"), file("./a//b", "x"), file(`..\..\c`, "y"))
			},
			want: []string{
				". drwxr-xr-x now",
				`..\..\c -rw-r--r-- ` + epoch + " y",
				"a drwxr-xr-x now",
				"a/b -rw-r--r-- " + epoch + " x",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			data := tc.archive(t, w)
			if err := Extract(bytes.NewReader(data), int64(len(data)), w.dst, source); err != nil {
				t.Fatal(err)
			}
			got := tree(t, w.dst)
			for i, line := range got {
				got[i] = strings.ReplaceAll(line, w.outside, "OUTSIDE")
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("tree:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			w.check(t)
		})
	}
}

func TestUnpackNamesMissingFile(t *testing.T) {
	err := Unpack(filepath.Join(t.TempDir(), "missing.tar"), t.TempDir(), source)
	if err == nil || !strings.HasPrefix(err.Error(), "unpacking "+source+": ") {
		t.Errorf("err = %v", err)
	}
}
