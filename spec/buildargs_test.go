package spec

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestApplyBuildArgs(t *testing.T) {
	const nixURLSpec = base + "nix:\n  url: https://e.com/nix.tar.xz\n  sha256: " + helloHex + "\n"
	otherHex := strings.Repeat("ab", 32)
	tests := []struct {
		name string
		spec string
		args map[string]string
		// check inspects the result when no error is expected.
		check func(*Spec) bool
		// errs are "build-arg:NAME: message part".
		errs []string
	}{
		{name: "none", spec: base, args: nil, check: func(s *Spec) bool { return s.Nix.Version == DefaultNixVersion }},
		{name: "unknown and empty args are ignored", spec: base, args: map[string]string{"FOO": "x", "NIX_VERSION": "", "SUBSTITUTERS": " "},
			check: func(s *Spec) bool { return s.Nix.Version == DefaultNixVersion && len(s.Substituters) == 1 }},
		{name: "nix version replaces url", spec: nixURLSpec, args: map[string]string{"NIX_VERSION": "2.30.0"},
			check: func(s *Spec) bool {
				return reflect.DeepEqual(s.Nix, Nix{Version: "2.30.0", Releases: DefaultNixReleases})
			}},
		{name: "nix version and releases", spec: base, args: map[string]string{"NIX_VERSION": "2.30.0", "NIX_RELEASES": "http://mirror:8080/nix"},
			check: func(s *Spec) bool {
				return reflect.DeepEqual(s.Nix, Nix{Version: "2.30.0", Releases: "http://mirror:8080/nix"})
			}},
		{name: "nix url replaces version", spec: base, args: map[string]string{"NIX_URL": "http://mirror/nix.tar.xz", "NIX_SHA256": helloSRI},
			check: func(s *Spec) bool {
				return reflect.DeepEqual(s.Nix, Nix{URL: "http://mirror/nix.tar.xz", SHA256: helloHex})
			}},
		{name: "nix sha256 for spec url", spec: nixURLSpec, args: map[string]string{"NIX_SHA256": otherHex},
			check: func(s *Spec) bool { return s.Nix.SHA256 == otherHex && s.Nix.URL == "https://e.com/nix.tar.xz" }},
		{name: "nix url per system", spec: base, args: map[string]string{"NIX_URL": "http://mirror/nix-{system}.tar.xz", "NIX_SHA256": "x86_64-linux=" + helloSRI + ", aarch64-linux=" + otherHex},
			check: func(s *Spec) bool {
				return reflect.DeepEqual(s.Nix, Nix{URL: "http://mirror/nix-{system}.tar.xz", SystemSHA256: map[string]string{"x86_64-linux": helloHex, "aarch64-linux": otherHex}})
			}},
		{name: "nixpkgs", spec: base, args: map[string]string{"NIXPKGS_URL": "http://mirror/nixpkgs.tar.gz", "NIXPKGS_SHA256": helloBase32},
			check: func(s *Spec) bool {
				return reflect.DeepEqual(s.Nixpkgs, Nixpkgs{URL: "http://mirror/nixpkgs.tar.gz", SHA256: helloHex})
			}},
		{name: "nixpkgs sha256 alone", spec: base, args: map[string]string{"NIXPKGS_SHA256": otherHex},
			check: func(s *Spec) bool { return reflect.DeepEqual(s.Nixpkgs, Nixpkgs{URL: nixpkgsURL, SHA256: otherHex}) }},
		{name: "nixpkgs narHash replaces the spec's sha256", spec: base, args: map[string]string{"NIXPKGS_NAR_HASH": helloBase32},
			check: func(s *Spec) bool { return reflect.DeepEqual(s.Nixpkgs, Nixpkgs{URL: nixpkgsURL, NarHash: helloSRI}) }},
		{name: "nixpkgs url with narHash", spec: base, args: map[string]string{"NIXPKGS_URL": "http://mirror/n.tar.gz", "NIXPKGS_NAR_HASH": helloSRI},
			check: func(s *Spec) bool {
				return reflect.DeepEqual(s.Nixpkgs, Nixpkgs{URL: "http://mirror/n.tar.gz", NarHash: helloSRI})
			}},
		{name: "nixpkgs sha256 replaces the spec's narHash", spec: "nixpkgs:\n  url: " + nixpkgsURL + "\n  narHash: " + helloSRI + "\n", args: map[string]string{"NIXPKGS_SHA256": otherHex},
			check: func(s *Spec) bool { return reflect.DeepEqual(s.Nixpkgs, Nixpkgs{URL: nixpkgsURL, SHA256: otherHex}) }},
		{name: "caches", spec: base, args: map[string]string{"SUBSTITUTERS": "http://cache:5000\n file:///cache", "TRUSTED_PUBLIC_KEYS": otherKey},
			check: func(s *Spec) bool {
				return reflect.DeepEqual(s.Substituters, []string{"http://cache:5000", "file:///cache"}) && reflect.DeepEqual(s.TrustedPublicKeys, []string{otherKey})
			}},
		{name: "extra packages", spec: base + "packages: [jq]\n", args: map[string]string{"EXTRA_PACKAGES": "hello jq  python3Packages.six hello"},
			check: func(s *Spec) bool {
				return reflect.DeepEqual(s.Packages, []string{"jq", "hello", "python3Packages.six"})
			}},

		{name: "bad version", spec: base, args: map[string]string{"NIX_VERSION": "latest"}, errs: []string{`build-arg:NIX_VERSION: invalid Nix version "latest"`}},
		{name: "version and url", spec: base, args: map[string]string{"NIX_VERSION": "2.30.0", "NIX_URL": "http://m/n", "NIX_SHA256": helloHex},
			errs: []string{"build-arg:NIX_URL: NIX_URL and NIX_VERSION are exclusive"}},
		{name: "version and sha256", spec: base, args: map[string]string{"NIX_VERSION": "2.30.0", "NIX_SHA256": helloHex},
			errs: []string{"build-arg:NIX_SHA256: NIX_SHA256 is only used with NIX_URL"}},
		{name: "sha256 per system for a url of one system", spec: nixURLSpec, args: map[string]string{"NIX_SHA256": "x86_64-linux=" + helloHex},
			errs: []string{"build-arg:NIX_SHA256: a sha256 per system needs {system} in nix.url"}},
		{name: "one sha256 for a url per system", spec: base, args: map[string]string{"NIX_URL": "http://m/nix-{system}.tar.xz", "NIX_SHA256": helloHex},
			errs: []string{"build-arg:NIX_SHA256: nix.url names {system}"}},
		{name: "url without sha256", spec: nixURLSpec, args: map[string]string{"NIX_URL": "http://m/n"}, errs: []string{"build-arg:NIX_URL: NIX_URL needs NIX_SHA256"}},
		{name: "sha256 without url", spec: base, args: map[string]string{"NIX_SHA256": helloHex}, errs: []string{"build-arg:NIX_SHA256: NIX_SHA256 is only used with NIX_URL"}},
		{name: "bad url and sha256", spec: base, args: map[string]string{"NIX_URL": "ftp://m/n", "NIX_SHA256": "nope"},
			errs: []string{`build-arg:NIX_SHA256: invalid sha256 "nope"`, `build-arg:NIX_URL: invalid URL "ftp://m/n"`}},
		{name: "releases with url", spec: nixURLSpec, args: map[string]string{"NIX_RELEASES": "http://m/nix"}, errs: []string{"build-arg:NIX_RELEASES: NIX_RELEASES is only used with a Nix version"}},
		{name: "bad releases", spec: base, args: map[string]string{"NIX_RELEASES": "mirror"}, errs: []string{`build-arg:NIX_RELEASES: invalid URL "mirror"`}},
		{name: "nixpkgs url without sha256", spec: base, args: map[string]string{"NIXPKGS_URL": "http://m/n.tar.gz"}, errs: []string{"build-arg:NIXPKGS_URL: NIXPKGS_URL needs NIXPKGS_SHA256"}},
		{name: "nixpkgs sha256 and narHash", spec: base, args: map[string]string{"NIXPKGS_SHA256": helloHex, "NIXPKGS_NAR_HASH": helloSRI},
			errs: []string{"build-arg:NIXPKGS_NAR_HASH: NIXPKGS_SHA256 and NIXPKGS_NAR_HASH are exclusive"}},
		{name: "bad nixpkgs narHash", spec: base, args: map[string]string{"NIXPKGS_NAR_HASH": "sha256-x"}, errs: []string{`build-arg:NIXPKGS_NAR_HASH: invalid sha256 "sha256-x"`}},
		{name: "bad nixpkgs", spec: base, args: map[string]string{"NIXPKGS_URL": "m/n.tar.gz", "NIXPKGS_SHA256": "x"},
			errs: []string{`build-arg:NIXPKGS_SHA256: invalid sha256 "x"`, `build-arg:NIXPKGS_URL: invalid URL "m/n.tar.gz"`}},
		{name: "bad caches", spec: base, args: map[string]string{"SUBSTITUTERS": "http://ok cache.example.com", "TRUSTED_PUBLIC_KEYS": "k:AAAA"},
			errs: []string{`build-arg:SUBSTITUTERS: invalid substituter "cache.example.com"`, `build-arg:TRUSTED_PUBLIC_KEYS: invalid trusted public key "k:AAAA"`}},
		{name: "bad extra packages", spec: base, args: map[string]string{"EXTRA_PACKAGES": "ok 1bad"}, errs: []string{`build-arg:EXTRA_PACKAGES: invalid package attribute path "1bad"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse("nix-image.yaml", []byte(tt.spec))
			if err != nil {
				t.Fatal(err)
			}
			before := s.clone()
			err = s.ApplyBuildArgs(tt.args)
			if tt.errs == nil {
				if err != nil {
					t.Fatalf("ApplyBuildArgs: %v", err)
				}
				if !tt.check(s) {
					t.Errorf("ApplyBuildArgs gave %+v", s)
				}
				return
			}
			var list *ErrorList
			if !errors.As(err, &list) || len(*list) != len(tt.errs) {
				t.Fatalf("error = %v, want %d errors %q", err, len(tt.errs), tt.errs)
			}
			for i, e := range *list {
				if e.Pos != (Pos{}) || e.File != "" || !strings.HasPrefix(e.Error(), tt.errs[i]) {
					t.Errorf("error %d = %q (pos %v), want prefix %q", i, e.Error(), e.Pos, tt.errs[i])
				}
			}
			if !reflect.DeepEqual(s, before) {
				t.Errorf("failed ApplyBuildArgs changed the spec:\n%+v\nwas\n%+v", s, before)
			}
		})
	}
}

func TestApplyBuildArgsPositions(t *testing.T) {
	s, err := Parse("nix-image.yaml", []byte(base+"packages: [jq]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ApplyBuildArgs(map[string]string{"NIXPKGS_URL": "http://m/n.tar.gz", "NIXPKGS_SHA256": helloHex, "EXTRA_PACKAGES": "hello"}); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]bool{"nixpkgs.url": false, "nixpkgs.sha256": false, "nixpkgs": true, "packages[0]": true, "packages[1]": false} {
		if _, ok := s.Position(path); ok != want {
			t.Errorf("Position(%q) ok = %v, want %v", path, ok, want)
		}
	}
}
