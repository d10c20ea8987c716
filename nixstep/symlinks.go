package nixstep

import (
	"fmt"
	"os"
	"path"
)

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
