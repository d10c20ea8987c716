package llbgen

import (
	"slices"
	"testing"

	"github.com/moby/buildkit/solver/pb"
	"github.com/nix-image/nix-image/nixstep"
)

// TestNoMountContentCache: the realise step's nixpkgs mount is keyed by
// the unpack step, not by content, unless the daemon cannot say so (no
// LLB capability exec.mount.cache.content), where no mount asks for it.
func TestNoMountContentCache(t *testing.T) {
	for _, noContentCache := range []bool{false, true} {
		_, _, def := testBuild(t, "default", func(o *Options) { o.NoMountContentCache = noContentCache })
		var off []string
		for _, op := range ops(t, def) {
			for _, m := range op.GetExec().GetMounts() {
				if m.GetContentCache() == pb.MountContentCache_OFF {
					off = append(off, m.GetDest())
				}
			}
		}
		want := []string{nixstep.NixpkgsDir}
		if noContentCache {
			want = nil
		}
		if !slices.Equal(off, want) {
			t.Errorf("NoMountContentCache=%v: mounts without content-based caching %q, want %q", noContentCache, off, want)
		}
	}
}
