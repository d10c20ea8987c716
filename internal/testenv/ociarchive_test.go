package testenv

import (
	"archive/tar"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// layout is an OCI layout being written: blobs by digest, and index.json.
type layout map[string][]byte

func (l layout) blob(t *testing.T, v any) ocispecs.Descriptor {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	d := digest.FromBytes(data)
	l["blobs/sha256/"+d.Encoded()] = data
	return ocispecs.Descriptor{Digest: d, Size: int64(len(data))}
}

// image adds a manifest and config of linux/arch with one layer.
func (l layout) image(t *testing.T, arch string) ocispecs.Descriptor {
	t.Helper()
	cfg := l.blob(t, ocispecs.Image{Platform: ocispecs.Platform{OS: "linux", Architecture: arch}, Config: ocispecs.ImageConfig{Cmd: []string{arch}}})
	cfg.MediaType = ocispecs.MediaTypeImageConfig
	layer := ocispecs.Descriptor{MediaType: ocispecs.MediaTypeImageLayerGzip, Digest: digest.FromString(arch), Size: 2 << 20}
	d := l.blob(t, ocispecs.Manifest{MediaType: ocispecs.MediaTypeImageManifest, Config: cfg, Layers: []ocispecs.Descriptor{layer}})
	d.MediaType = ocispecs.MediaTypeImageManifest
	return d
}

// write writes l as a directory and as a tar of it.
func (l layout) write(t *testing.T, index ocispecs.Index) (dir, tarFile string) {
	t.Helper()
	data, err := json.Marshal(index)
	if err != nil {
		t.Fatal(err)
	}
	l["index.json"] = data
	dir = t.TempDir()
	tarFile = filepath.Join(t.TempDir(), "image.tar")
	f, err := os.Create(tarFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	for name, data := range l {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, tarFile
}

// TestOCIArchive reads a buildx-like export (an index of a nested index
// of two platforms and an attestation manifest) and a single image of
// another platform, as directory and as tar.
func TestOCIArchive(t *testing.T) {
	other := "arm64"
	if runtime.GOARCH == "arm64" {
		other = "amd64"
	}
	multi := layout{}
	native, foreign := multi.image(t, runtime.GOARCH), multi.image(t, other)
	native.Platform = &ocispecs.Platform{OS: "linux", Architecture: runtime.GOARCH}
	foreign.Platform = &ocispecs.Platform{OS: "linux", Architecture: other}
	attestation := multi.image(t, "unknown")
	attestation.Annotations = map[string]string{"vnd.docker.reference.type": "attestation-manifest"}
	nested := multi.blob(t, ocispecs.Index{Manifests: []ocispecs.Descriptor{foreign, native, attestation}})
	nested.MediaType = ocispecs.MediaTypeImageIndex
	single := layout{}
	alone := single.image(t, other)

	tests := []struct {
		name  string
		l     layout
		index ocispecs.Index
		// images are the architectures of Images, in order; runnable
		// the one UnpackOCI takes.
		images   []string
		runnable string
	}{
		{"multi-platform", multi, ocispecs.Index{Manifests: []ocispecs.Descriptor{nested}}, []string{other, runtime.GOARCH}, runtime.GOARCH},
		{"another platform alone", single, ocispecs.Index{Manifests: []ocispecs.Descriptor{alone}}, []string{other}, other},
	}
	for _, tc := range tests {
		dir, tarFile := tc.l.write(t, tc.index)
		for form, path := range map[string]string{"dir": dir, "tar": tarFile} {
			t.Run(tc.name+"/"+form, func(t *testing.T) {
				a, err := ReadOCIArchive(path)
				if err != nil {
					t.Fatal(err)
				}
				imgs, err := a.Images()
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, img := range imgs {
					got = append(got, img.Config.Architecture)
					if img.Config.Config.Cmd[0] != img.Config.Architecture || len(img.Manifest.Layers) != 1 {
						t.Errorf("image %s: %+v", img.Descriptor.Digest, img)
					}
				}
				if !slices.Equal(got, tc.images) {
					t.Errorf("images %v, want %v", got, tc.images)
				}
				for _, arch := range tc.images {
					if img, err := a.Image(arch); err != nil || img.Config.Architecture != arch {
						t.Errorf("Image(%s) = %+v, %v", arch, img, err)
					}
				}
				if _, err := a.Image("s390x"); err == nil {
					t.Error("Image(s390x) found one")
				}
				if img, err := a.runnable(); err != nil || img.Config.Architecture != tc.runnable {
					t.Errorf("runnable = %+v, %v; want the %s image", img, err, tc.runnable)
				}
				if _, err := a.Blob(digest.FromString(tc.images[0])); err == nil {
					t.Error("a layer larger than 1 MiB (or absent) was kept as a blob")
				}
			})
		}
	}
}
