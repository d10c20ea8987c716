package testenv

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	securejoin "github.com/cyphar/filepath-securejoin"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// mediaDockerList is Docker's manifest list: an index, under a media type
// image-spec does not define.
const mediaDockerList = "application/vnd.docker.distribution.manifest.list.v2+json"

// UnpackOCI unpacks the image in an OCI layout (a directory, or a tar of
// one as `--output type=oci,dest=X.tar` writes) into rootfs, applying the
// layers in order with their whiteouts, and returns the image config. Of
// several images it picks the one whose index entry names linux/GOARCH
// (or no platform).
func UnpackOCI(layout, rootfs string) (*ocispecs.ImageConfig, error) {
	st, err := os.Stat(layout)
	if err != nil {
		return nil, fmt.Errorf("opening OCI layout: %w", err)
	}
	if !st.IsDir() {
		dir, err := os.MkdirTemp(filepath.Dir(rootfs), "oci-layout-")
		if err != nil {
			return nil, fmt.Errorf("creating dir for the OCI layout: %w", err)
		}
		defer os.RemoveAll(dir)
		if err := untarFile(layout, dir); err != nil {
			return nil, fmt.Errorf("extracting OCI layout %s: %w", layout, err)
		}
		layout = dir
	}
	a, err := ReadOCIArchive(layout)
	if err != nil {
		return nil, err
	}
	img, err := a.runnable()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(rootfs, 0o755); err != nil {
		return nil, fmt.Errorf("creating rootfs: %w", err)
	}
	for i, l := range img.Manifest.Layers {
		if err := applyLayerFile(filepath.Join(layout, "blobs", l.Digest.Algorithm().String(), l.Digest.Encoded()), l.MediaType, rootfs); err != nil {
			return nil, fmt.Errorf("applying layer %d (%s): %w", i, l.Digest, err)
		}
	}
	return &img.Config.Config, nil
}

func untarFile(file, dir string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	return ApplyLayer(f, dir)
}

func applyLayerFile(p, mediaType, rootfs string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	var r io.Reader = f
	switch {
	case strings.HasSuffix(mediaType, "+gzip") || strings.HasSuffix(mediaType, ".gzip"):
		gz, err := gzip.NewReader(f)
		if err != nil {
			return fmt.Errorf("gunzip: %w", err)
		}
		defer gz.Close()
		r = gz
	case strings.HasSuffix(mediaType, "+zstd"):
		return fmt.Errorf("zstd layers are not supported here (media type %s); export with compression=gzip", mediaType)
	}
	return ApplyLayer(r, rootfs)
}

const (
	whiteoutPrefix = ".wh."
	whiteoutOpaque = ".wh..wh..opq"
)

