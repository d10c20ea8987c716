// Package archive unpacks tar archives (plain, gzip, bzip2 or xz) into a
// directory, confined to it: whatever an archive holds, nothing outside
// the destination is created or changed. It decompresses with Go code
// only, rather than through BuildKit's copy-with-unpack, because that
// shells out to an xz binary the user's daemon host may not have.
package archive

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Error is a refused or broken archive: the source it came from (a URL, a
// named context) and, when the problem is one entry, that entry's name.
type Error struct {
	Source string
	Entry  string
	Err    error
}

func (e *Error) Error() string {
	if e.Entry == "" {
		return fmt.Sprintf("unpacking %s: %v", e.Source, e.Err)
	}
	return fmt.Sprintf("unpacking %s: entry %q: %v", e.Source, e.Entry, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Unpack extracts the archive in the file src into the directory dst
// (created if missing). source names the archive in errors.
func Unpack(src, dst, source string) error {
	f, err := os.Open(src)
	if err != nil {
		return &Error{Source: source, Err: err}
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return &Error{Source: source, Err: err}
	}
	return Extract(f, fi.Size(), dst, source)
}

// Extract extracts the archive r of the given size (see Unpack).
//
// Entries are written through an os.Root of dst, and a later entry may not
// go through a symlink an earlier one made, so no name, symlink or hard
// link leads outside dst; symlinks themselves are kept as they are, even
// those pointing outside. Names are relative ("./" and "/"-doubling are
// fine, ".." and absolute names are refused). Directories, regular files,
// symlinks and hard links are extracted, pax global headers skipped, and
// everything else (devices, fifos, sparse files) refused: a build step
// has no business creating them. Permission bits are kept (not setuid,
// setgid or sticky), and so are modification times.
func Extract(r io.ReaderAt, size int64, dst, source string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return &Error{Source: source, Err: err}
	}
	root, err := os.OpenRoot(dst)
	if err != nil {
		return &Error{Source: source, Err: err}
	}
	defer root.Close()
	data, err := decompress(r, size)
	if err != nil {
		return &Error{Source: source, Err: err}
	}
	defer data.Close()
	x := &extractor{root: root, symlinks: map[string]bool{}, open: map[string]openDir{}}
	defer x.closeDirs()
	tr := tar.NewReader(data)
	last := ""
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if last != "" {
				err = fmt.Errorf("after entry %q: %w", last, err)
			}
			return &Error{Source: source, Err: err}
		}
		last = hdr.Name
		if err := x.entry(hdr, tr); err != nil {
			return &Error{Source: source, Entry: hdr.Name, Err: err}
		}
	}
	// Read the compressed stream to its end, so that its own checks (the
	// gzip trailer, xz's index and checks) are made.
	if _, err := io.Copy(io.Discard, data); err != nil {
		return &Error{Source: source, Err: fmt.Errorf("after the last entry: %w", err)}
	}
	if err := x.finishDirs(); err != nil {
		return &Error{Source: source, Err: err}
	}
	return nil
}

// decompress returns the content of r, decompressed as its first bytes
// say.
func decompress(r io.ReaderAt, size int64) (io.ReadCloser, error) {
	br := bufio.NewReaderSize(io.NewSectionReader(r, 0, size), 1<<20)
	magic, err := br.Peek(6)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		return gzip.NewReader(br)
	case bytes.HasPrefix(magic, xzHeaderMagic):
		return openXZ(r, size)
	case bytes.HasPrefix(magic, []byte("BZh")):
		return io.NopCloser(bzip2.NewReader(br)), nil
	}
	if err := checkPlainTar(br); err != nil {
		return nil, err
	}
	return io.NopCloser(br), nil
}

