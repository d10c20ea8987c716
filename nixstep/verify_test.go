package nixstep

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckPath(t *testing.T) {
	tests := []struct {
		name string
		// change changes the tree at root after its registration.
		change  func(t *testing.T, root string)
		wantErr error
	}{
		{name: "as registered", change: func(*testing.T, string) {}},
		{name: "a byte changed", change: func(t *testing.T, root string) {
			p := filepath.Join(root, "bin/hello")
			data, _ := os.ReadFile(p)
			data[3] ^= 1
			os.Chmod(p, 0o755)
			if err := os.WriteFile(p, data, 0o555); err != nil {
				t.Fatal(err)
			}
		}, wantErr: errMismatch},
		{name: "half written", change: func(t *testing.T, root string) {
			os.Chmod(filepath.Join(root, "share/doc"), 0o755)
			if err := os.Truncate(filepath.Join(root, "share/doc/README"), 100); err != nil {
				t.Fatal(err)
			}
		}, wantErr: errMismatch},
		{name: "a file missing", change: func(t *testing.T, root string) {
			if err := os.Remove(filepath.Join(root, "share/a")); err != nil {
				t.Fatal(err)
			}
		}, wantErr: errMismatch},
		{name: "executable bit dropped", change: func(t *testing.T, root string) {
			os.Chmod(filepath.Join(root, "bin/hello"), 0o444)
		}, wantErr: errMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := narTree(t)
			sum, size, err := narHashSize(root)
			if err != nil {
				t.Fatal(err)
			}
			info := PathInfo{Path: "/nix/store/abc-pkg", NarHash: "sha256:" + NixBase32(sum), NarSize: size}
			tc.change(t, root)
			_, err = checkPath(root, info)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "store path /nix/store/abc-pkg does not match its registration") {
				t.Errorf("err = %v, want it to name the store path", err)
			}
		})
	}
}

// TestWriteCheckedTree: a store path is copied into its layer tree and
// checked, its NAR bytes counted; a copy that does not match its
// registration is an errMismatch and is removed; a missing path is
// fs.ErrNotExist.
func TestWriteCheckedTree(t *testing.T) {
	root := narTree(t)
	store := filepath.Dir(root)
	sum, size, err := narHashSize(root)
	if err != nil {
		t.Fatal(err)
	}
	good := LayerPath{Path: "/nix/store/abc-pkg", NarHash: "sha256:" + NixBase32(sum), NarSize: size}
	copyOf := func(top string) string { return filepath.Join(top, storeDir, "abc-pkg") }

	top := t.TempDir()
	cost, err := writeCheckedTree(store, top, good)
	if err != nil {
		t.Fatal(err)
	}
	if cost.size != size {
		t.Errorf("counted %d bytes of NAR, want %d", cost.size, size)
	}
	if _, err := checkPath(copyOf(top), PathInfo{Path: good.Path, NarHash: good.NarHash, NarSize: good.NarSize}); err != nil {
		t.Errorf("the copy: %v", err)
	}

	bad := good
	bad.NarSize++
	top = t.TempDir()
	if _, err := writeCheckedTree(store, top, bad); !errors.Is(err, errMismatch) {
		t.Fatalf("err = %v, want %v", err, errMismatch)
	}
	if _, err := os.Lstat(copyOf(top)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the copy that does not match is still there (%v)", err)
	}

	missing := good
	missing.Path = "/nix/store/abc-missing"
	if _, err := writeCheckedTree(store, t.TempDir(), missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("err = %v, want %v", err, os.ErrNotExist)
	}
}
