package testenv

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// AcceptManifests are the manifest media types PullOCI reads (an Accept
// header's value): OCI and Docker v2 images and indexes.
var AcceptManifests = strings.Join([]string{
	ocispecs.MediaTypeImageIndex, mediaDockerList,
	ocispecs.MediaTypeImageManifest,
	"application/vnd.docker.distribution.manifest.v2+json",
}, ", ")

// PullOCI reads repo:ref from the registry at addr (plain HTTP, as the
// test registry serves) and writes its linux/GOARCH image to dest as an
// OCI layout tar, as `--output type=oci,dest=` writes one: index.json names
// the image manifest (attestations left out), and the manifest, config and
// layers are the registry's blobs, byte for byte. It returns the image
// manifest's digest. Run, UnpackOCI and the tests' OCI readers take the tar.
func PullOCI(ctx context.Context, addr, repo, ref, dest string) (string, error) {
	return PullOCIArch(ctx, addr, repo, ref, runtime.GOARCH, dest)
}

// PullOCIArch is PullOCI of the linux/arch image of a multi-platform
// index (an arm64 image pulled on an amd64 machine).
func PullOCIArch(ctx context.Context, addr, repo, ref, arch, dest string) (string, error) {
	get := func(path, accept string) ([]byte, string, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/v2/"+repo+"/"+path, nil)
		if err != nil {
			return nil, "", err
		}
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, "", fmt.Errorf("GET %s: %w", req.URL, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, "", fmt.Errorf("GET %s: %s", req.URL, resp.Status)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return nil, "", fmt.Errorf("GET %s: %w", req.URL, err)
		}
		return body, resp.Header.Get("Content-Type"), nil
	}
	body, mediaType, err := get("manifests/"+ref, AcceptManifests)
	if err != nil {
		return "", err
	}
	for mediaType == ocispecs.MediaTypeImageIndex || mediaType == mediaDockerList {
		var idx ocispecs.Index
		if err := json.Unmarshal(body, &idx); err != nil {
			return "", fmt.Errorf("%s:%s: index: %w", repo, ref, err)
		}
		var next digest.Digest
		for _, d := range idx.Manifests {
			if d.Annotations["vnd.docker.reference.type"] == "attestation-manifest" {
				continue
			}
			if d.Platform == nil || d.Platform.OS == "linux" && d.Platform.Architecture == arch {
				next = d.Digest
				break
			}
		}
		if next == "" {
			return "", fmt.Errorf("%s:%s: no linux/%s image", repo, ref, arch)
		}
		if body, mediaType, err = get("manifests/"+next.String(), AcceptManifests); err != nil {
			return "", err
		}
	}
	var m ocispecs.Manifest
	if err := json.Unmarshal(body, &m); err != nil {
		return "", fmt.Errorf("%s:%s: manifest: %w", repo, ref, err)
	}
	digest := fmt.Sprintf("sha256:%x", sha256.Sum256(body))
	f, err := os.Create(dest)
	if err != nil {
		return "", err
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	add := func(name string, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	index, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     ocispecs.MediaTypeImageIndex,
		"manifests":     []map[string]any{{"mediaType": mediaType, "digest": digest, "size": len(body)}},
	})
	if err != nil {
		return "", err
	}
	if err := add("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return "", err
	}
	if err := add("index.json", index); err != nil {
		return "", err
	}
	if err := add("blobs/sha256/"+strings.TrimPrefix(digest, "sha256:"), body); err != nil {
		return "", err
	}
	for _, d := range append([]ocispecs.Descriptor{m.Config}, m.Layers...) {
		blob, _, err := get("blobs/"+d.Digest.String(), "")
		if err != nil {
			return "", err
		}
		if got := fmt.Sprintf("sha256:%x", sha256.Sum256(blob)); got != d.Digest.String() {
			return "", fmt.Errorf("%s:%s: blob %s has digest %s", repo, ref, d.Digest, got)
		}
		if err := add("blobs/sha256/"+d.Digest.Encoded(), blob); err != nil {
			return "", err
		}
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	return digest, f.Close()
}
