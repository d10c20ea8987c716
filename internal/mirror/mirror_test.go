package mirror

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestNixpkgsOf(t *testing.T) {
	vars := map[string]string{
		"NIXPKGS_TARBALL": "nixpkgs.tar.gz", "NIXPKGS_SHA256": "aa", "NIXPKGS_NAR_HASH": "sha256-a=",
		"NIXPKGS_FILES": "7", "NIXPKGS_BYTES": "2436646",
		"NIXPKGS_REAL_TARBALL": "nixpkgs-real.tar.gz", "NIXPKGS_REAL_SHA256": "bb", "NIXPKGS_REAL_NAR_HASH": "sha256-b=",
		"NIXPKGS_REAL_FILES": "44773", "NIXPKGS_REAL_BYTES": "232057712",
	}
	without := func(k string) map[string]string {
		v := map[string]string{}
		for key, val := range vars {
			if key != k {
				v[key] = val
			}
		}
		return v
	}
	tests := []struct {
		name   string
		vars   map[string]string
		prefix string
		want   Nixpkgs
		err    string
	}{
		{"small", vars, "NIXPKGS_", Nixpkgs{URL: "http://m/nixpkgs.tar.gz", SHA256: "aa", NarHash: "sha256-a=", Files: 7, Bytes: 2436646}, ""},
		{"real", vars, "NIXPKGS_REAL_", Nixpkgs{URL: "http://m/nixpkgs-real.tar.gz", SHA256: "bb", NarHash: "sha256-b=", Files: 44773, Bytes: 232057712}, ""},
		{"a mirror.env of before the real-size set", without("NIXPKGS_REAL_TARBALL"), "NIXPKGS_REAL_", Nixpkgs{}, "regenerate it"},
		{"no file count", without("NIXPKGS_REAL_FILES"), "NIXPKGS_REAL_", Nixpkgs{}, "NIXPKGS_REAL_FILES"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := nixpkgsOf(tt.vars, "http://m", tt.prefix)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

// TestBuildctlOptsWith: the real-size set changes only the nixpkgs args.
func TestBuildctlOptsWith(t *testing.T) {
	m := &Mirror{URL: "http://m", Vars: map[string]string{"NIX_VERSION": "2.8.1", "CACHE_PUBLIC_KEY": "k:v"},
		Nixpkgs:     Nixpkgs{URL: "http://m/nixpkgs.tar.gz", SHA256: "aa"},
		RealNixpkgs: Nixpkgs{URL: "http://m/nixpkgs-real.tar.gz", SHA256: "bb"},
	}
	small, real := m.BuildctlOpts(), m.BuildctlOptsWith(m.RealNixpkgs)
	if len(small) != len(real) {
		t.Fatalf("%q vs %q", small, real)
	}
	var differ []string
	for i := range small {
		if small[i] != real[i] {
			differ = append(differ, real[i])
		}
	}
	want := []string{"build-arg:NIXPKGS_URL=http://m/nixpkgs-real.tar.gz", "build-arg:NIXPKGS_SHA256=bb"}
	if !slices.Equal(differ, want) {
		t.Errorf("the real-size opts differ in %q, want %q", differ, want)
	}
	if got := m.BuildctlOptsWith(m.RealNixpkgs, "NIXPKGS_URL", "NIXPKGS_SHA256"); slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, "NIXPKGS") }) {
		t.Errorf("except left %q", got)
	}
}
