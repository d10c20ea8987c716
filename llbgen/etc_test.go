package llbgen

import (
	"strings"
	"testing"

	"github.com/nix-image/nix-image/spec"
)

func TestEtcFiles(t *testing.T) {
	tests := []struct {
		target   string
		file     string
		contains []string
		lacks    []string
	}{
		{"default", "/etc/passwd", []string{"root:x:0:0:", ":/root:/run/current-system/sw/bin/bash\n", "nobody:x:65534:", "nixbld1:x:30001:30000:", "nixbld32:x:30032:30000:"}, []string{"nixbld33", "sshd"}},
		{"default", "/etc/group", []string{"nixbld:x:30000:nixbld1,nixbld2,", ",nixbld32\n", "users:x:100:\n", "nogroup:x:65534:"}, nil},
		{"default", "/etc/shadow", []string{"root:!:", "nixbld32:!:"}, []string{"$"}},
		{"default", "/etc/nix/nix.conf", []string{"build-users-group = nixbld\n", "experimental-features = nix-command flakes\n", "sandbox = false\n", "filter-syscalls = false\n", "substituters = https://cache.nixos.org\n", "keep-outputs = true\n"}, []string{"trusted-users"}},
		{"ssh", "/etc/nix/nix.conf", []string{"trusted-users = root\n"}, nil},
		{"ssh", "/etc/passwd", []string{"sshd:x:74:74:"}, nil},
		{"default", "/etc/nsswitch.conf", []string{"hosts:     files dns\n"}, nil},
		{"default", "/etc/services", []string{"ssh\t\t22/tcp\n", "https\t\t443/tcp\n"}, nil},
		{"default", "/etc/protocols", []string{"tcp\t6\tTCP"}, nil},
	}
	s, err := spec.Parse("t.yaml", []byte(`nixpkgs: {url: "https://example.com/n.tar.gz", sha256: "`+testNixpkgsSHA+`"}
nixConfig: {keep-outputs: "true"}
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.target+tc.file, func(t *testing.T) {
			r, err := s.Resolve(tc.target)
			if err != nil {
				t.Fatal(err)
			}
			var data string
			for _, f := range etcFiles(r) {
				if f.path == tc.file {
					data = f.data
				}
			}
			for _, c := range tc.contains {
				if !strings.Contains(data, c) {
					t.Errorf("%s lacks %q:\n%s", tc.file, c, data)
				}
			}
			for _, c := range tc.lacks {
				if strings.Contains(data, c) {
					t.Errorf("%s has %q:\n%s", tc.file, c, data)
				}
			}
		})
	}
}

func TestMergeEnv(t *testing.T) {
	got := mergeEnv([][2]string{{"PATH", "/a"}, {"USER", "root"}}, map[string]string{"Z": "1", "PATH": "/b", "A": "2"})
	want := "PATH=/b USER=root A=2 Z=1"
	if strings.Join(got, " ") != want {
		t.Errorf("mergeEnv = %v, want %s", got, want)
	}
}

// TestUserAccount: an image's user gets its account, group, locked shadow
// entry, config User and environment; with gid 100 it joins users.
func TestUserAccount(t *testing.T) {
	tests := []struct {
		name, user  string
		passwd      string
		group, lack string
		configUser  string
	}{
		{"own group", "{name: dev, uid: 1000}", "dev:x:1000:1000::/home/dev:/run/current-system/sw/bin/bash\n", "dev:x:1000:\n", "", "1000:1000"},
		{"users group", "{name: ann, uid: 1001, gid: 100}", "ann:x:1001:100::/home/ann:/run/current-system/sw/bin/bash\n", "users:x:100:\n", "ann:x:", "1001:100"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := spec.Parse("t.yaml", []byte(`nixpkgs: {url: "https://example.com/n.tar.gz", sha256: "`+testNixpkgsSHA+`"}
images: {default: {user: `+tc.user+`}}
`))
			if err != nil {
				t.Fatal(err)
			}
			r, err := s.Resolve("default")
			if err != nil {
				t.Fatal(err)
			}
			files := map[string]string{}
			for _, f := range etcFiles(r) {
				files[f.path] = f.data
			}
			if !strings.Contains(files["/etc/passwd"], tc.passwd) {
				t.Errorf("/etc/passwd lacks %q:\n%s", tc.passwd, files["/etc/passwd"])
			}
			if !strings.Contains(files["/etc/group"], tc.group) || (tc.lack != "" && strings.Contains(files["/etc/group"], tc.lack)) {
				t.Errorf("/etc/group: want %q without %q:\n%s", tc.group, tc.lack, files["/etc/group"])
			}
			if !strings.Contains(files["/etc/shadow"], r.User.Name+":!:") {
				t.Errorf("/etc/shadow has no locked entry for %s:\n%s", r.User.Name, files["/etc/shadow"])
			}
			img := imageConfig(r, Options{}, nil)
			if img.Config.User != tc.configUser {
				t.Errorf("config User = %q, want %q", img.Config.User, tc.configUser)
			}
			env := strings.Join(img.Config.Env, "\n")
			home := "/home/" + r.User.Name
			for _, want := range []string{"PATH=" + home + "/.nix-profile/bin:", "NIX_PATH=nixpkgs=" + home + "/.nix-defexpr/channels/nixpkgs", "USER=" + r.User.Name, "HOME=" + home} {
				if !strings.Contains(env, want) {
					t.Errorf("env lacks %q:\n%s", want, env)
				}
			}
			if strings.Contains(env, "/root/") {
				t.Errorf("env still names root's home:\n%s", env)
			}
		})
	}
}
