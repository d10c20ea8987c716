// Package mirror serves the offline Nix world of hack/mirror.sh (a Nix
// release, a package set standing in for nixpkgs and a signed binary
// cache) over loopback HTTP, for the integration tests and benchmarks,
// and says which build args point a spec at it.
package mirror

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
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nix-image/nix-image/spec"
)

// Mirror is a generated mirror being served.
type Mirror struct {
	// Dir is the generated mirror (hack/mirror.sh's OUTDIR).
	Dir string
	// URL is where it is served, http://127.0.0.1:PORT.
	URL string
	// Vars are the variables of its mirror.env (NIX_VERSION, NIX_SHA256,
	// NIXPKGS_SHA256, CACHE_PUBLIC_KEY, ...): NIX_VERSION and
	// NIX_STORE_PATH are the release's Nix, NIXPKGS_NIX_VERSION and
	// NIXPKGS_NIX_STORE_PATH the package set's `nix`, which differ.
	Vars map[string]string
	// Nixpkgs and RealNixpkgs are the package set's two tarballs: the
	// same package set (same derivations, same closures), the second
	// padded to nixpkgs' real size with files nothing evaluates (about
	// 45,000 files, 230 MB unpacked; hack/mirror/realsize), for the
	// builds whose cost depends on the size of nixpkgs.
	Nixpkgs, RealNixpkgs Nixpkgs

	server *http.Server
	mu     sync.Mutex
	extra  map[string][]byte // /extra/NAME -> content, see Serve
}

// Start generates the mirror into repo/out/mirror with hack/mirror.sh
// (which returns at once when it is up to date) and serves it on a free
// loopback port until Close.
func Start(ctx context.Context, repo string) (*Mirror, error) {
	dir := filepath.Join(repo, "out", "mirror")
	cmd := exec.CommandContext(ctx, filepath.Join(repo, "hack", "mirror.sh"), dir)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("hack/mirror.sh: %w", err)
	}
	vars, err := readEnvFile(filepath.Join(dir, "mirror.env"))
	if err != nil {
		return nil, fmt.Errorf("reading the mirror's description: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("serving the mirror: %w", err)
	}
	m := &Mirror{Dir: dir, URL: "http://" + ln.Addr().String(), Vars: vars, extra: map[string][]byte{}}
	if m.Nixpkgs, err = nixpkgsOf(vars, m.URL, "NIXPKGS_"); err != nil {
		ln.Close()
		return nil, err
	}
	if m.RealNixpkgs, err = nixpkgsOf(vars, m.URL, "NIXPKGS_REAL_"); err != nil {
		ln.Close()
		return nil, err
	}
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

// Close stops serving.
func (m *Mirror) Close() error {
	return m.server.Close()
}

// Serve publishes data at the returned URL until Close.
func (m *Mirror) Serve(name string, data []byte) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.extra[name] = data
	return m.URL + "/extra/" + name
}

// Nixpkgs is a package set tarball of the mirror.
type Nixpkgs struct {
	// URL is where the mirror serves it.
	URL string
	// SHA256 is the tarball's (hex), NarHash the unpacked tree's (SRI, as
	// a flake.lock's narHash).
	SHA256, NarHash string
	// Files and Bytes are the unpacked tree's regular files and their
	// total size.
	Files int
	Bytes int64
}

// nixpkgsOf reads a tarball's description from the mirror.env variables
// PREFIX{TARBALL,SHA256,NAR_HASH,FILES,BYTES}.
func nixpkgsOf(vars map[string]string, url, prefix string) (Nixpkgs, error) {
	p := Nixpkgs{SHA256: vars[prefix+"SHA256"], NarHash: vars[prefix+"NAR_HASH"]}
	tarball := vars[prefix+"TARBALL"]
	if tarball == "" || p.SHA256 == "" || p.NarHash == "" {
		return p, fmt.Errorf("mirror.env lacks %sTARBALL, %sSHA256 or %sNAR_HASH: regenerate it with hack/mirror.sh", prefix, prefix, prefix)
	}
	p.URL = url + "/" + tarball
	var err error
	if p.Files, err = strconv.Atoi(vars[prefix+"FILES"]); err != nil {
		return p, fmt.Errorf("mirror.env: %sFILES: %w", prefix, err)
	}
	if p.Bytes, err = strconv.ParseInt(vars[prefix+"BYTES"], 10, 64); err != nil {
		return p, fmt.Errorf("mirror.env: %sBYTES: %w", prefix, err)
	}
	return p, nil
}

// ArgNames are the build args BuildArgs sets, in order.
var ArgNames = []string{spec.ArgNixVersion, spec.ArgNixReleases, spec.ArgNixpkgsURL, spec.ArgNixpkgsSHA256, spec.ArgSubstituters, spec.ArgTrustedPublicKeys}

// Args are the build args that point a spec at the mirror: what a user
// behind a mirror of releases.nixos.org, nixpkgs and cache.nixos.org
// would pass. The package set is the small tarball (Nixpkgs).
func (m *Mirror) Args() map[string]string {
	return m.ArgsWith(m.Nixpkgs)
}

// ArgsWith are Args with the package set p (m.RealNixpkgs for a
// real-size build).
func (m *Mirror) ArgsWith(p Nixpkgs) map[string]string {
	return map[string]string{
		spec.ArgNixVersion:        m.Vars["NIX_VERSION"],
		spec.ArgNixReleases:       m.URL + "/nix",
		spec.ArgNixpkgsURL:        p.URL,
		spec.ArgNixpkgsSHA256:     p.SHA256,
		spec.ArgSubstituters:      m.URL + "/cache",
		spec.ArgTrustedPublicKeys: m.Vars["CACHE_PUBLIC_KEY"],
	}
}

// BuildctlOpts are Args as buildctl options (--opt build-arg:K=V), in
// ArgNames order, leaving out the args named in except.
func (m *Mirror) BuildctlOpts(except ...string) []string {
	return m.BuildctlOptsWith(m.Nixpkgs, except...)
}

// BuildctlOptsWith are BuildctlOpts with the package set p:
// m.BuildctlOptsWith(m.RealNixpkgs) builds a spec against the real-size
// one.
func (m *Mirror) BuildctlOptsWith(p Nixpkgs, except ...string) []string {
	args := m.ArgsWith(p)
	var out []string
	for _, k := range ArgNames {
		if !slices.Contains(except, k) {
			out = append(out, "--opt", "build-arg:"+k+"="+args[k])
		}
	}
	return out
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
		if k, v, ok := strings.Cut(line, "="); ok {
			vars[k] = strings.Trim(v, `"'`)
		}
	}
	return vars, sc.Err()
}
