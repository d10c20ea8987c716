package main

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/therootcompany/xz"
)

// The floor of a cold build: the least work any builder of the image must
// do, with nothing cached. Every store path of the image comes out of the
// mirror's binary cache as an xz-compressed NAR, so the work is to
// decompress each, write it as a tar stream (one per path), gzip it at
// BuildKit's layer level (compress/gzip, default level:
// util/compression) and hash both streams (the layer's diff ID and
// digest), on every core, one path at a time per core, the largest first.
// The image's nixpkgs source (the channel's) is not in the cache: its
// bytes come out of the package set's tarball instead. Nothing is written
// to disk, pushed or evaluated, so no builder can do less.

// floorJob is one store path of the floor.
type floorJob struct {
	name string // store path base name
	size int64  // its bytes, to schedule the largest first
	// tar writes the path's entries.
	tar func(tw *tar.Writer) error
}

// floorResult is what a floor run did.
type floorResult struct {
	Seconds  float64 `json:"s"`
	Paths    int     `json:"paths"`
	TarBytes int64   `json:"tar_bytes"`
	GzBytes  int64   `json:"gzip_bytes"`
	// Skipped are the image's store paths the floor has no bytes of
	// (built in the build: profiles, the channel's links; a few KB).
	Skipped []string `json:"skipped,omitempty"`
}

// floorJobs returns the jobs for the image's store paths: the cache's
// NARs, and the package set's tarball for the path that holds its tree
// (the one with exactly its bytes).
func floorJobs(im *imageInfo, cacheDir, tarball string, nixpkgsBytes int64) (jobs []floorJob, skipped []string, err error) {
	for p := range im.storePaths() {
		prefix := "nix/store/" + p
		narinfo := filepath.Join(cacheDir, strings.SplitN(p, "-", 2)[0]+".narinfo")
		fields, err := readNarinfo(narinfo)
		switch {
		case errors.Is(err, os.ErrNotExist) && im.pathFileBytes[p] == nixpkgsBytes:
			jobs = append(jobs, floorJob{name: p, size: nixpkgsBytes, tar: func(tw *tar.Writer) error {
				return tarballToTar(tarball, tw, prefix)
			}})
		case errors.Is(err, os.ErrNotExist):
			skipped = append(skipped, p)
		case err != nil:
			return nil, nil, err
		case fields["Compression"] != "xz":
			return nil, nil, fmt.Errorf("%s: compression %q, the floor reads xz", narinfo, fields["Compression"])
		default:
			nar := filepath.Join(cacheDir, fields["URL"])
			size, err := narSize(narinfo)
			if err != nil {
				return nil, nil, err
			}
			jobs = append(jobs, floorJob{name: p, size: size, tar: func(tw *tar.Writer) error {
				return xzNarToTar(nar, tw, prefix)
			}})
		}
	}
	sort.Slice(jobs, func(i, j int) bool {
		if jobs[i].size != jobs[j].size {
			return jobs[i].size > jobs[j].size
		}
		return jobs[i].name < jobs[j].name
	})
	sort.Strings(skipped)
	return jobs, skipped, nil
}

// runFloor runs the jobs on every core and times them.
func runFloor(ctx context.Context, jobs []floorJob) (floorResult, error) {
	res := floorResult{Paths: len(jobs)}
	start := time.Now()
	var (
		mu   sync.Mutex
		errs []error
		next int
		wg   sync.WaitGroup
	)
	for range runtime.NumCPU() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if next == len(jobs) || len(errs) > 0 || ctx.Err() != nil {
					mu.Unlock()
					return
				}
				j := jobs[next]
				next++
				mu.Unlock()
				tarN, gzN, err := layer(j)
				mu.Lock()
				res.TarBytes += tarN
				res.GzBytes += gzN
				if err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", j.name, err))
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.Seconds = round2(time.Since(start).Seconds())
	if err := errors.Join(append(errs, ctx.Err())...); err != nil {
		return res, err
	}
	return res, nil
}

// layer makes j's layer as BuildKit's export does: a tar stream, its
// sha256 (diff ID), gzipped, the gzip's sha256 (digest). It returns the
// two streams' sizes.
func layer(j floorJob) (tarBytes, gzBytes int64, err error) {
	digest := sha256.New()
	gzCount := &countingWriter{w: digest}
	gz, err := gzip.NewWriterLevel(gzCount, gzip.DefaultCompression)
	if err != nil {
		return 0, 0, err
	}
	diffID := sha256.New()
	tarCount := &countingWriter{w: io.MultiWriter(gz, diffID)}
	tw := tar.NewWriter(tarCount)
	if err := j.tar(tw); err != nil {
		return 0, 0, err
	}
	if err := tw.Close(); err != nil {
		return 0, 0, err
	}
	if err := gz.Close(); err != nil {
		return 0, 0, err
	}
	return tarCount.n, gzCount.n, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// readNarinfo reads a narinfo file's fields.
func readNarinfo(p string) (map[string]string, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	fields := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ": "); ok {
			fields[k] = v
		}
	}
	return fields, nil
}

