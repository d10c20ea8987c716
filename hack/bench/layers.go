package main

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// entry is one tar entry of a layer, with what makes two layers differ.
type entry struct {
	name    string
	typ     byte
	mode    int64
	uid     int
	gid     int
	size    int64
	mtime   int64
	link    string
	content string // sha256 of a regular file's content
}

// layerInfo is one layer of a pushed image.
type layerInfo struct {
	digest     string
	compressed int64 // blob size, from the manifest
	tarBytes   int64 // size of the decompressed tar stream
	fileBytes  int64 // sum of the sizes of its regular files
	storePaths map[string]bool
	entries    []entry
}

// imageInfo is a pushed image, read back from the registry.
type imageInfo struct {
	digest string
	layers []layerInfo
	// pathFileBytes is the regular-file bytes of each store path (base
	// name), over all layers.
	pathFileBytes map[string]int64
}

func (im *imageInfo) tarBytes() (n int64) {
	for _, l := range im.layers {
		n += l.tarBytes
	}
	return n
}

func (im *imageInfo) fileBytes() (n int64) {
	for _, l := range im.layers {
		n += l.fileBytes
	}
	return n
}

func (im *imageInfo) compressed() (n int64) {
	for _, l := range im.layers {
		n += l.compressed
	}
	return n
}

// storePaths returns the store paths (base names) with files in the image.
func (im *imageInfo) storePaths() map[string]bool {
	all := map[string]bool{}
	for _, l := range im.layers {
		for p := range l.storePaths {
			all[p] = true
		}
	}
	return all
}

// readImage reads repo:ref back from the registry. Only the layers for
// which want returns true are downloaded and read (nil: all); the others
// have only their digest and compressed size.
func readImage(ctx context.Context, reg registry, repo, ref string, want func(digest string) bool) (*imageInfo, error) {
	digest, m, err := reg.image(ctx, repo, ref)
	if err != nil {
		return nil, err
	}
	im := &imageInfo{digest: digest, pathFileBytes: map[string]int64{}}
	for _, d := range m.Layers {
		l := layerInfo{digest: d.Digest.String(), compressed: d.Size, storePaths: map[string]bool{}}
		if want == nil || want(d.Digest.String()) {
			if err := readLayer(ctx, reg, repo, d, &l, im.pathFileBytes); err != nil {
				return nil, fmt.Errorf("%s:%s layer %s: %w", repo, ref, d.Digest, err)
			}
		}
		im.layers = append(im.layers, l)
	}
	return im, nil
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func readLayer(ctx context.Context, reg registry, repo string, d ocispecs.Descriptor, l *layerInfo, pathBytes map[string]int64) error {
	body, err := reg.blob(ctx, repo, d.Digest.String())
	if err != nil {
		return err
	}
	defer body.Close()
	var r io.Reader = bufio.NewReaderSize(body, 1<<20)
	switch {
	case strings.HasSuffix(d.MediaType, "gzip"):
		gz, err := gzip.NewReader(r)
		if err != nil {
			return fmt.Errorf("gunzip: %w", err)
		}
		defer gz.Close()
		r = gz
	case strings.HasSuffix(d.MediaType, ".tar"), strings.HasSuffix(d.MediaType, "tar"):
	default:
		return fmt.Errorf("unsupported layer media type %s", d.MediaType)
	}
	cr := &countingReader{r: r}
	tr := tar.NewReader(cr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("reading tar: %w", err)
		}
		name := strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		e := entry{name: name, typ: h.Typeflag, mode: h.Mode, uid: h.Uid, gid: h.Gid, size: h.Size, mtime: h.ModTime.Unix(), link: h.Linkname}
		sp := storePathOf(name)
		if sp != "" {
			l.storePaths[sp] = true
		}
		if h.Typeflag == tar.TypeReg {
			hash := sha256.New()
			if _, err := io.Copy(hash, tr); err != nil {
				return fmt.Errorf("reading %s: %w", name, err)
			}
			e.content = fmt.Sprintf("%x", hash.Sum(nil))
			l.fileBytes += h.Size
			if sp != "" {
				pathBytes[sp] += h.Size
			}
		}
		l.entries = append(l.entries, e)
	}
	// The end-of-archive blocks and padding are part of the layer too.
	if _, err := io.Copy(io.Discard, cr); err != nil {
		return fmt.Errorf("reading tar trailer: %w", err)
	}
	l.tarBytes = cr.n
	return nil
}

