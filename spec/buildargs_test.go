package spec

import (
	"errors"
	"os"
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
			var list ErrorList
			if !errors.As(err, &list) || len(list) != len(tt.errs) {
				t.Fatalf("error = %v, want %d errors %q", err, len(tt.errs), tt.errs)
			}
			for i, e := range list {
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

// TestBuildArgsTable: every build arg of BuildArgs with a field replaces
// that field (Spec.OverriddenBy names it, Value gives back the value
// given); every one without a field leaves the spec as it was.
func TestBuildArgsTable(t *testing.T) {
	const nixURLSpec = base + "nix:\n  url: https://e.com/nix.tar.xz\n  sha256: " + helloHex + "\n"
	otherHex := strings.Repeat("ab", 32)
	tests := map[string]struct {
		spec string
		args map[string]string
		// path is where the override is recorded: the field, or one
		// item of it.
		path string
	}{
		ArgNixVersion:        {base, map[string]string{ArgNixVersion: "2.30.0"}, "nix.version"},
		ArgNixReleases:       {base, map[string]string{ArgNixReleases: "http://m/nix"}, "nix.releases"},
		ArgNixURL:            {base, map[string]string{ArgNixURL: "http://m/nix.tar.xz", ArgNixSHA256: otherHex}, "nix.url"},
		ArgNixSHA256:         {nixURLSpec, map[string]string{ArgNixSHA256: otherHex}, "nix.sha256"},
		ArgNixpkgsURL:        {base, map[string]string{ArgNixpkgsURL: "http://m/n.tar.gz", ArgNixpkgsSHA256: otherHex}, "nixpkgs.url"},
		ArgNixpkgsSHA256:     {base, map[string]string{ArgNixpkgsSHA256: otherHex}, "nixpkgs.sha256"},
		ArgNixpkgsNarHash:    {base, map[string]string{ArgNixpkgsNarHash: helloSRI}, "nixpkgs.narHash"},
		ArgSubstituters:      {base, map[string]string{ArgSubstituters: "http://cache:5000 file:///cache"}, "substituters"},
		ArgTrustedPublicKeys: {base, map[string]string{ArgTrustedPublicKeys: otherKey}, "trustedPublicKeys"},
		ArgExtraPackages:     {base + "packages: [jq]\n", map[string]string{ArgExtraPackages: "hello"}, "packages[1]"},
		ArgSourceDateEpoch:   {base, map[string]string{ArgSourceDateEpoch: "5"}, ""},
		ArgMergeOp:           {base, map[string]string{ArgMergeOp: "false"}, ""},
		ArgForeignBuilds:     {base, map[string]string{ArgForeignBuilds: "true"}, ""},
		ArgHTTPProxy:         {base, map[string]string{ArgHTTPProxy: "http://proxy:3128"}, ""},
		ArgHTTPSProxy:        {base, map[string]string{ArgHTTPSProxy: "http://proxy:3128"}, ""},
		ArgFTPProxy:          {base, map[string]string{ArgFTPProxy: "http://proxy:3128"}, ""},
		ArgNoProxy:           {base, map[string]string{ArgNoProxy: "localhost"}, ""},
		ArgAllProxy:          {base, map[string]string{ArgAllProxy: "socks5://proxy:1080"}, ""},
	}
	seen := map[string]bool{}
	for _, a := range BuildArgs {
		t.Run(a.Name, func(t *testing.T) {
			if seen[a.Name] {
				t.Fatalf("%s is twice in BuildArgs", a.Name)
			}
			seen[a.Name] = true
			tc, ok := tests[a.Name]
			if !ok {
				t.Fatalf("no test case for %s", a.Name)
			}
			if (a.Field == "") != (tc.path == "") || !strings.HasPrefix(tc.path, a.Field) {
				t.Fatalf("%s has field %q, the test case records %q", a.Name, a.Field, tc.path)
			}
			s, err := Parse("nix-image.yaml", []byte(tc.spec))
			if err != nil {
				t.Fatal(err)
			}
			before := s.clone()
			if err := s.ApplyBuildArgs(tc.args); err != nil {
				t.Fatalf("ApplyBuildArgs: %v", err)
			}
			if a.Field == "" {
				if !reflect.DeepEqual(s, before) {
					t.Errorf("%s changed the spec:\n%+v\nwas\n%+v", a.Name, s, before)
				}
				return
			}
			if got := s.OverriddenBy(tc.path); got != a.Name {
				t.Errorf("OverriddenBy(%q) = %q, want %s", tc.path, got, a.Name)
			}
			if a.Value == nil {
				return
			}
			r, err := s.Resolve(TargetDefault)
			if err != nil {
				t.Fatal(err)
			}
			if got := a.Value(r); got != tc.args[a.Name] {
				t.Errorf("Value = %q, want the value given, %q", got, tc.args[a.Name])
			}
		})
	}
	if len(seen) != len(tests) {
		t.Errorf("%d test cases for %d build args", len(tests), len(seen))
	}
}

// TestBuildArgsDocumented: spec/README.md has a row for every build arg
// that overrides a field, naming the field, and the READMEs name every
// other one.
func TestBuildArgsDocumented(t *testing.T) {
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, doc, ok := strings.Cut(string(data), "\n## Build args\n")
	if !ok {
		t.Fatal("spec/README.md has no Build args section")
	}
	doc, _, _ = strings.Cut(doc, "\n## ")
	top, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	for _, line := range strings.Split(doc, "\n") {
		if f := strings.Split(line, " | "); len(f) > 1 && strings.HasPrefix(f[0], "| `") {
			rows[strings.Trim(f[0], "| `")] = line
		}
	}
	for _, a := range BuildArgs {
		switch {
		case a.Field != "" && !strings.Contains(rows[a.Name], "`"+a.Field+"`"):
			t.Errorf("spec/README.md, Build args: no row | `%s` | ... `%s` ...", a.Name, a.Field)
		case a.Field == "" && !strings.Contains(doc, "`"+a.Name) && !strings.Contains(string(top), "`"+a.Name):
			t.Errorf("neither README.md nor spec/README.md's Build args names %s", a.Name)
		}
	}
}
