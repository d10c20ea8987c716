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
