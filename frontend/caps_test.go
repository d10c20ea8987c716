package frontend

import (
	"context"
	"strings"
	"testing"

	"github.com/moby/buildkit/client/llb"
	gwpb "github.com/moby/buildkit/frontend/gateway/pb"
	"github.com/moby/buildkit/solver/pb"
	"github.com/moby/buildkit/util/apicaps"
	apicapspb "github.com/moby/buildkit/util/apicaps/pb"
)

// capsWithout is the set of every capability of list, as a current daemon
// reports it, but those of without: a fake older daemon.
func capsWithout(list *apicaps.CapList, without ...apicaps.CapID) apicaps.CapSet {
	var caps []*apicapspb.APICap
	for _, c := range list.All() {
		drop := false
		for _, id := range without {
			drop = drop || c.ID == string(id)
		}
		if !drop {
			caps = append(caps, c)
		}
	}
	return list.CapSet(caps)
}

func TestCheckGatewayCaps(t *testing.T) {
	tests := []struct {
		name    string
		without []apicaps.CapID
		wantErr string
	}{
		{"current daemon", nil, ""},
		{"no gateway exec: not needed", []apicaps.CapID{gwpb.CapGatewayExec}, ""},
		{"no ReadFile", []apicaps.CapID{gwpb.CapReadFile}, "lacks the gateway capability " + string(gwpb.CapReadFile) + ": upgrade it; nix-image needs BuildKit v0.12.5 or newer"},
		{"no solve", []apicaps.CapID{gwpb.CapReadFile, gwpb.CapSolveBase}, "gateway capability " + string(gwpb.CapSolveBase) + ":"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := checkGatewayCaps(capsWithout(&gwpb.Caps, tc.without...))
			checkErr(t, err, tc.wantErr)
		})
	}
}

func TestCheckLLBCaps(t *testing.T) {
	links := llb.Scratch().File(llb.Mkdir("/etc", 0o755).Symlink("/a", "/etc/b"), llb.WithCustomName("write /etc"))
	merged := llb.Merge([]llb.State{links, llb.Scratch().File(llb.Mkfile("/c", 0o644, nil))}, llb.WithCustomName("merge layers"))
	tests := []struct {
		name    string
		st      llb.State
		without []apicaps.CapID
		wantErr string
	}{
		{"current daemon", merged, nil, ""},
		{"BuildKit v0.12: no symlinks", links, []apicaps.CapID{pb.CapFileSymlinkCreate},
			`lacks the LLB capability file.symlink.create (for the step "write /etc"): upgrade it; nix-image needs BuildKit v0.12.5 or newer`},
		{"no MergeOp", merged, []apicaps.CapID{pb.CapMergeOp}, `LLB capability mergeop (for the step "merge layers")`},
		{"the first missing one is named", merged, []apicaps.CapID{pb.CapMergeOp, pb.CapFileSymlinkCreate}, "LLB capability file.symlink.create"},
		{"a missing capability the LLB does not use", links, []apicaps.CapID{pb.CapMergeOp, pb.CapSourceGit}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			def, err := tc.st.Marshal(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			checkErr(t, checkLLBCaps(capsWithout(&pb.Caps, tc.without...), def), tc.wantErr)
		})
	}
}

func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
		t.Fatalf("err = %v, want it to contain %q", err, want)
	}
}
