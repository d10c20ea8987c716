package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
)

// newFS makes dir a mount point of a new, empty ext4 file system of size
// bytes (Options.StateFS): a sparse image file next to it, dir + ".img",
// loop-mounted. The mount is below the stack's directory, so Stop (and
// the next run's removeStaleDirs, after a crash) unmounts it with the
// snapshots' mounts, which frees the loop device (mount -o loop sets it
// to clear itself), and removes the image with the directory.
func newFS(ctx context.Context, dir string, size int64) error {
	img := dir + ".img"
	f, err := os.Create(img)
	if err != nil {
		return fmt.Errorf("state file system: %w", err)
	}
	err = f.Truncate(size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("state file system: %w", err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return fmt.Errorf("state file system: %w", err)
	}
	// noinit_itable: no kernel thread zeroing inode tables in the
	// background while builds are timed (a new file system's block
	// groups are marked uninitialised, so nothing reads stale tables).
	for _, c := range [][]string{
		{"mkfs.ext4", "-q", "-F", "-m", "0", img},
		{"mount", "-o", "loop,noinit_itable", img, dir},
	} {
		if out, err := exec.CommandContext(ctx, c[0], c[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("state file system: %s: %w: %s", c[0], err, out)
		}
	}
	return nil
}
