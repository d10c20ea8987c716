package main

import (
	"testing"
)

func TestStorePathOf(t *testing.T) {
	tests := []struct{ name, want string }{
		{"nix/store/abc-hello-2.10/bin/hello", "abc-hello-2.10"},
		{"nix/store/abc-hello-2.10", "abc-hello-2.10"},
		{"nix/store", ""},
		{"nix/store/.links/x", ""},
		{"nix/var/nix/db/db.sqlite", ""},
		{"etc/nix/nix.conf", ""},
	}
	for _, tt := range tests {
		if got := storePathOf(tt.name); got != tt.want {
			t.Errorf("storePathOf(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}
