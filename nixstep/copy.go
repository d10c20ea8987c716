package nixstep

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"
)

// storeTime is the modification time of every file in a Nix store.
var storeTime = time.Unix(1, 0)

// CopyTree copies a file tree, keeping symlinks and permission bits and
// setting every modification time to the Nix store's (1 s after the
// epoch), so copies of the same store path are byte-identical in a layer.
func CopyTree(src, dst string) error {
	fi, err := os.Lstat(src)
	if err != nil {
		return err
	}
	switch {
	case fi.Mode()&os.ModeSymlink != 0:
		target, err := os.Readlink(src)
		if err != nil {
			return err
		}
		if err := os.Symlink(target, dst); err != nil {
			return err
		}
	case fi.IsDir():
		if err := os.Mkdir(dst, 0o700); err != nil {
			return err
		}
		entries, err := os.ReadDir(src)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if err := CopyTree(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())); err != nil {
				return err
			}
		}
		if err := os.Chmod(dst, fi.Mode().Perm()); err != nil {
			return err
		}
	case fi.Mode().IsRegular():
		if err := copyFile(src, dst, fi.Mode().Perm()); err != nil {
			return err
		}
	default:
		return fmt.Errorf("copying %s: unsupported file type %s", src, fi.Mode().Type())
	}
	return setMtime(dst, storeTime)
}

// parallel runs f(0) ... f(n-1) on a few goroutines (copies of store
// paths: disk and page cache bound, so a few more than the CPUs) and
// returns the first error.
func parallel(n int, f func(i int) error) error {
	var g errgroup.Group
	g.SetLimit(parallelism())
	for i := range n {
		g.Go(func() error { return f(i) })
	}
	return g.Wait()
}

// parallelism is how many goroutines parallel runs at once.
func parallelism() int { return 2 * runtime.GOMAXPROCS(0) }

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	// dst is new (O_EXCL): never a symlink followed.
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Chmod(mode); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// setMtime sets the access and modification time of p, not following a
// symlink, so copied trees do not carry the time of the copy.
func setMtime(p string, t time.Time) error {
	return setMtimeAt(unix.AT_FDCWD, p, p, t)
}

// setMtimeAt is setMtime of the entry name of the directory dirfd (p, for
// errors).
func setMtimeAt(dirfd int, name, p string, t time.Time) error {
	ts := unix.NsecToTimespec(t.UnixNano())
	if err := unix.UtimesNanoAt(dirfd, name, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("setting times of %s: %w", p, err)
	}
	return nil
}
