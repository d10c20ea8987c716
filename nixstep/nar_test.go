package nixstep

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// narTree writes a store-path-like tree exercising every NAR case:
// executable and plain files, sizes on and off the 8-byte padding, empty
// files and directories, symlinks, names that sort differently bytewise.
func narTree(t *testing.T) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "abc-pkg")
	mk := func(rel, body string, mode os.FileMode) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
	}
	mk("bin/hello", "#!/bin/sh\necho hello\n", 0o555)
	mk("bin/group-only-exec", "x", 0o654)
	mk("share/doc/README", strings.Repeat("8 bytes.", 100), 0o444)
	mk("share/doc/empty", "", 0o444)
	mk("share/B", "upper", 0o644)
	mk("share/a", "lower", 0o644)
	mk("share/a.b", "dot", 0o644)
	if err := os.MkdirAll(filepath.Join(root, "lib/empty-dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{"bin/hi": "hello", "lib/abs": "/nix/store/xyz-other/lib", "lib/dangling": "../nowhere"} {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func needNixTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s (Debian's nix-bin, see hack/install-deps.sh) is needed to check the NAR code against Nix: %v", name, err)
	}
	return p
}

func nixOutput(t *testing.T, prog string, args ...string) []byte {
	t.Helper()
	out, err := exec.Command(needNixTool(t, prog), args...).Output()
	if err != nil {
		t.Fatalf("%s %s: %v", prog, strings.Join(args, " "), err)
	}
	return out
}

// TestWriteNAR compares the NAR and its hash with Nix's own, for a tree, a
// lone file, an executable and a symlink.
func TestWriteNAR(t *testing.T) {
	root := narTree(t)
	for _, p := range []string{root, filepath.Join(root, "share/doc/README"), filepath.Join(root, "bin/hello"), filepath.Join(root, "bin/hi")} {
		t.Run(filepath.Base(p), func(t *testing.T) {
			want := nixOutput(t, "nix-store", "--dump", p)
			var got bytes.Buffer
			n, err := WriteNAR(&got, p)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want) || n != int64(len(want)) {
				t.Errorf("NAR of %s: %d bytes (counted %d), differs from nix-store --dump's %d", p, got.Len(), n, len(want))
			}
			sum, size, err := narHashSize(p)
			if err != nil {
				t.Fatal(err)
			}
			wantSum := strings.TrimSpace(string(nixOutput(t, "nix-hash", "--type", "sha256", "--base32", p)))
			if NixBase32(sum) != wantSum || size != int64(len(want)) {
				t.Errorf("NARHash = %s, %d; want %s, %d (nix-hash)", NixBase32(sum), size, wantSum, len(want))
			}
		})
	}
}

func TestParseNARHash(t *testing.T) {
	root := narTree(t)
	hexSum := strings.TrimSpace(string(nixOutput(t, "nix-hash", "--type", "sha256", root)))
	base32 := strings.TrimSpace(string(nixOutput(t, "nix-hash", "--type", "sha256", "--base32", root)))
	want, _ := hex.DecodeString(hexSum)
	// Nix 2.8's nix-hash has no --sri: SRI is the standard base64.
	sri := "sha256-" + base64.StdEncoding.EncodeToString(want)
	for _, s := range []string{hexSum, "sha256:" + base32, "sha256:" + hexSum, sri} {
		got, err := ParseNarHash(s)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("ParseNarHash(%q) = %x, %v; want %s", s, got, err, hexSum)
		}
	}
	for _, bad := range []string{
		"md5:" + base32,
		base32,
		hexSum[1:],
		"sha256:" + base32[1:],
		"sha256:e" + base32[1:],            // e is not in Nix's base32
		"sha256:z" + base32[1:],            // more than 256 bits
		"sha256-" + sri[len("sha256-")+4:], // too short
	} {
		if _, err := ParseNarHash(bad); err == nil {
			t.Errorf("ParseNarHash(%q) accepted it", bad)
		}
	}
}

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
			sum, _, err = narHashSize(full)
			if err != nil {
				t.Fatal(err)
			}
			if got := "sha256-" + base64.StdEncoding.EncodeToString(sum); got != want {
				t.Errorf("narHashSize(%s) = %s, nix-hash says %s", p, got, want)
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
	if _, _, err := narHashSize(dir); err == nil || !strings.Contains(err.Error(), "neither a file") {
		t.Errorf("narHashSize of a tree with a fifo: %v", err)
	}
}
