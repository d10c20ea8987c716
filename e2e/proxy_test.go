package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nix-image/nix-image/internal/testenv"
)

// TestProxyBuildArgs: behind a proxy, the binary cache is reachable only
// through it. The substituter's host name is known to the loopback proxy
// alone, so without the HTTP_PROXY build arg the build fails naming the
// substituter, and with it every store path comes through the proxy (the
// realise step has a /nix cache of its own, empty at first) and the image
// works. Another value of the proxy arg keeps the build cached: the proxy
// is in no cache key.
func TestProxyBuildArgs(t *testing.T) {
	e := testenv.Need(t, env)
	m := needMirror(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	const host = "cache.nix-image.test"
	mirrorURL, err := url.Parse(m.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy, err := testenv.StartProxy(map[string]string{host: mirrorURL.Host})
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	substituter := "http://" + host + "/cache"
	dir := e.SpecContext(t, minimalSpec+"packages: [hello]\n", nil)
	args := append(m.BuildctlOpts("SUBSTITUTERS"),
		"--opt", "build-arg:SUBSTITUTERS="+substituter,
		"--opt", fmt.Sprintf("build-arg:BUILDKIT_CACHE_MOUNT_NS=proxy-test-%d", time.Now().UnixNano()))

	res, err := e.BuildSpec(ctx, dir, args...)
	if err == nil {
		t.Fatalf("the build reached %s without a proxy", substituter)
	}
	for _, want := range []string{"substituter " + substituter + " (build-arg:SUBSTITUTERS) is unreachable"} {
		if !strings.Contains(res.Stderr+res.Progress.Output(""), want) {
			t.Errorf("the build without a proxy failed, but its error lacks %q:\n%s", want, res.Stderr)
		}
	}
	if reqs := proxy.Requests(); len(reqs) > 0 {
		t.Errorf("without HTTP_PROXY, the proxy got %q", reqs)
	}
	for _, line := range strings.Split(res.Stderr+"\n"+res.Progress.Output(""), "\n") {
		if strings.Contains(line, "is unreachable") {
			t.Logf("without a proxy: %s", strings.TrimSpace(line))
			break
		}
	}

	image := filepath.Join(t.TempDir(), "image.tar")
	res, err = e.BuildSpec(ctx, dir, append(args, "--opt", "build-arg:HTTP_PROXY="+proxy.URL, "--output", "type=oci,dest="+image)...)
	if err != nil {
		t.Fatalf("build with HTTP_PROXY: %v\n%s", err, res.Stderr)
	}
	reqs := proxy.Requests()
	checks := map[string]func(string) bool{
		"the substituter check": func(r string) bool { return r == "GET "+substituter+"/nix-cache-info" },
		"Nix's narinfo lookups": func(r string) bool {
			return strings.HasPrefix(r, "GET "+substituter+"/") && strings.HasSuffix(r, ".narinfo")
		},
		"Nix's NAR downloads": func(r string) bool { return strings.HasPrefix(r, "GET "+substituter+"/nar/") },
	}
	for what, f := range checks {
		if !slices.ContainsFunc(reqs, f) {
			t.Errorf("the proxy got none of %s; requests: %q", what, reqs)
		}
	}
	if found := imageMentions(t, image, strings.TrimPrefix(proxy.URL, "http://")); len(found) > 0 {
		t.Errorf("the image holds the proxy's address in %q", found)
	}
	if out, _, err := e.RunImage(ctx, image, "nix", "--version"); err != nil || !strings.Contains(out, "nix (Nix) "+m.Vars["NIX_VERSION"]) {
		t.Errorf("nix --version in the image: %q, %v", out, err)
	}
	if out, _, err := e.RunImage(ctx, image, "hello"); err != nil || !strings.Contains(out, "Hello") {
		t.Errorf("hello, substituted through the proxy, printed %q, %v", out, err)
	}

	other := strings.Replace(proxy.URL, "127.0.0.1", "localhost", 1)
	res, err = e.BuildSpec(ctx, dir, append(args, "--opt", "build-arg:http_proxy="+other)...)
	if err != nil {
		t.Fatalf("build with another proxy value: %v\n%s", err, res.Stderr)
	}
	if got := res.Progress.ExecutedSteps("[nix-image]"); len(got) > 0 {
		t.Errorf("changing only the proxy re-ran %v: the proxy is in a cache key", vertexNames(got))
	}
}

// imageMentions returns the blobs of an OCI archive (config, manifests)
// and the files of its layers that contain needle.
func imageMentions(t *testing.T, image, needle string) []string {
	t.Helper()
	f, err := os.Open(image)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var found []string
	files := 0
	outer := tar.NewReader(f)
	for {
		hdr, err := outer.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("reading %s: %v", image, err)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		blob, err := io.ReadAll(outer)
		if err != nil {
			t.Fatalf("reading %s: %v", hdr.Name, err)
		}
		gz, err := gzip.NewReader(bytes.NewReader(blob))
		if err != nil {
			if bytes.Contains(blob, []byte(needle)) {
				found = append(found, hdr.Name)
			}
			continue
		}
		inner := tar.NewReader(gz)
		for {
			lh, err := inner.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("reading layer %s: %v", hdr.Name, err)
			}
			data, err := io.ReadAll(inner)
			if err != nil {
				t.Fatalf("reading %s in layer %s: %v", lh.Name, hdr.Name, err)
			}
			files++
			if bytes.Contains(data, []byte(needle)) || strings.Contains(lh.Linkname, needle) {
				found = append(found, hdr.Name+":"+lh.Name)
			}
		}
	}
	if files == 0 {
		t.Fatalf("%s: no layer files: not an image", image)
	}
	return found
}
