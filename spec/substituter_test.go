package spec

import (
	"regexp"
	"testing"

	"github.com/nix-image/nix-image/spec/internal/rules"
)

func TestValidSubstituter(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"https://cache.nixos.org", true},
		{"https://cache.nixos.org/", true},
		{"https://c.example?priority=40", true},
		{"https://c.example/?priority=40&want-mass-query=true", true},
		{"http://127.0.0.1:5000/cache", true},
		{"http://[::1]:5000/cache?priority=10", true},
		{"s3://bucket?region=eu-west-1&endpoint=minio.example", true},
		{"ssh://builder", true},
		{"ssh-ng://root@builder?ssh-key=/k", true},
		{"file:///var/cache/nix", true},
		{"local", true},
		{"daemon", true},
		{"cache.example.com", false},
		{"gopher://x", false},
		{"HTTPS://cache.nixos.org", false},
		{"https://", false},
		{"https:///path", false},
		{"https://c.example/x#frag", false},
		{"http://[::1", false},
		{"https://c.example/ x", false},
		{"file://", false},
		{"s3://", false},
		{"https:cache.nixos.org", false},
	}
	re := regexp.MustCompile(rules.Substituter)
	for _, tt := range tests {
		if got := validSubstituter(tt.in); got != tt.want {
			t.Errorf("validSubstituter(%q) = %v, want %v", tt.in, got, tt.want)
		}
		// The schema's pattern must accept what Parse accepts.
		if tt.want && !re.MatchString(tt.in) {
			t.Errorf("%s does not match %q", rules.Substituter, tt.in)
		}
	}
}
