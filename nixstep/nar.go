package nixstep

import (
	"bufio"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// NAR (Nix ARchive) is the serialisation whose sha256 a store path is
// registered with (its narHash) and whose length is its narSize: the
// format of `nix-store --dump`. Every string is its length (uint64, little
// endian), its bytes and zeros up to a multiple of 8:
//
//	nar   = "nix-archive-1" node
//	node  = "(" "type" ( "regular" ["executable" ""] "contents" DATA
//	                   | "symlink" "target" TARGET
//	                   | "directory" { "entry" "(" "name" NAME "node" node ")" } ) ")"
//
// with a directory's entries sorted by name (bytewise).

// narWriter writes a NAR and counts its bytes.
type narWriter struct {
	w   *bufio.Writer
	n   int64
	buf []byte // for file contents
}

func (nw *narWriter) write(b []byte) error {
	n, err := nw.w.Write(b)
	nw.n += int64(n)
	return err
}

var narPadding [8]byte

func (nw *narWriter) uint64(v uint64) error {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	return nw.write(b[:])
}

func (nw *narWriter) pad(n int64) error {
	if n%8 == 0 {
		return nil
	}
	return nw.write(narPadding[:8-n%8])
}

func (nw *narWriter) str(s string) error {
	if err := nw.uint64(uint64(len(s))); err != nil {
		return err
	}
	if err := nw.write([]byte(s)); err != nil {
		return err
	}
	return nw.pad(int64(len(s)))
}

func (nw *narWriter) strs(ss ...string) error {
	for _, s := range ss {
		if err := nw.str(s); err != nil {
			return err
		}
	}
	return nil
}

// WriteNAR writes the NAR of the file tree at p to w and returns its size.
func WriteNAR(w io.Writer, p string) (int64, error) {
	nw := &narWriter{w: bufio.NewWriterSize(w, 256<<10), buf: make([]byte, 256<<10)}
	if err := nw.str("nix-archive-1"); err != nil {
		return nw.n, err
	}
	if err := nw.node(p); err != nil {
		return nw.n, err
	}
	return nw.n, nw.w.Flush()
}

func (nw *narWriter) node(p string) error {
	fi, err := os.Lstat(p)
	if err != nil {
		return err
	}
	if err := nw.strs("(", "type"); err != nil {
		return err
	}
	switch {
	case fi.Mode().IsRegular():
		if err := nw.str("regular"); err != nil {
			return err
		}
		// Nix calls a file executable when its owner may run it.
		if fi.Mode()&0o100 != 0 {
			if err := nw.strs("executable", ""); err != nil {
				return err
			}
		}
		if err := nw.str("contents"); err != nil {
			return err
		}
		if err := nw.contents(p, fi.Size()); err != nil {
			return err
		}
	case fi.Mode()&os.ModeSymlink != 0:
		target, err := os.Readlink(p)
		if err != nil {
			return err
		}
		if err := nw.strs("symlink", "target", target); err != nil {
			return err
		}
	case fi.IsDir():
		if err := nw.str("directory"); err != nil {
			return err
		}
		d, err := os.Open(p)
		if err != nil {
			return err
		}
		names, err := d.Readdirnames(-1)
		d.Close()
		if err != nil {
			return err
		}
		sort.Strings(names)
		for _, name := range names {
			if err := nw.strs("entry", "(", "name", name, "node"); err != nil {
				return err
			}
			if err := nw.node(filepath.Join(p, name)); err != nil {
				return err
			}
			if err := nw.str(")"); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("%s is neither a file, a directory nor a symlink, which is all a Nix archive holds", p)
	}
	return nw.str(")")
}

// contents writes a regular file's length, bytes and padding; a file that
// is not as long as it was when its size was read is an error.
func (nw *narWriter) contents(p string, size int64) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := nw.uint64(uint64(size)); err != nil {
		return err
	}
	n, err := io.CopyBuffer(writerFunc(nw.write), io.LimitReader(f, size), nw.buf)
	if err != nil {
		return err
	}
	if n != size {
		return fmt.Errorf("%s: %w while reading it", p, io.ErrUnexpectedEOF)
	}
	return nw.pad(size)
}

type writerFunc func([]byte) error

func (f writerFunc) Write(b []byte) (int, error) {
	if err := f(b); err != nil {
		return 0, err
	}
	return len(b), nil
}

// narHashSize returns the sha256 of the NAR of the file tree at p and the
// NAR's size: what Nix registers as a store path's narHash and narSize.
func narHashSize(p string) ([]byte, int64, error) {
	h := sha256.New()
	n, err := WriteNAR(h, p)
	if err != nil {
		return nil, n, err
	}
	return h.Sum(nil), n, nil
}

// nixBase32Chars is the alphabet of Nix's base32 (no e, o, u, t).
const nixBase32Chars = "0123456789abcdfghijklmnpqrsvwxyz"

// NixBase32 encodes b the way Nix prints hashes: 5-bit groups from the
// end of b, most significant first.
func NixBase32(b []byte) string {
	n := (len(b)*8-1)/5 + 1
	out := make([]byte, 0, n)
	for i := n - 1; i >= 0; i-- {
		bit := i * 5
		j, k := bit/8, uint(bit%8)
		c := b[j] >> k
		if j+1 < len(b) {
			c |= b[j+1] << (8 - k)
		}
		out = append(out, nixBase32Chars[c&0x1f])
	}
	return string(out)
}

// decodeNixBase32 decodes a Nix base32 string of a hash of size bytes.
func decodeNixBase32(s string, size int) ([]byte, error) {
	if len(s) != (size*8-1)/5+1 {
		return nil, fmt.Errorf("%d characters, want %d", len(s), (size*8-1)/5+1)
	}
	out := make([]byte, size)
	for i := range len(s) {
		c := strings.IndexByte(nixBase32Chars, s[len(s)-1-i])
		if c < 0 {
			return nil, fmt.Errorf("%q is not a Nix base32 character", s[len(s)-1-i])
		}
		bit := i * 5
		j, k := bit/8, uint(bit%8)
		out[j] |= byte(c << k)
		if c>>(8-k) != 0 {
			if j+1 >= size {
				return nil, errors.New("too many bits")
			}
			out[j+1] |= byte(c >> (8 - k))
		}
	}
	return out, nil
}

// ParseNarHash reads a sha256 as Nix registers or prints one: bare hex
// (the registration format of `nix-store --dump-db` and .reginfo),
// sha256:<Nix base32>, sha256:<hex> or sha256-<base64> (SRI).
func ParseNarHash(s string) ([]byte, error) {
	var sum []byte
	var err error
	rest, typed := strings.CutPrefix(s, "sha256:")
	switch {
	case strings.HasPrefix(s, "sha256-"):
		sum, err = base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "sha256-"))
	case len(rest) == 2*sha256.Size:
		sum, err = hex.DecodeString(rest)
	case typed:
		sum, err = decodeNixBase32(rest, sha256.Size)
	default:
		err = errors.New("not a sha256")
	}
	if err == nil && len(sum) != sha256.Size {
		err = fmt.Errorf("%d bytes, want %d", len(sum), sha256.Size)
	}
	if err != nil {
		return nil, fmt.Errorf("NAR hash %q: %w", s, err)
	}
	return sum, nil
}
