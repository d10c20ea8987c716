package testenv

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestMergeEnv(t *testing.T) {
	got := mergeEnv([]string{"PATH=/bin", "HOME=/"}, []string{"HOME=/root", "USER=root"})
	want := []string{"PATH=/bin", "HOME=/root", "USER=root"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestResolveUser(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	// /etc/passwd as a Nix image may have it: an absolute symlink that
	// must resolve inside the rootfs.
	if err := os.WriteFile(filepath.Join(root, "passwd"), []byte("root:x:0:0::/root:/bin/sh\nnixuser:x:1000:100::/home/nix:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/passwd", filepath.Join(root, "etc", "passwd")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc", "group"), []byte("root:x:0:\nnixbld:x:30000:\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		user          string
		uid, gid      int
		home, wantErr string
	}{
		{user: "", uid: 0, gid: 0, home: "/root"},
		{user: "root", uid: 0, gid: 0, home: "/root"},
		{user: "nixuser", uid: 1000, gid: 100, home: "/home/nix"},
		{user: "1000", uid: 1000, gid: 100, home: "/home/nix"},
		{user: "1000:nixbld", uid: 1000, gid: 30000, home: "/home/nix"},
		{user: "4242:7", uid: 4242, gid: 7, home: "/"},
		{user: "nobody", wantErr: `user "nobody" not in the image's /etc/passwd`},
		{user: "0:nogroup", wantErr: `group "nogroup" not in the image's /etc/group`},
	}
	for _, tc := range tests {
		uid, gid, home, err := resolveUser(root, tc.user)
		if tc.wantErr != "" {
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("%q: got err %v, want %q", tc.user, err, tc.wantErr)
			}
			continue
		}
		if err != nil || uid != tc.uid || gid != tc.gid || home != tc.home {
			t.Errorf("%q: got %d:%d %q %v, want %d:%d %q", tc.user, uid, gid, home, err, tc.uid, tc.gid, tc.home)
		}
	}
}
