package testenv

import (
	"reflect"
	"testing"
	"time"
)

func TestParseProgress(t *testing.T) {
	// Lines as buildctl --progress=rawjson writes them: updates of the same
	// vertex repeat it with more fields set; error text follows.
	stderr := `{"vertexes":[{"digest":"sha256:s","name":"[internal] load build context","started":"2026-01-01T00:00:00Z","completed":"2026-01-01T00:00:00Z"}]}
{"vertexes":[{"digest":"sha256:a","inputs":["sha256:s"],"name":"[1/2] RUN build","started":"2026-01-01T00:00:00Z"}]}
{"vertexes":[{"digest":"sha256:b","name":"[2/2] RUN cached","started":"2026-01-01T00:00:00Z","completed":"2026-01-01T00:00:00Z","cached":true}]}
{"logs":[{"vertex":"sha256:a","stream":1,"data":"aGVsbG8K","timestamp":"2026-01-01T00:00:00Z"}]}
{"vertexes":[{"digest":"sha256:a","inputs":["sha256:s"],"name":"[1/2] RUN build","started":"2026-01-01T00:00:00Z","completed":"2026-01-01T00:00:01Z"}]}
{"vertexes":[{"digest":"sha256:c","name":"RUN broken","started":"2026-01-01T00:00:00Z","completed":"2026-01-01T00:00:01Z","error":"exit code: 1"}]}
{"warnings":[{"vertex":"sha256:a","level":1,"short":"d2Fybg=="}]}
error: failed to solve: exit code: 1
`
	p, rest := ParseProgress(stderr)
	if rest != "error: failed to solve: exit code: 1" {
		t.Errorf("rest: got %q", rest)
	}
	if len(p.Vertices) != 4 {
		t.Fatalf("want 4 vertices (merged by digest), got %d", len(p.Vertices))
	}
	tests := []struct {
		substr    string
		executed  []string
		withInput []string
	}{
		{"", []string{"[1/2] RUN build", "[internal] load build context"}, []string{"[1/2] RUN build"}},
		{"RUN", []string{"[1/2] RUN build"}, []string{"[1/2] RUN build"}},
		{"cached", nil, nil},
		{"broken", nil, nil},
	}
	for _, tc := range tests {
		if got := vertexNames(p.Executed(tc.substr)); !reflect.DeepEqual(got, tc.executed) {
			t.Errorf("Executed(%q): got %v, want %v", tc.substr, got, tc.executed)
		}
		if got := vertexNames(p.ExecutedSteps(tc.substr)); !reflect.DeepEqual(got, tc.withInput) {
			t.Errorf("ExecutedSteps(%q): got %v, want %v", tc.substr, got, tc.withInput)
		}
	}
	if got := p.Output("RUN build"); got != "hello\n" {
		t.Errorf("Output: got %q", got)
	}
	if got := p.Find("broken"); len(got) != 1 || got[0].Error != "exit code: 1" {
		t.Errorf("Find(broken): got %+v", got)
	}
	if len(p.Warnings) != 1 || string(p.Warnings[0].Short) != "warn" {
		t.Errorf("Warnings: got %+v", p.Warnings)
	}
}

func TestVertexExecuted(t *testing.T) {
	ts := time.Unix(1700000000, 0)
	now := &ts
	tests := []struct {
		name string
		v    Vertex
		want bool
	}{
		{"ran", Vertex{Started: now, Completed: now}, true},
		{"cache hit", Vertex{Started: now, Completed: now, Cached: true}, false},
		{"still running", Vertex{Started: now}, false},
		{"failed", Vertex{Started: now, Completed: now, Error: "boom"}, false},
	}
	for _, tc := range tests {
		if got := tc.v.Executed(); got != tc.want {
			t.Errorf("%s: Executed() = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestExecutedSteps: the one rule of what ran (Vertex.Ran, EveryBuild),
// which the no-change checks and the bench share.
func TestExecutedSteps(t *testing.T) {
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
			// The copy fallback's copies have no name: they count too.
			name:   "unnamed op: run",
			stderr: `{"vertexes":[{"digest":"sha256:u","inputs":["sha256:a","sha256:b"],"started":"2026-01-01T00:00:00Z","completed":"2026-01-01T00:00:01Z"}]}`,
			want:   []string{""},
		},
		{
			name: "exporter and frontend input reads: left out",
			stderr: `{"vertexes":[{"digest":"sha256:d","name":"exporting to image","started":"2026-01-01T00:00:00Z","completed":"2026-01-01T00:00:01Z"},{"digest":"sha256:d","name":"exporting to image","started":"2026-01-01T00:00:02Z","completed":"2026-01-01T00:00:03Z"}]}
{"vertexes":[{"digest":"sha256:e","name":"[internal] load build definition from Dockerfile","started":"2026-01-01T00:00:00Z","completed":"2026-01-01T00:00:01Z"},{"digest":"sha256:e","started":"2026-01-01T00:00:02Z","completed":"2026-01-01T00:00:03Z"}]}`,
		},
		{
			name: "bake's prefixes and the cache import: left out",
			stderr: `{"vertexes":[{"digest":"sha256:g","name":"[nix internal] load build definition from nix-image.yaml","started":"2026-01-01T00:00:00Z","completed":"2026-01-01T00:00:01Z"},{"digest":"sha256:g","started":"2026-01-01T00:00:02Z","completed":"2026-01-01T00:00:03Z"}]}
{"vertexes":[{"digest":"sha256:h","inputs":["sha256:a"],"name":"[nix-ssh] exporting to image","started":"2026-01-01T00:00:00Z","completed":"2026-01-01T00:00:01Z"}]}
{"vertexes":[{"digest":"sha256:i","name":"importing cache manifest from r/nix:cache","started":"2026-01-01T00:00:00Z","completed":"2026-01-01T00:00:01Z"},{"digest":"sha256:i","started":"2026-01-01T00:00:02Z","completed":"2026-01-01T00:00:03Z"}]}
{"vertexes":[{"digest":"sha256:j","inputs":["sha256:a"],"name":"[nix nix-image] realise","started":"2026-01-01T00:00:00Z","completed":"2026-01-01T00:00:01Z"}]}`,
			want: []string{"[nix nix-image] realise"},
		},
		{
			name:   "failed op: not counted",
			stderr: `{"vertexes":[{"digest":"sha256:f","inputs":["sha256:a"],"name":"run","started":"2026-01-01T00:00:00Z","completed":"2026-01-01T00:00:01Z","error":"exit code 1"}]}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := ParseProgress(tt.stderr)
			if got := vertexNames(p.ExecutedSteps("")); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ExecutedSteps = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestVertexTimes: FirstStarted is the earliest start, Completed the latest
// completion, whatever order the updates come in.
func TestVertexTimes(t *testing.T) {
	p, _ := ParseProgress(`{"vertexes":[{"digest":"sha256:a","started":"2026-01-01T00:00:05Z","completed":"2026-01-01T00:00:09Z"}]}
{"vertexes":[{"digest":"sha256:a","started":"2026-01-01T00:00:01Z","completed":"2026-01-01T00:00:02Z"}]}`)
	v := p.Vertices[0]
	if got := v.Completed.Sub(*v.FirstStarted); got != 8*time.Second || v.Starts() != 2 {
		t.Errorf("took %v with %d starts, want 8s with 2", got, v.Starts())
	}
}

func vertexNames(vs []*Vertex) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Name)
	}
	return out
}
