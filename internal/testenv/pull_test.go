package testenv

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestPullOCI serves an index (an attestation first, then the platform's
// manifest) and checks the layout tar PullOCI writes: index.json names the
// platform's manifest, whose blobs are there byte for byte; a blob whose
// content does not match its digest fails.
func TestPullOCI(t *testing.T) {
	blobs := map[string][]byte{}
	add := func(data []byte) string {
		d := fmt.Sprintf("sha256:%x", sha256.Sum256(data))
		blobs[d] = data
		return d
	}
	config := add([]byte(`{"architecture":"` + runtime.GOARCH + `","os":"linux","config":{"Cmd":["sh"]}}`))
	layer := add([]byte("not really a tar"))
	man, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"digest": config}, "layers": []map[string]any{{"digest": layer, "mediaType": "application/vnd.oci.image.layer.v1.tar"}}})
	manifests := map[string][]byte{}
	manDigest := fmt.Sprintf("sha256:%x", sha256.Sum256(man))
	manifests[manDigest] = man
	idx, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": ocispecs.MediaTypeImageIndex, "manifests": []map[string]any{
		{"digest": "sha256:0000", "annotations": map[string]string{"vnd.docker.reference.type": "attestation-manifest"}},
		{"digest": manDigest, "platform": map[string]string{"os": "linux", "architecture": runtime.GOARCH}},
	}})
	manifests["v1"] = idx
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest, ok := strings.CutPrefix(r.URL.Path, "/v2/repo/")
		kind, ref, _ := strings.Cut(rest, "/")
		switch {
		case ok && kind == "manifests" && manifests[ref] != nil:
			mt := "application/vnd.oci.image.manifest.v1+json"
			if ref == "v1" {
				mt = ocispecs.MediaTypeImageIndex
			}
			w.Header().Set("Content-Type", mt)
			w.Write(manifests[ref])
		case ok && kind == "blobs" && blobs[ref] != nil:
			w.Write(blobs[ref])
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	dest := filepath.Join(t.TempDir(), "image.tar")
	got, err := PullOCI(context.Background(), addr, "repo", "v1", dest)
	if err != nil {
		t.Fatal(err)
	}
	if got != manDigest {
		t.Errorf("digest %s, want the platform manifest's %s", got, manDigest)
	}
	a, err := ReadOCIArchive(dest)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Index.Manifests) != 1 || a.Index.Manifests[0].Digest.String() != manDigest {
		t.Errorf("index.json: %+v", a.Index)
	}
	if img, err := a.Image(runtime.GOARCH); err != nil || img.Descriptor.Digest.String() != manDigest || img.Manifest.Layers[0].Digest.String() != layer {
		t.Errorf("the layout does not read back: %+v, %v", img, err)
	}
	blobs[layer] = []byte("tampered")
	if _, err := PullOCI(context.Background(), addr, "repo", "v1", dest); err == nil || !strings.Contains(err.Error(), "has digest") {
		t.Errorf("a blob not matching its digest: %v", err)
	}
}