// ApplyLayer extracts a layer tar stream into rootfs the way a container
// runtime does: `.wh.NAME` deletes NAME from the layers below, `.wh..wh..opq`
// empties its directory of what the layers below put there, and an entry
// replaces whatever is at its path unless both are directories. Paths are
// resolved inside rootfs as if it were `/` (symlinks in it cannot lead out).
func ApplyLayer(r io.Reader, rootfs string) error {
	tr := tar.NewReader(r)
	// Directories created or marked opaque by this layer: an opaque
	// whiteout must not remove what this same layer adds.
	thisLayer := map[string]bool{}
	type dirTime struct {
		path string
		hdr  *tar.Header
	}
	var dirs []dirTime
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("reading tar: %w", err)
		}
		name := path.Clean("/" + hdr.Name)
		if name == "/" {
			continue
		}
		parent, base := path.Split(name)
		dir, err := securejoin.SecureJoin(rootfs, parent)
		if err != nil {
			return fmt.Errorf("resolving %s: %w", name, err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("creating parent of %s: %w", name, err)
		}
		if base == whiteoutOpaque {
			if err := clearDir(dir, name, thisLayer); err != nil {
				return err
			}
			continue
		}
		if strings.HasPrefix(base, whiteoutPrefix) {
			victim := filepath.Join(dir, strings.TrimPrefix(base, whiteoutPrefix))
			if err := os.RemoveAll(victim); err != nil {
				return fmt.Errorf("whiteout %s: %w", name, err)
			}
			continue
		}
		target := filepath.Join(dir, base)
		thisLayer[path.Clean(name)] = true
		if err := replace(target, hdr.Typeflag == tar.TypeDir); err != nil {
			return fmt.Errorf("replacing %s: %w", name, err)
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.Mkdir(target, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
				return fmt.Errorf("mkdir %s: %w", name, err)
			}
			dirs = append(dirs, dirTime{target, hdr})
		case tar.TypeReg:
			f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
			if err != nil {
				return fmt.Errorf("creating %s: %w", name, err)
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("writing %s: %w", name, err)
			}
		case tar.TypeSymlink:
			if err := os.Symlink(hdr.Linkname, target); err != nil {
				return fmt.Errorf("symlink %s: %w", name, err)
			}
		case tar.TypeLink:
			lparent, lbase := path.Split(path.Clean("/" + hdr.Linkname))
			ldir, err := securejoin.SecureJoin(rootfs, lparent)
			if err != nil {
				return fmt.Errorf("resolving link target of %s: %w", name, err)
			}
			if err := os.Link(filepath.Join(ldir, lbase), target); err != nil {
				return fmt.Errorf("hard link %s: %w", name, err)
			}
		case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
			mode := uint32(hdr.Mode & 0o7777)
			switch hdr.Typeflag {
			case tar.TypeChar:
				mode |= syscall.S_IFCHR
			case tar.TypeBlock:
				mode |= syscall.S_IFBLK
			default:
				mode |= syscall.S_IFIFO
			}
			if err := mknod(target, mode, hdr.Devmajor, hdr.Devminor); err != nil {
				return fmt.Errorf("mknod %s: %w", name, err)
			}
		default:
			// Other types (pax globals etc.) carry no file.
			continue
		}
		if err := os.Lchown(target, hdr.Uid, hdr.Gid); err != nil {
			return fmt.Errorf("chown %s: %w", name, err)
		}
		if hdr.Typeflag != tar.TypeSymlink && hdr.Typeflag != tar.TypeLink {
			if err := os.Chmod(target, tarMode(hdr)); err != nil {
				return fmt.Errorf("chmod %s: %w", name, err)
			}
		}
	}
	// Directory times last: writing into a directory changes its mtime.
	for _, d := range dirs {
		_ = os.Chtimes(d.path, d.hdr.ModTime, d.hdr.ModTime)
	}
	return nil
}

// replace removes what is at target unless both it and the new entry are
// directories (a directory entry then only updates owner and mode).
func replace(target string, newIsDir bool) error {
	fi, err := os.Lstat(target)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.IsDir() && newIsDir {
		return nil
	}
	return os.RemoveAll(target)
}

// clearDir removes the entries of dir that lower layers put there (opaque
// whiteout), keeping those this layer already wrote.
func clearDir(dir, name string, thisLayer map[string]bool) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("opaque whiteout %s: %w", name, err)
	}
	parent := path.Dir(name)
	for _, ent := range entries {
		if thisLayer[path.Join(parent, ent.Name())] {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, ent.Name())); err != nil {
			return fmt.Errorf("opaque whiteout %s: %w", name, err)
		}
	}
	return nil
}

// mknod creates a device node or fifo; dev is encoded as Linux's makedev.
func mknod(p string, mode uint32, major, minor int64) error {
	dev := (minor & 0xff) | (major&0xfff)<<8 | (minor&^0xff)<<12 | (major&^0xfff)<<32
	return syscall.Mknod(p, mode, int(dev))
}

// tarMode converts a tar header mode (with setuid etc. in Unix bits) to an
// os.FileMode for Chmod.
func tarMode(hdr *tar.Header) os.FileMode {
	m := os.FileMode(hdr.Mode & 0o777)
	if hdr.Mode&0o4000 != 0 {
		m |= os.ModeSetuid
	}
	if hdr.Mode&0o2000 != 0 {
		m |= os.ModeSetgid
	}
	if hdr.Mode&0o1000 != 0 {
		m |= os.ModeSticky
	}
	return m
}
