package nixstep

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestWriteUserTree: the user gets the packages' profile and its channels,
// and owns /nix and its home in the system tree; root keeps /root and no
// profile of its own.
func TestWriteUserTree(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("chown needs root")
	}
	root := t.TempDir()
	u := &User{Name: "dev", UID: 1000, GID: 1001, Home: "/home/dev"}
	roots := Roots{System: "/nix/store/s-system", Profile: "/nix/store/p-profile", Channel: "/nix/store/c-channel", Nixpkgs: "/nix/store/n-nixpkgs", Shell: "/nix/store/b/bin/bash", EnvBinary: "/nix/store/e/bin/env"}
	if err := writeLinks(root, roots, u); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "nix/var/nix/db"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := &realiser{cfg: RealiseConfig{User: u, NixpkgsURL: "https://example.com/nixpkgs.tar.gz"}}
	if err := r.writeUserTree(root, roots); err != nil {
		t.Fatal(err)
	}
	links := map[string]string{
		"/home/dev/.nix-profile":                              "/nix/var/nix/profiles/per-user/dev/profile",
		"/home/dev/.nix-defexpr/channels":                     "/nix/var/nix/profiles/per-user/dev/channels",
		"/nix/var/nix/profiles/per-user/dev/profile":          "profile-1-link",
		"/nix/var/nix/profiles/per-user/dev/profile-1-link":   roots.Profile,
		"/nix/var/nix/profiles/per-user/dev/channels-1-link":  roots.Channel,
		"/nix/var/nix/gcroots/nix-image/profile":              roots.Profile,
		"/nix/var/nix/profiles/per-user/root/channels-1-link": roots.Channel,
	}
	for l, want := range links {
		if got, err := os.Readlink(filepath.Join(root, l)); err != nil || got != want {
			t.Errorf("%s -> %q (%v), want %q", l, got, err, want)
		}
	}
	if _, err := os.Lstat(filepath.Join(root, "nix/var/nix/profiles/default")); err == nil {
		t.Errorf("root has a profile of its own; the packages are the user's")
	}
	if data, err := os.ReadFile(filepath.Join(root, "home/dev/.nix-channels")); err != nil || !strings.Contains(string(data), "nixpkgs") {
		t.Errorf("~dev/.nix-channels: %q, %v", data, err)
	}
	err := filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(p, root)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		users := rel == "/nix" || strings.HasPrefix(rel, "/nix/") || rel == "/home/dev" || strings.HasPrefix(rel, "/home/dev/")
		if users && (st.Uid != 1000 || st.Gid != 1001) {
			t.Errorf("%s is %d:%d, want the user's 1000:1001", rel, st.Uid, st.Gid)
		}
		if !users && st.Uid != 0 {
			t.Errorf("%s is %d:%d, want root's", rel, st.Uid, st.Gid)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
