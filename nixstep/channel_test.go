package nixstep

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// hostNix runs a command of the host's Nix (Debian's nix-bin, make deps)
// on the chroot store at root, with a nix.conf of its own.
func hostNix(t *testing.T, root string, stdin string, name string, args ...string) (string, error) {
	t.Helper()
	bin, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s (Debian's nix-bin, make deps): %v", name, err)
	}
	conf := t.TempDir()
	if err := os.WriteFile(filepath.Join(conf, "nix.conf"), []byte("build-users-group =\nexperimental-features = nix-command\nsubstituters =\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"--store", "local?root=" + root}, args...)...)
	cmd.Env = []string{"HOME=" + conf, "NIX_CONF_DIR=" + conf, "PATH=" + os.Getenv("PATH")}
	cmd.Stdin = strings.NewReader(stdin)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s %v: %w: %s", name, args, err, stderr.String())
	}
	return strings.TrimSpace(string(out)), nil
}

// TestChannelPath: the channel's store path and content address are the
// ones Nix computes: a tree without references gets the path
// `nix-store --add` gives it, and the channel, which refers to nixpkgs,
// is trusted by `nix store verify` without a signature only because its
// content address matches its path and references.
func TestChannelPath(t *testing.T) {
	root := t.TempDir()
	src := filepath.Join(t.TempDir(), "nixpkgs")
	if err := os.MkdirAll(filepath.Join(src, "lib"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "default.nix"), []byte("{ ... }: { }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	added, err := hostNix(t, root, "", "nix-store", "--add", src)
	if err != nil {
		t.Fatal(err)
	}
	sum, _, err := narHashSize(src)
	if err != nil {
		t.Fatal(err)
	}
	if got := sourcePath(storeDir, "nixpkgs", sum, nil); got != added {
		t.Fatalf("sourcePath = %s, nix-store --add made %s", got, added)
	}

	// The channel, as channel() writes and registers it, in the chroot store.
	tmp := filepath.Join(root, "nix/store/.tmp-channel")
	if err := os.Mkdir(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := writeChannelTree(tmp, added); err != nil {
		t.Fatal(err)
	}
	sum, size, err := narHashSize(tmp)
	if err != nil {
		t.Fatal(err)
	}
	p := sourcePath(storeDir, channelName, sum, []string{added})
	if err := os.Rename(tmp, filepath.Join(root, p)); err != nil {
		t.Fatal(err)
	}
	reg := fmt.Sprintf("%s\n%s\n%d\n\n1\n%s\n", p, hex.EncodeToString(sum), size, added)
	if _, err := hostNix(t, root, reg, "nix-store", "--load-db"); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(root, "nix/var/nix/db/db.sqlite")
	tests := []struct {
		name  string
		ca    string
		trust bool
	}{
		{"its own content address", sourceCA(sum), true},
		// The control: verify does check the address.
		{"another tree's", sourceCA(make([]byte, 32)), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := setContentAddress(context.Background(), db, p, tc.ca); err != nil {
				t.Fatal(err)
			}
			_, err := hostNix(t, root, "", "nix", "store", "verify", p)
			if (err == nil) != tc.trust {
				t.Errorf("nix store verify %s with ca %s: %v, want trusted: %v", p, tc.ca, err, tc.trust)
			}
		})
	}
	out, err := hostNix(t, root, "", "nix-store", "-q", "--references", p)
	if err != nil || out != added {
		t.Errorf("references of the channel: %q, %v; want %s", out, err, added)
	}
	if target, err := os.Readlink(filepath.Join(root, p, "nixpkgs")); err != nil || target != added {
		t.Errorf("channel's nixpkgs link: %q, %v", target, err)
	}
	if err := removeTree(filepath.Join(root, p)); err != nil {
		t.Errorf("removeTree of a read-only store path: %v", err)
	}
}
