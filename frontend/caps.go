package frontend

import (
	"fmt"
	"slices"
	"strings"

	"github.com/moby/buildkit/client/llb"
	gwpb "github.com/moby/buildkit/frontend/gateway/pb"
	"github.com/moby/buildkit/solver/pb"
	"github.com/moby/buildkit/util/apicaps"
	"github.com/opencontainers/go-digest"
)

// minBuildKit is the oldest BuildKit nix-image is tested with (README,
// e2e/old_buildkit_test.go). What older daemons lack, the frontend works
// around where it can (see Build): MergeOp with copies, the LLB capability
// file.symlink.create (v0.12.5 lacks it) with a step writing the links.
const minBuildKit = "v0.12.5"

// gatewayCaps are the gateway API capabilities the frontend cannot do
// without: it solves LLB and reads files of the results (the closure, the
// install script, the build secret authorized_keys).
var gatewayCaps = []apicaps.CapID{gwpb.CapSolveBase, gwpb.CapReadFile, gwpb.CapReturnResult}

// checkGatewayCaps fails, naming the first missing capability, on a
// daemon too old for the frontend.
func checkGatewayCaps(caps apicaps.CapSet) error {
	for _, id := range gatewayCaps {
		if caps.Supports(id) != nil {
			return tooOld("gateway", id, "")
		}
	}
	return nil
}

// checkLLBCaps fails, naming the capability and the step that needs it,
// when an op of def needs an LLB capability the daemon lacks: the daemon
// would otherwise fail with a message about its own internals ("invalid
// action type"). Features with a fallback are checked before the LLB is
// made (see Build); this catches the rest.
func checkLLBCaps(caps apicaps.CapSet, def *llb.Definition) error {
	type need struct {
		id   apicaps.CapID
		step string
	}
	var missing []need
	for _, dt := range def.Def {
		md := def.Metadata[digest.FromBytes(dt)]
		ids, err := opCaps(dt, md)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if caps.Supports(id) != nil {
				missing = append(missing, need{id, md.Description["llb.customname"]})
			}
		}
	}
	if len(missing) == 0 {
		return nil
	}
	// The same answer on every run: the first by capability, then step.
	slices.SortFunc(missing, func(a, b need) int {
		return strings.Compare(string(a.id)+"\x00"+a.step, string(b.id)+"\x00"+b.step)
	})
	return tooOld("LLB", missing[0].id, missing[0].step)
}

// opCaps lists the capabilities an op needs: those the LLB package
// recorded in its metadata, and file.symlink.create for a FileOp that
// creates symlinks, which BuildKit's marshaling (v0.34.2) leaves out of
// the metadata.
func opCaps(dt []byte, md llb.OpMetadata) ([]apicaps.CapID, error) {
	var ids []apicaps.CapID
	for id, ok := range md.Caps {
		if ok {
			ids = append(ids, id)
		}
	}
	var op pb.Op
	if err := op.UnmarshalVT(dt); err != nil {
		return nil, fmt.Errorf("nix-image: reading the LLB: %w", err)
	}
	for _, a := range op.GetFile().GetActions() {
		if a.GetSymlink() != nil {
			ids = append(ids, pb.CapFileSymlinkCreate)
		}
	}
	return ids, nil
}

func tooOld(kind string, id apicaps.CapID, step string) error {
	where := ""
	if step != "" {
		where = fmt.Sprintf(" (for the step %q)", step)
	}
	return fmt.Errorf("nix-image: this BuildKit daemon lacks the %s capability %s%s: upgrade it; nix-image needs BuildKit %s or newer", kind, id, where, minBuildKit)
}
