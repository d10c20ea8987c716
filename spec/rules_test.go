package spec

import (
	"regexp"
	"testing"

	"github.com/nix-image/nix-image/spec/internal/rules"
)

// The schema-only patterns must accept what Parse accepts.
func TestSchemaOnlyRules(t *testing.T) {
	tests := []struct {
		pattern string
		good    []string
		bad     []string
	}{
		{rules.SHA256, []string{helloHex, "sha256:" + helloHex, helloBase32, helloSRI}, []string{"abc", helloBase32[:51] + "e"}},
		{rules.HTTPURL, []string{nixpkgsURL, "http://mirror:8080/nix"}, []string{"ftp://x", "releases.nixos.org"}},
		{rules.Substituter, []string{"https://cache.nixos.org", "s3://b?region=x", "ssh-ng://builder", "file:///c", "daemon"}, []string{"cache.nixos.org", "gopher://x"}},
		{rules.TrustedPublicKey, []string{DefaultTrustedPublicKey, otherKey}, []string{"k:AAAA", "foo"}},
		{rules.SSHPublicKey, []string{aliceKey, bobKey}, []string{"ssh-dss AAAAB3", "-----BEGIN OPENSSH PRIVATE KEY-----"}},
		// Names of insecure packages nixpkgs has listed.
		{rules.PackageNameVersion, []string{"openssl-1.1.1w", "python-2.7.18.8", "qtwebkit-5.212.0-alpha4", "foo-unstable-2023-01-01", "nodejs-16.20.2"},
			[]string{"openssl", "openssl-", "-1.0", "a b-1.0", `a"-1`, "${x}-1"}},
	}
	for _, tt := range tests {
		re := regexp.MustCompile(tt.pattern)
		for _, s := range tt.good {
			if !re.MatchString(s) {
				t.Errorf("%s does not match %q", tt.pattern, s)
			}
		}
		for _, s := range tt.bad {
			if re.MatchString(s) {
				t.Errorf("%s matches %q", tt.pattern, s)
			}
		}
	}
}
