package testenv

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestNewFS makes a state file system, checks that it is a file system of
// its own that takes files, and that the stack's cleanup (unmountUnder,
// then removing the directory) leaves no mount behind.
func TestNewFS(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a file system needs root")
	}
	top := t.TempDir()
	dir := filepath.Join(top, "buildkitd")
	if err := newFS(t.Context(), dir, 64<<20); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unmountUnder(top) })
	var parent, fs syscall.Stat_t
	if err := syscall.Stat(top, &parent); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Stat(dir, &fs); err != nil {
		t.Fatal(err)
	}
	if fs.Dev == parent.Dev {
		t.Fatalf("%s is on the same device as %s: not mounted", dir, top)
	}
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := unmountUnder(top); err != nil {
		t.Fatal(err)
	}
	if m, err := MountsUnder(top); err != nil || len(m) != 0 {
		t.Fatalf("mounts left under %s: %v, %v", top, m, err)
	}
	if err := os.RemoveAll(top); err != nil {
		t.Fatal(err)
	}
}
