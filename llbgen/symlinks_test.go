package llbgen

import (
	"slices"
	"testing"
)

// TestNoSymlinkOp: on daemons whose FileOp cannot create symlinks, the
// links of /etc come from a step of the frontend binary, and no FileOp
// creates one.
func TestNoSymlinkOp(t *testing.T) {
	wantArgs := []string{"/.nix-image/tool/nix-image-frontend", "step", "symlinks", "/out",
		"/run/current-system/sw/etc/ssl/certs/ca-bundle.crt", "/etc/ssl/certs/ca-bundle.crt",
		"/run/current-system/sw/etc/ssl/certs/ca-bundle.crt", "/etc/ssl/certs/ca-certificates.crt"}
	for _, noSymlinkOp := range []bool{false, true} {
		_, _, def := testBuild(t, "default", func(o *Options) { o.NoSymlinkOp = noSymlinkOp })
		symlinkActions, steps := 0, 0
		for _, op := range ops(t, def) {
			for _, a := range op.GetFile().GetActions() {
				if a.GetSymlink() != nil {
					symlinkActions++
				}
			}
			if args := op.GetExec().GetMeta().GetArgs(); slices.Contains(args, "symlinks") {
				steps++
				if !slices.Equal(args, wantArgs) {
					t.Errorf("symlinks step runs %q, want %q", args, wantArgs)
				}
			}
		}
		want := map[bool][2]int{false: {2, 0}, true: {0, 1}}[noSymlinkOp]
		if symlinkActions != want[0] || steps != want[1] {
			t.Errorf("NoSymlinkOp=%v: %d symlink actions and %d symlinks steps, want %d and %d", noSymlinkOp, symlinkActions, steps, want[0], want[1])
		}
	}
}
