package llbgen

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/errdefs"
	"github.com/nix-image/nix-image/spec"
)

func TestSourceMapWithSource(t *testing.T) {
	src := []byte("nixpkgs: {}\nbogus: 1\n")
	sm := NewSourceMap(llb.NewSourceMap(nil, "nix-image.yaml", "yaml", src), nil)
	_, parseErr := spec.Parse("nix-image.yaml", src)
	if parseErr == nil {
		t.Fatal("want a parse error")
	}
	tests := []struct {
		name   string
		err    error
		ranges int
	}{
		{"spec errors", parseErr, 2},
		{"wrapped spec errors", fmt.Errorf("ctx: %w", parseErr), 2},
		{"other error", errors.New("boom"), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := sm.WithSource(tc.err)
			srcs := errdefs.Sources(err)
			n := 0
			for _, s := range srcs {
				n += len(s.Ranges)
			}
			if n != tc.ranges {
				t.Errorf("%d source ranges, want %d (%v)", n, tc.ranges, err)
			}
			if err.Error() != tc.err.Error() {
				t.Errorf("message changed: %q", err)
			}
		})
	}
}

// TestSourceMapForms: a field of the spec is located at its line in
// every form (a step's location, a subrequest's, a lint range with its
// column); a field the spec does not hold, and a nil map, locate nothing.
func TestSourceMapForms(t *testing.T) {
	src := []byte("nixpkgs:\n  url: https://example.com/n.tar.gz\n  sha256: " + testNixpkgsSHA + "\n")
	s, err := spec.Parse("nix-image.yaml", src)
	if err != nil {
		t.Fatal(err)
	}
	sm := NewSourceMap(llb.NewSourceMap(nil, "nix-image.yaml", "yaml", src), s)
	def, err := llb.Scratch().File(llb.Mkdir("/x", 0o755), sm.Constraints("nixpkgs.url")...).Marshal(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var lines []int32
	for _, locs := range def.Source.GetLocations() {
		for _, l := range locs.GetLocations() {
			for _, r := range l.GetRanges() {
				lines = append(lines, r.GetStart().GetLine())
			}
		}
	}
	if !slices.Equal(lines, []int32{2}) {
		t.Errorf("step located at lines %v, want [2]", lines)
	}
	if loc := sm.Location("nixpkgs.url"); loc == nil || loc.Ranges[0].Start.Line != 2 {
		t.Errorf("subrequest location %v, want line 2", loc)
	}
	if r := sm.Range(spec.Pos{Line: 3, Col: 3}); r.Start.Line != 3 || r.Start.Character != 3 || r.End.Line != 3 {
		t.Errorf("lint range %v, want line 3 from column 3", r)
	}
	var none *SourceMap
	for name, m := range map[string]*SourceMap{"spec": sm, "nil map": none} {
		if got := m.Constraints("packages"); got != nil {
			t.Errorf("%s: a field not in the spec locates a step: %v", name, got)
		}
		if got := m.Location("packages"); got != nil {
			t.Errorf("%s: a field not in the spec has a location: %v", name, got)
		}
	}
}
