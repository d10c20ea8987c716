package spec

import (
	"maps"
	"testing"
)

func TestBuildNixConfig(t *testing.T) {
	s, err := Parse("nix-image.yaml", []byte(`nixpkgs:
  url: https://github.com/NixOS/nixpkgs/archive/0000000000000000000000000000000000000000.tar.gz
  sha256: 1111111111111111111111111111111111111111111111111111111111111111
nixConfig:
  extra-substituters: https://a.example
  connect-timeout: "5"
  max-jobs: "4"
  netrc-file: /etc/nix/netrc
images:
  ssh:
    nixConfig:
      extra-substituters: https://b.example
      extra-trusted-public-keys: b:AAAA
      keep-outputs: "true"
`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		target string
		want   map[string]string
		where  map[string]string
	}{
		{"default",
			map[string]string{"extra-substituters": "https://a.example", "connect-timeout": "5"},
			map[string]string{"extra-substituters": "nixConfig.extra-substituters", "extra-trusted-public-keys": "", "max-jobs": "nixConfig.max-jobs"}},
		{"ssh",
			map[string]string{"extra-substituters": "https://b.example", "connect-timeout": "5", "extra-trusted-public-keys": "b:AAAA"},
			map[string]string{"extra-substituters": "images.ssh.nixConfig.extra-substituters", "connect-timeout": "nixConfig.connect-timeout"}},
	}
	for _, tc := range tests {
		r, err := s.Resolve(tc.target)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.BuildNixConfig(); !maps.Equal(got, tc.want) {
			t.Errorf("%s: BuildNixConfig() = %v, want %v", tc.target, got, tc.want)
		}
		for key, want := range tc.where {
			if got := s.NixConfigField(tc.target, key); got != want {
				t.Errorf("%s: NixConfigField(%q) = %q, want %q", tc.target, key, got, want)
			}
			if want != "" {
				if _, ok := s.Position(want); !ok {
					t.Errorf("%s: no position for %s", tc.target, want)
				}
			}
		}
	}
}
