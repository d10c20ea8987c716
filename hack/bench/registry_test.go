package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
)

// TestRegistryImage reads an index with an attestation and two platforms
// the way a pushed multi-platform image is served: image resolves the tag
// to the index's digest and this machine's manifest, layerDigests finds
// the layers of every platform.
func TestRegistryImage(t *testing.T) {
	other := "arm64"
	if runtime.GOARCH == "arm64" {
		other = "amd64"
	}
	manifests := map[string]string{
		"mine":  `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"digest":"sha256:c1","size":1},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:l1","size":10},{"digest":"sha256:l2","size":20}]}`,
		"other": `{"schemaVersion":2,"config":{"digest":"sha256:c2","size":1},"layers":[{"digest":"sha256:l3","size":30}]}`,
		"att":   `{"schemaVersion":2,"config":{"digest":"sha256:c3","size":1},"layers":[{"digest":"sha256:l4","size":40}]}`,
	}
	digestOf := func(body string) string { return fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(body))) }
	index := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[`+
		`{"digest":%q,"size":1,"platform":{"os":"unknown","architecture":"unknown"},"annotations":{"vnd.docker.reference.type":"attestation-manifest"}},`+
		`{"digest":%q,"size":1,"platform":{"os":"linux","architecture":%q}},`+
		`{"digest":%q,"size":1,"platform":{"os":"linux","architecture":%q}}]}`,
		digestOf(manifests["att"]), digestOf(manifests["other"]), other, digestOf(manifests["mine"]), runtime.GOARCH)
	byPath := map[string]string{
		"/v2/_catalog":                `{"repositories":["bench/ours"]}`,
		"/v2/bench/ours/tags/list":    `{"tags":["v1"]}`,
		"/v2/bench/ours/manifests/v1": index,
	}
	for _, body := range manifests {
		byPath["/v2/bench/ours/manifests/"+digestOf(body)] = body
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := byPath[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(body))
	}))
	defer srv.Close()
	reg := registry{addr: strings.TrimPrefix(srv.URL, "http://")}

	top, m, err := reg.image(context.Background(), "bench/ours", "v1")
	if err != nil {
		t.Fatal(err)
	}
	if top != digestOf(index) {
		t.Errorf("digest %s, want the index's %s", top, digestOf(index))
	}
	var layers []string
	for _, l := range m.Layers {
		layers = append(layers, fmt.Sprintf("%s %d", l.Digest, l.Size))
	}
	if got, want := strings.Join(layers, ", "), "sha256:l1 10, sha256:l2 20"; got != want {
		t.Errorf("layers %s, want %s", got, want)
	}
	if m.Config.Digest != "sha256:c1" {
		t.Errorf("config %s, want sha256:c1", m.Config.Digest)
	}

	have, err := reg.layerDigests(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"sha256:l1", "sha256:l2", "sha256:l3", "sha256:l4"} {
		if !have[d] {
			t.Errorf("layerDigests lacks %s: %v", d, have)
		}
	}
	if len(have) != 4 {
		t.Errorf("layerDigests %v, want the 4 layers", have)
	}
}