// storePathOf returns the store path (base name) a layer entry belongs to,
// "" for entries outside /nix/store/<path>.
func storePathOf(name string) string {
	rest, ok := strings.CutPrefix(name, "nix/store/")
	if !ok || rest == "" || strings.HasPrefix(rest, ".") {
		return ""
	}
	first, _, _ := strings.Cut(rest, "/")
	return first
}

// closureBytes sums the NarSize of the image's store paths, read from the
// binary cache's narinfo files; paths the cache lacks (built in the build:
// user environments, profiles) count with their regular-file bytes, which
// it returns as local.
func closureBytes(im *imageInfo, cacheDir string) (total int64, local []string, err error) {
	for p := range im.storePaths() {
		n, err := narSize(filepath.Join(cacheDir, strings.SplitN(p, "-", 2)[0]+".narinfo"))
		if errors.Is(err, os.ErrNotExist) {
			total += im.pathFileBytes[p]
			local = append(local, p)
			continue
		}
		if err != nil {
			return 0, nil, err
		}
		total += n
	}
	sort.Strings(local)
	return total, local, nil
}

func narSize(narinfo string) (int64, error) {
	fields, err := readNarinfo(narinfo)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(fields["NarSize"], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: NarSize: %w", narinfo, err)
	}
	return n, nil
}

// diffImages names what differs between two builds of the same image: the
// layers whose digests differ and, in each, the entries that differ (at
// most max lines).
func diffImages(a, b *imageInfo, max int) []string {
	var out []string
	add := func(format string, args ...any) {
		if len(out) < max {
			out = append(out, fmt.Sprintf(format, args...))
		}
	}
	if len(a.layers) != len(b.layers) {
		add("layer count %d vs %d", len(a.layers), len(b.layers))
	}
	for i := 0; i < min(len(a.layers), len(b.layers)); i++ {
		la, lb := a.layers[i], b.layers[i]
		if la.digest == lb.digest {
			continue
		}
		add("layer %d: %s vs %s", i, la.digest, lb.digest)
		ea, eb := map[string]entry{}, map[string]entry{}
		for _, e := range la.entries {
			ea[e.name] = e
		}
		for _, e := range lb.entries {
			eb[e.name] = e
		}
		differ, reordered := false, false
		for j, e := range la.entries {
			if o, ok := eb[e.name]; !ok {
				add("  %s: only in the first build", e.name)
				differ = true
			} else if o != e {
				add("  %s: %s", e.name, entryDiff(e, o))
				differ = true
			}
			if j >= len(lb.entries) || lb.entries[j].name != e.name {
				reordered = true
			}
		}
		for _, e := range lb.entries {
			if _, ok := ea[e.name]; !ok {
				add("  %s: only in the second build", e.name)
				differ = true
			}
		}
		switch {
		case differ:
		case reordered:
			add("  same entries in another order")
		default:
			add("  same entries: the tar headers (e.g. PAX records) or the compression differ")
		}
	}
	return out
}

func entryDiff(a, b entry) string {
	var d []string
	if a.typ != b.typ {
		d = append(d, fmt.Sprintf("type %c vs %c", a.typ, b.typ))
	}
	if a.mode != b.mode {
		d = append(d, fmt.Sprintf("mode %o vs %o", a.mode, b.mode))
	}
	if a.uid != b.uid || a.gid != b.gid {
		d = append(d, fmt.Sprintf("owner %d:%d vs %d:%d", a.uid, a.gid, b.uid, b.gid))
	}
	if a.mtime != b.mtime {
		d = append(d, fmt.Sprintf("mtime %d vs %d", a.mtime, b.mtime))
	}
	if a.size != b.size || a.content != b.content {
		d = append(d, fmt.Sprintf("content (%d vs %d bytes)", a.size, b.size))
	}
	if a.link != b.link {
		d = append(d, fmt.Sprintf("link %q vs %q", a.link, b.link))
	}
	return strings.Join(d, ", ")
}