// xzNarToTar decompresses the .nar.xz file and writes its tree as tar
// entries under prefix.
func xzNarToTar(file string, tw *tar.Writer, prefix string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := xz.NewReader(bufio.NewReaderSize(f, 1<<20), 0)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if err := narToTar(bufio.NewReaderSize(zr, 1<<20), tw, prefix); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return nil
}

// tarballToTar writes the entries of a package set tarball (top
// directory stripped) under prefix, with store modes.
func tarballToTar(file string, tw *tar.Writer, prefix string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		_, rest, _ := strings.Cut(strings.TrimSuffix(h.Name, "/"), "/")
		out := storeHeader(path.Join(prefix, rest), h.Typeflag, h.Mode&0o111 != 0, h.Size, h.Linkname)
		if err := tw.WriteHeader(out); err != nil {
			return err
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := io.Copy(tw, tr); err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
		}
	}
}

// storeHeader is a tar header of a store path's entry: owner 0, mtime 1,
// read-only (0555 for directories and executables, 0444 else), as Nix
// leaves store paths.
func storeHeader(name string, typ byte, exec bool, size int64, link string) *tar.Header {
	h := &tar.Header{Name: name, Typeflag: typ, Mode: 0o444, ModTime: time.Unix(1, 0), Linkname: link, Format: tar.FormatPAX}
	switch typ {
	case tar.TypeDir:
		h.Name += "/"
		h.Mode = 0o555
	case tar.TypeReg:
		h.Size = size
		if exec {
			h.Mode = 0o555
		}
	case tar.TypeSymlink:
		h.Mode = 0o777
	}
	return h
}

// narReader reads the NAR format: every string is its length (64-bit
// little-endian) and its bytes, zero-padded to a multiple of 8.
type narReader struct{ r *bufio.Reader }

// maxNarString bounds the strings read whole (tokens, names, link
// targets); file contents are streamed.
const maxNarString = 1 << 16

func (nr narReader) length() (int64, error) {
	var b [8]byte
	if _, err := io.ReadFull(nr.r, b[:]); err != nil {
		return 0, err
	}
	n := binary.LittleEndian.Uint64(b[:])
	if n > 1<<62 {
		return 0, fmt.Errorf("NAR string of %d bytes", n)
	}
	return int64(n), nil
}

func (nr narReader) pad(n int64) error {
	_, err := nr.r.Discard(int((8 - n%8) % 8))
	return err
}

func (nr narReader) str() (string, error) {
	n, err := nr.length()
	if err != nil {
		return "", err
	}
	if n > maxNarString {
		return "", fmt.Errorf("NAR token of %d bytes", n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(nr.r, b); err != nil {
		return "", err
	}
	return string(b), nr.pad(n)
}

func (nr narReader) expect(want string) error {
	got, err := nr.str()
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("NAR: %q where %q belongs", got, want)
	}
	return nil
}

// narToTar writes the NAR read from r as tar entries named name (the
// store path's root) and below.
func narToTar(r *bufio.Reader, tw *tar.Writer, name string) error {
	nr := narReader{r: r}
	if err := nr.expect("nix-archive-1"); err != nil {
		return err
	}
	return nr.node(tw, name)
}

func (nr narReader) node(tw *tar.Writer, name string) error {
	if err := nr.expect("("); err != nil {
		return err
	}
	if err := nr.expect("type"); err != nil {
		return err
	}
	typ, err := nr.str()
	if err != nil {
		return err
	}
	switch typ {
	case "regular":
		tok, err := nr.str()
		if err != nil {
			return err
		}
		exec := tok == "executable"
		if exec {
			if err := nr.expect(""); err != nil {
				return err
			}
			if tok, err = nr.str(); err != nil {
				return err
			}
		}
		if tok != "contents" {
			return fmt.Errorf("NAR: %q where \"contents\" belongs", tok)
		}
		size, err := nr.length()
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(storeHeader(name, tar.TypeReg, exec, size, "")); err != nil {
			return err
		}
		if _, err := io.CopyN(tw, nr.r, size); err != nil {
			return err
		}
		if err := nr.pad(size); err != nil {
			return err
		}
	case "symlink":
		if err := nr.expect("target"); err != nil {
			return err
		}
		target, err := nr.str()
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(storeHeader(name, tar.TypeSymlink, false, 0, target)); err != nil {
			return err
		}
	case "directory":
		if err := tw.WriteHeader(storeHeader(name, tar.TypeDir, false, 0, "")); err != nil {
			return err
		}
		for {
			tok, err := nr.str()
			if err != nil {
				return err
			}
			if tok == ")" {
				return nil
			}
			if tok != "entry" {
				return fmt.Errorf("NAR: %q where \"entry\" belongs", tok)
			}
			if err := nr.expect("("); err != nil {
				return err
			}
			if err := nr.expect("name"); err != nil {
				return err
			}
			entry, err := nr.str()
			if err != nil {
				return err
			}
			if entry == "" || entry == "." || entry == ".." || strings.Contains(entry, "/") {
				return fmt.Errorf("NAR: entry name %q", entry)
			}
			if err := nr.expect("node"); err != nil {
				return err
			}
			if err := nr.node(tw, name+"/"+entry); err != nil {
				return err
			}
			if err := nr.expect(")"); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("NAR: node type %q", typ)
	}
	return nr.expect(")")
}
