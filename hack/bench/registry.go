package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"

	"github.com/nix-image/nix-image/internal/testenv"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// registry is a plain-HTTP client of the Distribution API (v2) of the
// benchmark's registry: enough to read what a build pushed.
type registry struct {
	addr string // host:port
}

// manifest is an image manifest or, when Manifests is set, an index (OCI
// or Docker v2): one type, so that an image is read by following
// Manifests until there are none.
type manifest struct {
	ocispecs.Manifest
	Manifests []ocispecs.Descriptor `json:"manifests"` // set for an index
}

func (r registry) get(ctx context.Context, path, accept string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+r.addr+"/v2/"+path, nil)
	if err != nil {
		return nil, err
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET /v2/%s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("GET /v2/%s: %s", path, resp.Status)
	}
	return resp, nil
}

func (r registry) getJSON(ctx context.Context, path, accept string, v any) ([]byte, error) {
	resp, err := r.get(ctx, path, accept)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading /v2/%s: %w", path, err)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return nil, fmt.Errorf("decoding /v2/%s: %w", path, err)
	}
	return body, nil
}

// image returns the digest of what repo:ref names (the index's digest when
// it is an index, which is what a pull by tag resolves) and the image
// manifest for linux/GOARCH.
func (r registry) image(ctx context.Context, repo, ref string) (string, *manifest, error) {
	var m manifest
	body, err := r.getJSON(ctx, repo+"/manifests/"+ref, testenv.AcceptManifests, &m)
	if err != nil {
		return "", nil, err
	}
	top := fmt.Sprintf("sha256:%x", sha256.Sum256(body))
	for m.Manifests != nil {
		var next *ocispecs.Descriptor
		for i, d := range m.Manifests {
			if d.Annotations["vnd.docker.reference.type"] == "attestation-manifest" {
				continue
			}
			if d.Platform == nil || (d.Platform.OS == "linux" && d.Platform.Architecture == runtime.GOARCH) {
				next = &m.Manifests[i]
				break
			}
		}
		if next == nil {
			return "", nil, fmt.Errorf("%s:%s: no manifest for linux/%s", repo, ref, runtime.GOARCH)
		}
		m = manifest{}
		if _, err := r.getJSON(ctx, repo+"/manifests/"+next.Digest.String(), testenv.AcceptManifests, &m); err != nil {
			return "", nil, err
		}
	}
	return top, &m, nil
}

// platform returns the digest of the single-platform image repo:ref and
// the platform its config names (os/architecture).
func (r registry) platform(ctx context.Context, repo, ref string) (string, string, error) {
	var m manifest
	body, err := r.getJSON(ctx, repo+"/manifests/"+ref, testenv.AcceptManifests, &m)
	if err != nil {
		return "", "", err
	}
	if m.Manifests != nil {
		return "", "", fmt.Errorf("%s:%s is an index of %d manifests, not one image", repo, ref, len(m.Manifests))
	}
	var config ocispecs.Image
	if _, err := r.getJSON(ctx, repo+"/blobs/"+m.Config.Digest.String(), "", &config); err != nil {
		return "", "", fmt.Errorf("%s:%s: the image config: %w", repo, ref, err)
	}
	return fmt.Sprintf("sha256:%x", sha256.Sum256(body)), config.OS + "/" + config.Architecture, nil
}

// blob opens a blob of repo.
func (r registry) blob(ctx context.Context, repo, digest string) (io.ReadCloser, error) {
	resp, err := r.get(ctx, repo+"/blobs/"+digest, "")
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// layerDigests returns the digests of the layers of every manifest
// the registry holds (every tag of every repository, every platform of an
// index): the blobs a push finds already there.
func (r registry) layerDigests(ctx context.Context) (map[string]bool, error) {
	var cat struct {
		Repositories []string `json:"repositories"`
	}
	if _, err := r.getJSON(ctx, "_catalog?n=1000", "", &cat); err != nil {
		return nil, err
	}
	have := map[string]bool{}
	for _, repo := range cat.Repositories {
		var tags struct {
			Tags []string `json:"tags"`
		}
		if _, err := r.getJSON(ctx, repo+"/tags/list", "", &tags); err != nil {
			return nil, err
		}
		for _, tag := range tags.Tags {
			if err := r.collectLayers(ctx, repo, tag, have); err != nil {
				return nil, err
			}
		}
	}
	return have, nil
}

func (r registry) collectLayers(ctx context.Context, repo, ref string, have map[string]bool) error {
	var m manifest
	if _, err := r.getJSON(ctx, repo+"/manifests/"+ref, testenv.AcceptManifests, &m); err != nil {
		return err
	}
	for _, l := range m.Layers {
		have[l.Digest.String()] = true
	}
	for _, d := range m.Manifests {
		if err := r.collectLayers(ctx, repo, d.Digest.String(), have); err != nil {
			return err
		}
	}
	return nil
}
