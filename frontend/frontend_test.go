package frontend

import (
	"testing"
	"time"

	"github.com/moby/buildkit/client/llb"
	"github.com/nix-image/nix-image/llbgen"
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

func TestListTargets(t *testing.T) {
	s, err := spec.Parse("nix-image.yaml", []byte("nixpkgs:\n  url: https://example.com/n.tar.gz\n  sha256: "+
		"1111111111111111111111111111111111111111111111111111111111111111\nimages:\n  ssh: {}\n"))
	if err != nil {
		t.Fatal(err)
	}
	l := listTargets(s, llbgen.NewSourceMap(llb.NewSourceMap(nil, "nix-image.yaml", "yaml", nil), s))
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
