package nixstep

import (
	"context"
	"fmt"
	"os"
	"path"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"
)

// The symlinks step (`step symlinks DIR TARGET LINK...`) adds symlinks to
// a tree (see Symlinks), mounted at OutDir.
const symlinksStep = "symlinks"

// Symlink is a symlink at Link pointing to Target.
type Symlink struct{ Target, Link string }

// SymlinksStep is a symlinks step.
type SymlinksStep struct {
	// Tool is the frontend image (ToolDir).
	Tool  llb.State
	Links []Symlink
}

// Args is the step's argv.
func (s SymlinksStep) Args() []string {
	args := stepCommand(symlinksStep, OutDir)
	for _, l := range s.Links {
		args = append(args, l.Target, l.Link)
	}
	return args
}

// Run returns the tree dir with the links added, with the build's
// options opts.
func (s SymlinksStep) Run(dir llb.State, opts ...llb.RunOption) llb.State {
	return runStep([]llb.RunOption{
		llb.Args(s.Args()),
		toolMount(s.Tool),
		llb.Network(pb.NetMode_NONE),
	}, opts).AddMount(OutDir, dir)
}

// runSymlinks is the symlinks step.
func runSymlinks(_ context.Context, args []string) error {
	if len(args) < 1 {
		return fmt.Errorf("step symlinks: usage: symlinks DIR TARGET LINK [TARGET LINK]...")
	}
	return Symlinks(args[0], args[1:])
}

// Symlinks creates symlinks in the tree dir: args are pairs TARGET LINK,
// LINK a path inside dir (its parent directories must exist), TARGET what
// it points to, kept as given. It serves daemons whose FileOp cannot
// create symlinks (BuildKit without the LLB capability
// file.symlink.create, before v0.19); os.Root keeps every link inside dir.
func Symlinks(dir string, args []string) error {
	if len(args) == 0 || len(args)%2 != 0 {
		return fmt.Errorf("symlinks: want pairs TARGET LINK, got %q", args)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("symlinks: %w", err)
	}
	defer root.Close()
	for i := 0; i < len(args); i += 2 {
		target, link := args[i], path.Clean("/" + args[i+1])[1:]
		if link == "" {
			return fmt.Errorf("symlinks: link %q is the tree's root", args[i+1])
		}
		if err := root.Symlink(target, link); err != nil {
			return fmt.Errorf("symlinks: %s -> %s: %w", link, target, err)
		}
	}
	return nil
}
