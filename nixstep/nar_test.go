package nixstep

import (
	"encoding/base64"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestNarHashMatchesNix compares NarHash with Nix's own `nix-hash --type
// sha256` (the NAR hash, in hex) on trees with every kind of entry.
func TestNarHashMatchesNix(t *testing.T) {
	nixHash, err := exec.LookPath("nix-hash")
	if err != nil {
		t.Skip("nix-hash is not installed (Debian: apt-get install nix-bin)")
	}
	dir := t.TempDir()
	write := func(p, data string, mode os.FileMode) {
		t.Helper()
		p = filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	link := func(target, p string) {
		t.Helper()
		if err := os.Symlink(target, filepath.Join(dir, p)); err != nil {
			t.Fatal(err)
		}
	}
	write("tree/default.nix", "{ ... }: { }\n", 0o644)
	write("tree/empty", "", 0o644)
	write("tree/eight", "12345678", 0o644)
	write("tree/bin/run", "#!/bin/sh\necho hi\n", 0o755)
	write("tree/lib/Upper", "sorted before lower case\n", 0o444)
	write("tree/lib/lower", strings.Repeat("x", 100000), 0o600)
	write("tree/lib/a-b", "byte order: - before .\n", 0o644)
	write("tree/lib/a.b", "\n", 0o644)
	if err := os.MkdirAll(filepath.Join(dir, "tree/empty-dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	link("bin/run", "tree/relative")
	link("/nix/store/0000000000000000000000000000000-dangling", "tree/absolute")
	write("file", "a single file\n", 0o644)
	write("exe", "a single executable\n", 0o755)
	link("file", "symlink")

	for _, p := range []string{"tree", "tree/lib", "tree/empty-dir", "file", "exe", "symlink"} {
		t.Run(p, func(t *testing.T) {
			full := filepath.Join(dir, p)
			out, err := exec.Command(nixHash, "--type", "sha256", full).Output()
			if err != nil {
				t.Fatalf("nix-hash: %v", err)
			}
			sum, err := hex.DecodeString(strings.TrimSpace(string(out)))
			if err != nil {
				t.Fatalf("nix-hash printed %q", out)
			}
			want := "sha256-" + base64.StdEncoding.EncodeToString(sum)
			got, err := NarHash(full)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("NarHash(%s) = %s, nix-hash says %s", p, got, want)
			}
		})
	}
}

func TestNarHashRefusesSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := exec.Command("mkfifo", fifo).Run(); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	if _, err := NarHash(dir); err == nil || !strings.Contains(err.Error(), "neither a file") {
		t.Errorf("NarHash of a tree with a fifo: %v", err)
	}
}
