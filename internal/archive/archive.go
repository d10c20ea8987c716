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
	x := &extractor{root: root, symlinks: map[string]bool{}, open: map[string]*os.File{}}
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
	// open are directories of the destination, open by name (see dir).
	open map[string]*os.File
	buf  []byte // for file contents
}

// maxOpenDirs bounds the directories an extractor keeps open. Archives
// list a directory's entries together, so a few suffice.
const maxOpenDirs = 64

// dir returns the directory name ("." for the destination) open, made if
// missing. The destination is opened through the root; every other
// directory by its base name in its parent, open already, without
// following a symlink (O_NOFOLLOW): an entry's directory goes through no
// symlink (see name), so it is never outside the destination, and a
// directory is never replaced (see clear), so it stays valid. Entries are
// then made in it by base name, one system call each, rather than by a
// walk from the destination: nixpkgs has 29,000 directories and 45,000
// files, and every call counts.
func (x *extractor) dir(name string) (*os.File, error) {
	if d, ok := x.open[name]; ok {
		return d, nil
	}
	if len(x.open) >= maxOpenDirs {
		// Before the parents are opened below: they stay open until
		// this call returns.
		x.closeDirs()
	}
	var d *os.File
	if name == "." {
		var err error
		if d, err = x.root.Open("."); err != nil {
			return nil, err
		}
	} else {
		parent, err := x.dir(path.Dir(name))
		if err != nil {
			return nil, err
		}
		pfd, base := int(parent.Fd()), path.Base(name)
		if err := unix.Mkdirat(pfd, base, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
			return nil, &os.PathError{Op: "mkdir", Path: name, Err: err}
		}
		fd, err := unix.Openat(pfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: name, Err: err}
		}
		d = os.NewFile(uintptr(fd), name)
	}
	x.open[name] = d
	return d, nil
}

// closeDirs closes the directories dir opened.
func (x *extractor) closeDirs() {
	for name, d := range x.open {
		d.Close()
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
		err := x.create(name, true, func(dirfd int, base string) error {
			return unix.Mkdirat(dirfd, base, 0o755)
		})
		if err != nil {
			return err
		}
		x.dirs = append(x.dirs, dirMode{name, mode, hdr.ModTime})
		return nil
	case tar.TypeReg:
		err := x.create(name, false, func(dirfd int, base string) error {
			return x.writeFile(dirfd, base, r, mode)
		})
		if err != nil {
			return err
		}
	case tar.TypeSymlink:
		err := x.create(name, false, func(dirfd int, base string) error {
			return unix.Symlinkat(hdr.Linkname, dirfd, base)
		})
		if err != nil {
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
		if err := x.create(name, false, func(int, string) error { return x.root.Link(old, name) }); err != nil {
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

// create makes the entry name (isDir: a directory) with mk, given its
// directory, open (see dir), and its base name. mk fails with EEXIST, as
// the calls it makes do, when an earlier entry has that name: then clear
// removes that entry and mk runs again, or, both being directories, the
// directory is kept as it is.
func (x *extractor) create(name string, isDir bool, mk func(dirfd int, base string) error) error {
	d, err := x.dir(path.Dir(name))
	if err != nil {
		return err
	}
	dirfd, base := int(d.Fd()), path.Base(name)
	err = mk(dirfd, base)
	if !errors.Is(err, unix.EEXIST) {
		return err
	}
	kept, err := x.clear(dirfd, name, isDir)
	if err != nil || kept {
		return err
	}
	return mk(dirfd, base)
}

// clear removes the earlier entry of the same name as the entry name
// (isDir: a directory) from its directory dirfd, unless both are
// directories: then it keeps it and says so. A directory is never
// replaced by anything else.
func (x *extractor) clear(dirfd int, name string, isDir bool) (kept bool, err error) {
	base := path.Base(name)
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return false, &os.PathError{Op: "lstat", Path: name, Err: err}
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		if isDir {
			return true, nil
		}
		return false, errors.New("would replace a directory of the archive: refused")
	}
	delete(x.symlinks, name)
	if err := unix.Unlinkat(dirfd, base, 0); err != nil {
		return false, &os.PathError{Op: "remove", Path: name, Err: err}
	}
	return false, nil
}

// writeFile creates base in the directory dirfd (never through a symlink:
// O_EXCL fails on any existing name, and O_NOFOLLOW says so) with the
// content r and mode. It writes through the descriptor itself, not an
// os.File, which would set it non-blocking and try to add it to the
// poller: two fcntl and an epoll_ctl per file for nothing.
func (x *extractor) writeFile(dirfd int, base string, r io.Reader, mode os.FileMode) error {
	fd, err := unix.Openat(dirfd, base, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	if x.buf == nil {
		x.buf = make([]byte, 256<<10)
	}
	_, err = io.CopyBuffer(fdWriter(fd), r, x.buf)
	if err == nil {
		err = unix.Fchmod(fd, uint32(mode))
	}
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	return err
}

// fdWriter writes to a file descriptor.
type fdWriter int

func (w fdWriter) Write(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := unix.Write(int(w), p[n:])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return n, err
		}
		n += m
	}
	return n, nil
}

// lchtimes sets the times of name, not following a symlink: it sets them
// through its directory, open (see dir).
func (x *extractor) lchtimes(name string, mtime time.Time) error {
	d, err := x.dir(path.Dir(name))
	if err != nil {
		return err
	}
	ts := unix.NsecToTimespec(mtime.UnixNano())
	if err := unix.UtimesNanoAt(int(d.Fd()), path.Base(name), []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("setting times: %w", err)
	}
	return nil
}

// finishDirs gives the directories their modes and times, deepest last
// made first. fchmodat follows a symlink, but each name is a directory
// the archive made, which no later entry replaced (see clear).
func (x *extractor) finishDirs() error {
	for i := len(x.dirs) - 1; i >= 0; i-- {
		d := x.dirs[i]
		parent, err := x.dir(path.Dir(d.name))
		if err != nil {
			return fmt.Errorf("entry %q: %w", d.name, err)
		}
		if err := unix.Fchmodat(int(parent.Fd()), path.Base(d.name), uint32(d.mode), 0); err != nil {
			return fmt.Errorf("entry %q: %w", d.name, &os.PathError{Op: "chmod", Path: d.name, Err: err})
		}
		if err := x.lchtimes(d.name, d.mtime); err != nil {
			return fmt.Errorf("entry %q: %w", d.name, err)
		}
	}
	return nil
}
