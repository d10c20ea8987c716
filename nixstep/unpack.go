package nixstep

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Unpack extracts the tar archive src (plain, gzip, bzip2 or xz, detected
// from its first bytes) into dst, dropping the first strip path
// components. It does this itself, rather than through BuildKit's
// copy-with-unpack, because that shells out to an xz binary the user's
// daemon host may not have.
func Unpack(src, dst string, strip int) error {
	f, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("unpack: %w", err)
	}
	defer f.Close()
	r, err := decompress(f)
	if err != nil {
		return fmt.Errorf("unpack %s: %w", src, err)
	}
	defer r.Close()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return fmt.Errorf("unpack: %w", err)
	}
	if err := extract(tar.NewReader(r), dst, strip); err != nil {
		return fmt.Errorf("unpack %s: %w", src, err)
	}
	return nil
}

// decompress returns the content of f, decompressed as its first bytes
// say.
func decompress(f *os.File) (io.ReadCloser, error) {
	br := bufio.NewReaderSize(f, 1<<20)
	magic, err := br.Peek(6)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		return gzip.NewReader(br)
	case bytes.HasPrefix(magic, xzHeaderMagic):
		fi, err := f.Stat()
		if err != nil {
			return nil, err
		}
		return openXZ(f, fi.Size())
	case bytes.HasPrefix(magic, []byte("BZh")):
		return io.NopCloser(bzip2.NewReader(br)), nil
	}
	return io.NopCloser(br), nil
}

// dirMode records directory modes and times to apply after extraction, so
// that a read-only directory (as in a Nix store) can still receive its
// entries, and its time is not changed by them.
type dirMode struct {
	path  string
	mode  os.FileMode
	mtime time.Time
}

func extract(tr *tar.Reader, dst string, strip int) error {
	var dirs []dirMode
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		name, ok := stripComponents(hdr.Name, strip)
		if !ok {
			continue
		}
		target := filepath.Join(dst, filepath.FromSlash(name))
		mode := hdr.FileInfo().Mode().Perm()
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
			dirs = append(dirs, dirMode{target, mode, hdr.ModTime})
		case tar.TypeReg:
			if err := writeFile(target, tr, mode); err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			if err := os.Symlink(hdr.Linkname, target); err != nil {
				return err
			}
		case tar.TypeLink:
			old, ok := stripComponents(hdr.Linkname, strip)
			if !ok {
				return fmt.Errorf("hard link %s points outside the archive root: %s", hdr.Name, hdr.Linkname)
			}
			if err := os.Link(filepath.Join(dst, filepath.FromSlash(old)), target); err != nil {
				return err
			}
		case tar.TypeXGlobalHeader:
			continue
		default:
			return fmt.Errorf("unsupported entry %s (type %c)", hdr.Name, hdr.Typeflag)
		}
		if hdr.Typeflag != tar.TypeDir {
			if err := setMtime(target, hdr.ModTime); err != nil {
				return err
			}
		}
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := os.Chmod(dirs[i].path, dirs[i].mode); err != nil {
			return err
		}
		if err := setMtime(dirs[i].path, dirs[i].mtime); err != nil {
			return err
		}
	}
	return nil
}

// setMtime sets the access and modification time of p, not following a
// symlink, so extracted trees do not carry the time of extraction.
func setMtime(p string, t time.Time) error {
	ts := unix.NsecToTimespec(t.UnixNano())
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("setting times of %s: %w", p, err)
	}
	return nil
}

func writeFile(target string, r io.Reader, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Chmod(target, mode)
}

// stripComponents removes the first n components of a tar entry name. It
// reports false for entries that vanish (the stripped prefix itself) and
// for names that would escape the destination.
func stripComponents(name string, n int) (string, bool) {
	clean := path.Clean("/" + name)
	parts := strings.Split(strings.TrimPrefix(clean, "/"), "/")
	if len(parts) <= n || clean == "/" {
		return "", false
	}
	return path.Join(parts[n:]...), true
}
