package nixstep

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSymlinks(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    map[string]string // link -> target
		wantErr string
	}{
		{"two links", []string{"/run/sw/etc/a", "/etc/a", "../b", "etc/sub/b"},
			map[string]string{"etc/a": "/run/sw/etc/a", "etc/sub/b": "../b"}, ""},
		{"odd arguments", []string{"/x"}, nil, "want pairs"},
		{"none", nil, nil, "want pairs"},
		{"the root", []string{"/x", "/"}, nil, "the tree's root"},
		{"missing parent", []string{"/x", "/nodir/a"}, nil, "nodir/a -> /x"},
		{"existing file", []string{"/x", "/etc/file"}, nil, "etc/file -> /x"},
		{"through a symlink out of the tree", []string{"/x", "/escape/a"}, nil, "escape/a -> /x"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			outside := t.TempDir()
			if err := os.MkdirAll(filepath.Join(dir, "etc/sub"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "etc/file"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(outside, filepath.Join(dir, "escape")); err != nil {
				t.Fatal(err)
			}
			err := Symlinks(dir, tc.args)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				if entries, _ := os.ReadDir(outside); len(entries) != 0 {
					t.Errorf("wrote outside the tree: %v", entries)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for link, target := range tc.want {
				got, err := os.Readlink(filepath.Join(dir, link))
				if err != nil || got != target {
					t.Errorf("%s -> %q (%v), want %q", link, got, err, target)
				}
			}
		})
	}
}
