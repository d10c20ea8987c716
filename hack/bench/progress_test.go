package main

import (
	"reflect"
	"testing"
)

func TestExecutedOps(t *testing.T) {
	tests := []struct {
		name   string
		stderr string
		want   []string
	}{
		{
			name: "cache key of a source only: not run",
			stderr: `{"vertexes":[{"digest":"sha256:a","name":"[nix-image] fetch x","started":"2026-01-01T00:00:00Z"}]}
{"vertexes":[{"digest":"sha256:a","name":"[nix-image] fetch x","started":"2026-01-01T00:00:00Z","completed":"2026-01-01T00:00:00Z"}]}`,
		},
		{
			name: "source started twice: run",
			stderr: `{"vertexes":[{"digest":"sha256:a","name":"fetch","started":"2026-01-01T00:00:00Z","completed":"2026-01-01T00:00:00Z"}]}
{"vertexes":[{"digest":"sha256:a","name":"fetch","started":"2026-01-01T00:00:01Z","completed":"2026-01-01T00:00:02Z"}]}`,
			want: []string{"fetch"},
		},
		{
			name: "op with inputs: run unless cached",
			stderr: `{"vertexes":[{"digest":"sha256:b","inputs":["sha256:a"],"name":"copy","started":"2026-01-01T00:00:00Z","completed":"2026-01-01T00:00:01Z"}]}
{"vertexes":[{"digest":"sha256:c","inputs":["sha256:a"],"name":"cached copy","started":"2026-01-01T00:00:00Z","completed":"2026-01-01T00:00:00Z","cached":true}]}
not json`,
			want: []string{"copy"},
		},
		{
			name: "exporter and frontend input reads: left out",
			stderr: `{"vertexes":[{"digest":"sha256:d","name":"exporting to image","started":"2026-01-01T00:00:00Z","completed":"2026-01-01T00:00:01Z"},{"digest":"sha256:d","name":"exporting to image","started":"2026-01-01T00:00:02Z","completed":"2026-01-01T00:00:03Z"}]}
{"vertexes":[{"digest":"sha256:e","name":"[internal] load build definition from Dockerfile","started":"2026-01-01T00:00:00Z","completed":"2026-01-01T00:00:01Z"},{"digest":"sha256:e","started":"2026-01-01T00:00:02Z","completed":"2026-01-01T00:00:03Z"}]}`,
		},
		{
			name:   "failed op: not counted",
			stderr: `{"vertexes":[{"digest":"sha256:f","inputs":["sha256:a"],"name":"run","started":"2026-01-01T00:00:00Z","completed":"2026-01-01T00:00:01Z","error":"exit code 1"}]}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := executedOps(parseVertices(tt.stderr)); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("executedOps = %q, want %q", got, tt.want)
			}
		})
	}
}

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
