package testenv

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// maxSmallBlob is the largest blob ReadOCIArchive keeps: indexes,
// manifests and configs are far smaller, layers mostly larger.
const maxSmallBlob = 1 << 20

// OCIArchive is an OCI image layout as `--output type=oci,dest=X.tar`
// exports it and PullOCI writes it (the tar, or a directory holding the
// layout): its index and its small blobs, not the layers.
type OCIArchive struct {
	Path  string
	Index ocispecs.Index
	blobs map[digest.Digest][]byte
}

// OCIImage is one image of an archive.
type OCIImage struct {
	// Descriptor is the manifest's, as the index names it: Digest is the
	// image's manifest digest.
	Descriptor ocispecs.Descriptor
	Manifest   ocispecs.Manifest
	Config     ocispecs.Image
}

// ReadOCIArchive reads the OCI layout at path, a tar or a directory.
func ReadOCIArchive(path string) (*OCIArchive, error) {
	a := &OCIArchive{Path: path, blobs: map[digest.Digest][]byte{}}
	var index []byte
	add := func(name string, size int64, r io.Reader) error {
		if size > maxSmallBlob {
			return nil
		}
		rest, isBlob := strings.CutPrefix(filepath.ToSlash(name), "blobs/")
		if !isBlob && name != "index.json" {
			return nil
		}
		data, err := io.ReadAll(r)
		if err != nil {
			return fmt.Errorf("reading %s of %s: %w", name, path, err)
		}
		if !isBlob {
			index = data
			return nil
		}
		alg, enc, _ := strings.Cut(rest, "/")
		a.blobs[digest.NewDigestFromEncoded(digest.Algorithm(alg), enc)] = data
		return nil
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("opening OCI layout: %w", err)
	}
	if st.IsDir() {
		err = readLayoutDir(path, add)
	} else {
		err = readLayoutTar(path, add)
	}
	if err != nil {
		return nil, err
	}
	if index == nil {
		return nil, fmt.Errorf("%s: no index.json: not an OCI layout", path)
	}
	if err := json.Unmarshal(index, &a.Index); err != nil {
		return nil, fmt.Errorf("%s: index.json: %w", path, err)
	}
	return a, nil
}

func readLayoutDir(dir string, add func(string, int64, io.Reader) error) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		rel, _ := filepath.Rel(dir, p)
		return add(rel, fi.Size(), f)
	})
}

func readLayoutTar(file string, add func(string, int64, io.Reader) error) error {
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("opening OCI layout: %w", err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading %s: %w", file, err)
		}
		if h.Typeflag == tar.TypeReg {
			if err := add(strings.TrimPrefix(h.Name, "./"), h.Size, tr); err != nil {
				return err
			}
		}
	}
}

// Blob returns a blob of at most 1 MiB (an index, manifest or config).
func (a *OCIArchive) Blob(d digest.Digest) ([]byte, error) {
	data, ok := a.blobs[d]
	if !ok {
		return nil, fmt.Errorf("%s: no blob %s (or larger than %d bytes)", a.Path, d, maxSmallBlob)
	}
	return data, nil
}

// Images are the archive's images in index order, nested indexes
// followed; attestation manifests (buildx's provenance and SBOMs) are
// left out.
func (a *OCIArchive) Images() ([]OCIImage, error) {
	var out []OCIImage
	queue := a.Index.Manifests
	for len(queue) > 0 {
		d := queue[0]
		queue = queue[1:]
		data, err := a.Blob(d.Digest)
		if err != nil {
			return nil, err
		}
		if d.MediaType == ocispecs.MediaTypeImageIndex || d.MediaType == mediaDockerList {
			var sub ocispecs.Index
			if err := json.Unmarshal(data, &sub); err != nil {
				return nil, fmt.Errorf("%s: index %s: %w", a.Path, d.Digest, err)
			}
			queue = append(sub.Manifests, queue...)
			continue
		}
		if d.Annotations["vnd.docker.reference.type"] == "attestation-manifest" {
			continue
		}
		img := OCIImage{Descriptor: d}
		if err := json.Unmarshal(data, &img.Manifest); err != nil {
			return nil, fmt.Errorf("%s: manifest %s: %w", a.Path, d.Digest, err)
		}
		cfg, err := a.Blob(img.Manifest.Config.Digest)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(cfg, &img.Config); err != nil {
			return nil, fmt.Errorf("%s: config %s: %w", a.Path, img.Manifest.Config.Digest, err)
		}
		out = append(out, img)
	}
	return out, nil
}

// Image is the archive's linux/arch image, by its config's platform.
func (a *OCIArchive) Image(arch string) (*OCIImage, error) {
	imgs, err := a.Images()
	if err != nil {
		return nil, err
	}
	for i := range imgs {
		if imgs[i].Config.OS == "linux" && imgs[i].Config.Architecture == arch {
			return &imgs[i], nil
		}
	}
	return nil, fmt.Errorf("%s: no linux/%s image among %d", a.Path, arch, len(imgs))
}

// runnable is the image UnpackOCI unpacks: the first whose index entry
// names linux/GOARCH or no platform (the only image of an archive PullOCI
// wrote for another platform, which runs under emulation).
func (a *OCIArchive) runnable() (*OCIImage, error) {
	imgs, err := a.Images()
	if err != nil {
		return nil, err
	}
	for i := range imgs {
		if p := imgs[i].Descriptor.Platform; p == nil || p.OS == "linux" && p.Architecture == runtime.GOARCH {
			return &imgs[i], nil
		}
	}
	return nil, fmt.Errorf("no manifest for linux/%s in the OCI index (%d images)", runtime.GOARCH, len(imgs))
}
