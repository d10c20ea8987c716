package spec

import "testing"

func TestPaths(t *testing.T) {
	tests := []struct {
		path, parent string
	}{
		{"nix", ""},
		{"nixpkgs.url", "nixpkgs"},
		{"packages[2]", "packages"},
		{"images.ssh.authorizedKeys[1]", "images.ssh.authorizedKeys"},
		{joinKey("config.labels", "org.opencontainers.image.title"), "config.labels"},
		{joinKey("config.labels", `a"].b[`), "config.labels"},
		{joinField(joinKey("x", "a.b"), "c"), `x["a.b"]`},
	}
	for _, tt := range tests {
		if got := parentPath(tt.path); got != tt.parent {
			t.Errorf("parentPath(%q) = %q, want %q", tt.path, got, tt.parent)
		}
	}
	if got := joinKey("nixConfig", "max-jobs"); got != "nixConfig.max-jobs" {
		t.Errorf("joinKey plain = %q", got)
	}
}
