package main

import (
	"testing"

	"github.com/nix-image/nix-image/internal/testenv"
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

func TestVerifyCPU(t *testing.T) {
	line := "copied 106 store paths out of the cache and checked them against their registered NAR hashes (163 MiB of NAR) in 0.58s: copying 0.91s, checking 0.61s (summed over 2 goroutines)\n"
	p := &testenv.Progress{
		Vertices: []*testenv.Vertex{{Digest: "d", Name: "[nix-image] realise x86_64-linux closure of default: hello"}},
		Logs:     []testenv.VertexLog{{Vertex: "d", Data: []byte(line)}},
	}
	if v, ok := verifyCPU(p); !ok || v != 0.61 {
		t.Errorf("verifyCPU = %v, %v, want 0.61, true", v, ok)
	}
	if _, ok := verifyCPU(&testenv.Progress{}); ok {
		t.Error("verifyCPU found a check in an empty log")
	}
}
