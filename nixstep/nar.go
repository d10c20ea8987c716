package nixstep

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sort"
)

// NarHash returns the SRI sha256 (sha256-<base64>) of the NAR
// serialisation of the file tree at p: the hash Nix calls a path's NAR
// hash (`nix hash path`, flake.lock's narHash, fetchTarball's sha256).
func NarHash(p string) (string, error) {
	h := sha256.New()
	w := &narWriter{h: h}
	w.str("nix-archive-1")
	if err := w.node(p); err != nil {
		return "", fmt.Errorf("computing the NAR hash of %s: %w", p, err)
	}
	return "sha256-" + base64.StdEncoding.EncodeToString(h.Sum(nil)), nil
}

// narWriter writes Nix's archive format: every token is a string, its
// length as 64-bit little endian, then its bytes padded with zeros to a
// multiple of 8. Only a file's executable bit, a symlink's target and a
// directory's sorted entries are recorded.
type narWriter struct {
	h   hash.Hash
	buf [8]byte
}

func (w *narWriter) size(n uint64) {
	binary.LittleEndian.PutUint64(w.buf[:], n)
	w.h.Write(w.buf[:])
}

func (w *narWriter) pad(n uint64) {
	if r := n % 8; r != 0 {
		w.h.Write(make([]byte, 8-r))
	}
}

func (w *narWriter) str(s string) {
	w.size(uint64(len(s)))
	io.WriteString(w.h, s)
	w.pad(uint64(len(s)))
}

func (w *narWriter) node(p string) error {
	fi, err := os.Lstat(p)
	if err != nil {
		return err
	}
	w.str("(")
	switch {
	case fi.Mode()&os.ModeSymlink != 0:
		target, err := os.Readlink(p)
		if err != nil {
			return err
		}
		w.str("type")
		w.str("symlink")
		w.str("target")
		w.str(target)
	case fi.Mode().IsRegular():
		w.str("type")
		w.str("regular")
		if fi.Mode()&0o100 != 0 {
			w.str("executable")
			w.str("")
		}
		w.str("contents")
		if err := w.contents(p, fi.Size()); err != nil {
			return err
		}
	case fi.IsDir():
		w.str("type")
		w.str("directory")
		entries, err := os.ReadDir(p)
		if err != nil {
			return err
		}
		names := make([]string, len(entries))
		for i, e := range entries {
			names[i] = e.Name()
		}
		sort.Strings(names) // byte order, as Nix sorts
		for _, name := range names {
			w.str("entry")
			w.str("(")
			w.str("name")
			w.str(name)
			w.str("node")
			if err := w.node(filepath.Join(p, name)); err != nil {
				return err
			}
			w.str(")")
		}
	default:
		return fmt.Errorf("%s is neither a file, a directory nor a symlink, which is all a Nix archive holds", p)
	}
	w.str(")")
	return nil
}

func (w *narWriter) contents(p string, size int64) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	w.size(uint64(size))
	n, err := io.Copy(w.h, f)
	if err != nil {
		return err
	}
	if n != size {
		return fmt.Errorf("%s changed size while being read", p)
	}
	w.pad(uint64(n))
	return nil
}
