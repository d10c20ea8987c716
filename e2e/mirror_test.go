package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// offlineMirror is the offline Nix world of hack/mirror.sh (a Nix release,
// a package set standing in for nixpkgs and a signed binary cache), served
// over loopback HTTP for the whole test run.
type offlineMirror struct {
	dir    string
	url    string
	vars   map[string]string
	server *http.Server

	mu    sync.Mutex
	extra map[string][]byte // /extra/NAME -> content, see serve
}

var (
	mirrorOnce sync.Once
	mirror     *offlineMirror
	mirrorErr  error
)

// needMirror generates (or reuses) the mirror and starts serving it.
func needMirror(t *testing.T) *offlineMirror {
	t.Helper()
	mirrorOnce.Do(func() { mirror, mirrorErr = startMirror() })
	if mirrorErr != nil {
		t.Fatalf("offline mirror: %v", mirrorErr)
	}
	return mirror
}

func startMirror() (*offlineMirror, error) {
	root, err := filepath.Abs("..")
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(root, "out", "mirror")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(root, "hack", "mirror.sh"), dir)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("hack/mirror.sh: %w", err)
	}
	vars, err := readEnvFile(filepath.Join(dir, "mirror.env"))
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	m := &offlineMirror{dir: dir, url: "http://" + ln.Addr().String(), vars: vars, extra: map[string][]byte{}}
	mux := http.NewServeMux()
	mux.Handle("/", http.FileServer(http.Dir(dir)))
	mux.HandleFunc("/extra/", func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		data, ok := m.extra[strings.TrimPrefix(r.URL.Path, "/extra/")]
		m.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(data)
	})
	m.server = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go m.server.Serve(ln)
	return m, nil
}

// serve publishes data at the returned URL for the rest of the run.
func (m *offlineMirror) serve(name string, data []byte) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.extra[name] = data
	return m.url + "/extra/" + name
}

// stopMirror stops serving, if a test started the mirror.
func stopMirror() {
	if mirror != nil {
		mirror.server.Close()
	}
}

// readEnvFile reads KEY=VALUE lines (values optionally quoted).
func readEnvFile(p string) (map[string]string, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	vars := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		vars[k] = strings.Trim(v, `"'`)
	}
	return vars, sc.Err()
}

// buildArgs point a spec at the mirror: what a user behind a mirror of
// releases.nixos.org, nixpkgs and cache.nixos.org would pass. The build
// args named in except are left out.
func (m *offlineMirror) buildArgs(except ...string) []string {
	args := map[string]string{
		"NIX_VERSION":         m.vars["NIX_VERSION"],
		"NIX_RELEASES":        m.url + "/nix",
		"NIXPKGS_URL":         m.url + "/" + m.vars["NIXPKGS_TARBALL"],
		"NIXPKGS_SHA256":      m.vars["NIXPKGS_SHA256"],
		"SUBSTITUTERS":        m.url + "/cache",
		"TRUSTED_PUBLIC_KEYS": m.vars["CACHE_PUBLIC_KEY"],
	}
	var out []string
	for _, k := range []string{"NIX_VERSION", "NIX_RELEASES", "NIXPKGS_URL", "NIXPKGS_SHA256", "SUBSTITUTERS", "TRUSTED_PUBLIC_KEYS"} {
		if slices.Contains(except, k) {
			continue
		}
		out = append(out, "--opt", "build-arg:"+k+"="+args[k])
	}
	return out
}

// exampleSpec returns examples/NAME/nix-image.yaml without its `# syntax=`
// line (SpecContext writes one naming the frontend under test).
func exampleSpec(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "examples", name, "nix-image.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	first, rest, _ := strings.Cut(string(data), "\n")
	if !strings.HasPrefix(first, "# syntax=") {
		t.Fatalf("examples/%s/nix-image.yaml does not start with a # syntax= line", name)
	}
	return rest
}
