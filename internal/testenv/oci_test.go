package testenv

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// entry is one tar entry of a synthetic layer.
type entry struct {
	name, body, link string
	typ              byte
}

func layer(t *testing.T, entries ...entry) *bytes.Buffer {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: 0o644, Linkname: e.link,
			Uid: os.Getuid(), Gid: os.Getgid()}
		switch e.typ {
		case tar.TypeDir:
			hdr.Mode = 0o755
		case tar.TypeReg:
			hdr.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return &b
}

func dir(n string) entry             { return entry{name: n, typ: tar.TypeDir} }
func file(n, body string) entry      { return entry{name: n, body: body, typ: tar.TypeReg} }
func symlink(n, target string) entry { return entry{name: n, link: target, typ: tar.TypeSymlink} }
func hardlink(n, target string) entry {
	return entry{name: n, link: target, typ: tar.TypeLink}
}

// tree lists rootfs as "path" for dirs, "path=body" for files and
// "path->target" for symlinks.
func tree(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			out = append(out, rel+"->"+target)
		case fi.IsDir():
			out = append(out, rel+"/")
		default:
			b, _ := os.ReadFile(p)
			out = append(out, rel+"="+string(b))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func TestApplyLayer(t *testing.T) {
	base := []entry{
		dir("etc"), file("etc/a", "a"), file("etc/b", "b"),
		dir("opt"), file("opt/old", "old"),
		symlink("link", "/etc"),
	}
	tests := []struct {
		name  string
		upper []entry
		want  []string
	}{
		{
			name:  "whiteout removes a lower file",
			upper: []entry{file("etc/.wh.a", "")},
			want:  []string{"etc/", "etc/b=b", "link->/etc", "opt/", "opt/old=old"},
		},
		{
			name:  "opaque dir drops lower entries, keeps its own",
			upper: []entry{dir("opt"), file("opt/.wh..wh..opq", ""), file("opt/new", "new")},
			want:  []string{"etc/", "etc/a=a", "etc/b=b", "link->/etc", "opt/", "opt/new=new"},
		},
		{
			name:  "file replaces a directory",
			upper: []entry{file("opt", "now a file")},
			want:  []string{"etc/", "etc/a=a", "etc/b=b", "link->/etc", "opt=now a file"},
		},
		{
			name: "absolute symlink parent resolves inside the rootfs",
			// link -> /etc must lead to ROOTFS/etc, never the host's /etc.
			upper: []entry{file("link/c", "c")},
			want:  []string{"etc/", "etc/a=a", "etc/b=b", "etc/c=c", "link->/etc", "opt/", "opt/old=old"},
		},
		{
			name:  "dot-dot cannot leave the rootfs",
			upper: []entry{file("../../escaped", "x")},
			want:  []string{"escaped=x", "etc/", "etc/a=a", "etc/b=b", "link->/etc", "opt/", "opt/old=old"},
		},
		{
			name:  "hard link",
			upper: []entry{hardlink("etc/a2", "etc/a")},
			want:  []string{"etc/", "etc/a2=a", "etc/a=a", "etc/b=b", "link->/etc", "opt/", "opt/old=old"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for i, l := range [][]entry{base, tc.upper} {
				if err := ApplyLayer(layer(t, l...), root); err != nil {
					t.Fatalf("layer %d: %v", i, err)
				}
			}
			if got := tree(t, root); strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("got  %v\nwant %v", got, tc.want)
			}
		})
	}
}