// checkPlainTar tells, from its first block, whether an uncompressed
// stream is a tar archive: its first header carries the ustar magic (POSIX,
// GNU and pax tar all write it). What else it is goes into the error: a
// download that is an HTML page (an error page served with status 200)
// otherwise fails as "unexpected EOF".
func checkPlainTar(br *bufio.Reader) error {
	block, err := br.Peek(512)
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if len(block) == 0 {
		return fmt.Errorf("the file is empty, not a tar archive")
	}
	if len(block) == 512 && bytes.HasPrefix(block[257:], []byte("ustar")) {
		return nil
	}
	start := block[:min(len(block), 40)]
	what := ""
	if lower := bytes.ToLower(bytes.TrimSpace(block)); bytes.HasPrefix(lower, []byte("<!doctype html")) || bytes.HasPrefix(lower, []byte("<html")) {
		what = " (an HTML page: is it an error page served in place of the tarball?)"
	}
	return fmt.Errorf("not a tar archive (plain, gzip, bzip2 or xz): it starts with %q%s", start, what)
}

// extractor writes the entries of one archive into root.
type extractor struct {
	root *os.Root
	// symlinks are the names of the symlinks extracted so far: no later
	// entry may go through them.
	symlinks map[string]bool
	// dirs get their modes and times once everything is extracted, so that
	// a read-only directory (as in a Nix store) can still receive its
	// entries, and its time is not changed by them.
	dirs []dirMode
	// open are directories opened through root, by name (see dir).
	open map[string]openDir
}

// openDir is a directory of the destination, opened through the root.
type openDir struct {
	// root is the directory as a root: entries are made in it by their
	// base names, one call each instead of a walk from the destination.
	root *os.Root
	// f is the directory itself, for what os.Root cannot do (set the
	// times of a symlink).
	f *os.File
}

// maxOpenDirs bounds the directories an extractor keeps open. Archives
// list a directory's entries together, so a few suffice.
const maxOpenDirs = 64

// dir returns the directory name ("." for the destination), made if
// missing. It is opened through the root, and so is never outside the
// destination; an entry's directory goes through no symlink (see name),
// and a directory is never replaced (see clear), so it stays valid.
func (x *extractor) dir(name string) (openDir, error) {
	if d, ok := x.open[name]; ok {
		return d, nil
	}
	if len(x.open) >= maxOpenDirs {
		x.closeDirs()
	}
	if name != "." {
		if err := x.root.MkdirAll(name, 0o755); err != nil {
			return openDir{}, err
		}
	}
	r, err := x.root.OpenRoot(name)
	if err != nil {
		return openDir{}, err
	}
	f, err := r.Open(".")
	if err != nil {
		r.Close()
		return openDir{}, err
	}
	d := openDir{root: r, f: f}
	x.open[name] = d
	return d, nil
}

// closeDirs closes the directories dir opened.
func (x *extractor) closeDirs() {
	for name, d := range x.open {
		d.f.Close()
		d.root.Close()
		delete(x.open, name)
	}
}

type dirMode struct {
	name  string
	mode  os.FileMode
	mtime time.Time
}

func (x *extractor) entry(hdr *tar.Header, r io.Reader) error {
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil
	}
	name, err := x.name(hdr.Name)
	if err != nil {
		return err
	}
	mode := hdr.FileInfo().Mode().Perm()
	if name == "." {
		if hdr.Typeflag == tar.TypeDir {
			return nil
		}
		return errors.New("names the destination itself")
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := x.clear(name, true); err != nil {
			return err
		}
		if _, err := x.dir(name); err != nil {
			return err
		}
		x.dirs = append(x.dirs, dirMode{name, mode, hdr.ModTime})
		return nil
	case tar.TypeReg:
		if err := x.clear(name, false); err != nil {
			return err
		}
		if err := x.writeFile(name, r, mode); err != nil {
			return err
		}
	case tar.TypeSymlink:
		if err := x.clear(name, false); err != nil {
			return err
		}
		d, err := x.dir(path.Dir(name))
		if err != nil {
			return err
		}
		if err := d.root.Symlink(hdr.Linkname, path.Base(name)); err != nil {
			return err
		}
		x.symlinks[name] = true
	case tar.TypeLink:
		old, err := x.name(hdr.Linkname)
		if err != nil {
			return fmt.Errorf("hard link target: %w", err)
		}
		fi, err := x.root.Lstat(old)
		if err != nil {
			return fmt.Errorf("hard link to %q, which the archive has not made: %w", hdr.Linkname, err)
		}
		if fi.IsDir() {
			return fmt.Errorf("hard link to the directory %q", hdr.Linkname)
		}
		if err := x.clear(name, false); err != nil {
			return err
		}
		if err := x.root.Link(old, name); err != nil {
			return err
		}
		// A hard link to a symlink is a symlink.
		if fi.Mode()&fs.ModeSymlink != 0 {
			x.symlinks[name] = true
		}
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		return errors.New("device or fifo: refused, a build step creates none")
	default:
		return fmt.Errorf("unsupported entry type %q", hdr.Typeflag)
	}
	return x.lchtimes(name, hdr.ModTime)
}

