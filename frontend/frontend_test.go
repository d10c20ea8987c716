package frontend

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/errdefs"
	"github.com/nix-image/nix-image/spec"
)

func TestSourceDateEpoch(t *testing.T) {
	tests := []struct {
		args map[string]string
		want int64
		err  bool
	}{
		{nil, 0, false},
		{map[string]string{"SOURCE_DATE_EPOCH": ""}, 0, false},
		{map[string]string{"SOURCE_DATE_EPOCH": "1700000000"}, 1700000000, false},
		{map[string]string{"SOURCE_DATE_EPOCH": "yesterday"}, 0, true},
		{map[string]string{"SOURCE_DATE_EPOCH": "-5"}, 0, true},
	}
	for _, tc := range tests {
		got, err := sourceDateEpoch(tc.args)
		if (err != nil) != tc.err || (err == nil && !got.Equal(time.Unix(tc.want, 0))) {
			t.Errorf("sourceDateEpoch(%v) = %v, %v; want %d (error %v)", tc.args, got, err, tc.want, tc.err)
		}
	}
}

func TestWithSpecSource(t *testing.T) {
	src := []byte("nixpkgs: {}\nbogus: 1\n")
	sm := llb.NewSourceMap(nil, "nix-image.yaml", "yaml", src)
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
			err := withSpecSource(tc.err, sm)
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

func TestListTargets(t *testing.T) {
	s, err := spec.Parse("nix-image.yaml", []byte("nixpkgs:\n  url: https://example.com/n.tar.gz\n  sha256: "+
		"1111111111111111111111111111111111111111111111111111111111111111\nimages:\n  ssh: {}\n"))
	if err != nil {
		t.Fatal(err)
	}
	l := listTargets(s, llb.NewSourceMap(nil, "nix-image.yaml", "yaml", nil))
	if len(l.Targets) != 2 || l.Targets[0].Name != "default" || !l.Targets[0].Default || l.Targets[1].Name != "ssh" {
		t.Fatalf("targets = %+v", l.Targets)
	}
	if l.Targets[0].Location != nil {
		t.Errorf("default is not in the spec but has a location")
	}
	if loc := l.Targets[1].Location; loc == nil || loc.Ranges[0].Start.Line != 5 {
		t.Errorf("ssh location = %v, want line 5", loc)
	}
}
