package e2e

import (
	"archive/tar"
	"encoding/json"
	"io"
	"os"
	"strings"
	"testing"
)

func writeFile(p, data string) error { return os.WriteFile(p, []byte(data), 0o644) }

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// ociImage is what tests read of an exported OCI layout tar: the manifest
// digest and the layers (digest -> compressed size), in order.
type ociImage struct {
	Manifest string
	Layers   []ociLayer
}

type ociLayer struct {
	Digest string `json:"digest"`
	Size   int64  `json:"size"`
}

// readOCI reads an `--output type=oci,dest=X.tar` export of a single
// platform image.
func readOCI(t *testing.T, path string) ociImage {
	t.Helper()
	blobs, index := readOCIBlobs(t, path)
	var idx struct {
		Manifests []struct {
			Digest string `json:"digest"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal(index, &idx); err != nil || len(idx.Manifests) != 1 {
		t.Fatalf("%s: index.json: %v (%d manifests)", path, err, len(idx.Manifests))
	}
	var man struct {
		Layers []ociLayer `json:"layers"`
	}
	if err := json.Unmarshal(blobs[idx.Manifests[0].Digest], &man); err != nil {
		t.Fatalf("%s: manifest: %v", path, err)
	}
	return ociImage{Manifest: idx.Manifests[0].Digest, Layers: man.Layers}
}

// readOCIBlobs returns the small blobs (index, manifests, configs) of an
// OCI archive by digest, and its index.json.
func readOCIBlobs(t *testing.T, path string) (map[string][]byte, []byte) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	blobs := map[string][]byte{}
	var index []byte
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("reading %s: %v", path, err)
		}
		if h.Size > 1<<20 {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("reading %s: %v", path, err)
		}
		if h.Name == "index.json" {
			index = data
		} else if d, ok := strings.CutPrefix(h.Name, "blobs/sha256/"); ok {
			blobs["sha256:"+d] = data
		}
	}
	if index == nil {
		t.Fatalf("%s: no index.json", path)
	}
	return blobs, index
}