// name turns an entry's name into a clean name relative to the root, "."
// for the root itself. It refuses absolute names, ".." components and
// names that go through a symlink of the archive.
func (x *extractor) name(n string) (string, error) {
	if strings.HasPrefix(n, "/") {
		return "", errors.New("absolute name: refused")
	}
	var parts []string
	for _, p := range strings.Split(n, "/") {
		switch p {
		case "", ".":
		case "..":
			return "", errors.New(`".." in the name: refused`)
		default:
			parts = append(parts, p)
		}
	}
	for i := 1; i < len(parts) && len(x.symlinks) > 0; i++ {
		if p := path.Join(parts[:i]...); x.symlinks[p] {
			return "", fmt.Errorf("goes through the symlink %q of the archive: refused", p)
		}
	}
	if len(parts) == 0 {
		return ".", nil
	}
	return path.Join(parts...), nil
}

// clear makes the directory of the entry name (dir: whether it is a
// directory itself) and removes an earlier entry of the same name, unless
// both are directories. A directory is never replaced by anything else.
func (x *extractor) clear(name string, dir bool) error {
	d, err := x.dir(path.Dir(name))
	if err != nil {
		return err
	}
	base := path.Base(name)
	fi, err := d.root.Lstat(base)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.IsDir() {
		if dir {
			return nil
		}
		return errors.New("would replace a directory of the archive: refused")
	}
	delete(x.symlinks, name)
	return d.root.Remove(base)
}

// writeFile creates name (never through a symlink: it does not exist) with
// the content r and mode.
func (x *extractor) writeFile(name string, r io.Reader, mode os.FileMode) error {
	d, err := x.dir(path.Dir(name))
	if err != nil {
		return err
	}
	f, err := d.root.OpenFile(path.Base(name), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if err == nil {
		err = f.Chmod(mode)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// lchtimes sets the times of name, not following a symlink: it sets them
// through its directory, opened in the root.
func (x *extractor) lchtimes(name string, mtime time.Time) error {
	d, err := x.dir(path.Dir(name))
	if err != nil {
		return err
	}
	ts := unix.NsecToTimespec(mtime.UnixNano())
	if err := unix.UtimesNanoAt(int(d.f.Fd()), path.Base(name), []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("setting times: %w", err)
	}
	return nil
}

// finishDirs gives the directories their modes and times, deepest last
// made first.
func (x *extractor) finishDirs() error {
	for i := len(x.dirs) - 1; i >= 0; i-- {
		d := x.dirs[i]
		parent, err := x.dir(path.Dir(d.name))
		if err != nil {
			return fmt.Errorf("entry %q: %w", d.name, err)
		}
		if err := parent.root.Chmod(path.Base(d.name), d.mode); err != nil {
			return fmt.Errorf("entry %q: %w", d.name, err)
		}
		if err := x.lchtimes(d.name, d.mtime); err != nil {
			return fmt.Errorf("entry %q: %w", d.name, err)
		}
	}
	return nil
}
