package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"io"
	"io/fs"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nix-image/nix-image/internal/testenv"
)

// TestPrivateCache builds from a private binary cache, as behind a
// company's cache or a private Cachix: an HTTPS cache on the loopback
// with a certificate of a CA made by the test, serving the offline
// mirror's signed cache only with HTTP basic auth. The spec names it only
// in nixConfig (extra-substituters, extra-trusted-public-keys), with no
// other substituter or key, and the /nix cache mount starts empty, so the
// image's store paths can only come from it. Without the build secret
// netrc the build fails naming the cache, the spec line and the secret;
// without nix-ca it fails naming nix-ca; with both it succeeds, Nix
// downloads the NARs with the netrc login, and the image runs. The
// password is then in no layer of the image, in no exported cache and
// nowhere in the builder's state (its cache keys, the builds' LLB, the
// snapshots, buildx's files). A build with another password reuses the
// cached realise step.
func TestPrivateCache(t *testing.T) {
	e := testenv.Need(t, env)
	m := needMirror(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()

	password := "pw-" + randomHex(t, 16)
	cache := startPrivateCache(t, filepath.Join(m.Dir, "cache"), "nix-user", password)
	secrets := t.TempDir()
	netrc := filepath.Join(secrets, "netrc")
	writeSecret(t, netrc, "machine 127.0.0.1\n  login nix-user\n  password "+password+"\n")
	wrong := filepath.Join(secrets, "netrc-wrong")
	writeSecret(t, wrong, "machine 127.0.0.1 login nix-user password not-"+password+"\n")
	ca := filepath.Join(secrets, "ca.pem")
	writeSecret(t, ca, string(cache.caPEM))

	spec := minimalSpec + `packages: [hello]
substituters: []
trustedPublicKeys: []
nixConfig:
  extra-substituters: ` + cache.url + `
  extra-trusted-public-keys: ` + m.Vars["CACHE_PUBLIC_KEY"] + `
`
	dir := e.SpecContext(t, spec, nil)
	// A /nix cache mount of its own: no store path of another test's build.
	namespace := "private-" + randomHex(t, 8)
	args := append(m.BuildctlOpts("SUBSTITUTERS", "TRUSTED_PUBLIC_KEYS"), "--opt", "build-arg:BUILDKIT_CACHE_MOUNT_NS="+namespace)

	failures := []struct {
		name    string
		secrets []string
		want    []string
	}{
		{"without the netrc secret", []string{"--secret", "id=nix-ca,src=" + ca},
			// Line 1 is the # syntax line: the spec's line 11 is line 12.
			[]string{"substituter " + cache.url, "nix-image.yaml:12:3 (nixConfig.extra-substituters)", "needs credentials", "401", "machine 127.0.0.1", "--secret id=netrc"}},
		{"without the CA secret", []string{"--secret", "id=netrc,src=" + netrc},
			[]string{"substituter " + cache.url, "unreachable", "certificate", "build secret nix-ca"}},
		{"with a wrong password", []string{"--secret", "id=netrc,src=" + wrong, "--secret", "id=nix-ca,src=" + ca},
			[]string{"substituter " + cache.url, "refused the credentials for machine 127.0.0.1 of the build secret netrc", "401"}},
	}
	for _, tc := range failures {
		t.Run(tc.name, func(t *testing.T) {
			res, err := e.BuildSpec(ctx, dir, append(args, tc.secrets...)...)
			if err == nil {
				t.Fatal("the build succeeded")
			}
			all := res.Stderr + res.Progress.Output("")
			for _, want := range tc.want {
				if !strings.Contains(all, want) {
					t.Errorf("error output lacks %q:\n%s", want, res.Stderr)
				}
			}
		})
	}
	if n := cache.nars.Load(); n != 0 {
		t.Fatalf("the cache served %d NARs to builds without credentials", n)
	}

	// Then the README's command, with the secrets' files of the test.
	cmds := readmeCommands(t, "Private binary caches", "")
	if len(cmds) != 1 {
		t.Fatalf("README: want one command, got %q", cmds)
	}
	readme := func(netrc string) []string {
		var cmd []string
		for _, f := range cmds[0] {
			f = strings.ReplaceAll(f, "src=$HOME/.config/nix/netrc", "src="+netrc)
			cmd = append(cmd, strings.ReplaceAll(f, "src=./corp-ca.pem", "src="+ca))
		}
		return withArgs(cmd, append(buildxMirrorArgs(m, "SUBSTITUTERS", "TRUSTED_PUBLIC_KEYS"),
			"--build-arg", "BUILDKIT_CACHE_MOUNT_NS="+namespace)...)
	}
	if c := strings.Join(readme(netrc), " "); !strings.Contains(c, "id=netrc,src="+netrc) || !strings.Contains(c, "id=nix-ca,src="+ca) {
		t.Fatalf("README: the command does not pass the secrets netrc and nix-ca as the test expects: %s", c)
	}
	out := filepath.Join(t.TempDir(), "image.oci.tar")
	cacheDir := filepath.Join(t.TempDir(), "cache")
	res, err := e.BuildxJSON(ctx, dir, withArgs(readme(netrc), "-o", "type=oci,dest="+out, "--cache-to", "type=local,mode=max,dest="+cacheDir)...)
	if err != nil {
		t.Fatalf("docker buildx build with the secrets: %v", err)
	}
	if len(res.Progress.ExecutedSteps("[nix-image] realise ")) == 0 {
		t.Errorf("the realise step did not run: %v", vertexNames(res.Progress.Vertices))
	}
	nars := cache.nars.Load()
	t.Logf("Nix downloaded %d NARs from the private cache", nars)
	if nars == 0 {
		t.Errorf("Nix downloaded no NAR from the private cache with the netrc login")
	}
	if n := cache.refusedNix.Load(); n != 0 {
		t.Errorf("the cache refused %d requests of Nix", n)
	}

	t.Run("the image runs", func(t *testing.T) {
		rootfs, cfg := unpackImage(t, out)
		stdout, stderr, err := e.Run(ctx, testenv.RunSpec{Image: rootfs, Config: cfg,
			Args: []string{"/bin/sh", "-c", "hello && nix --version && cat /etc/nix/nix.conf"}})
		if err != nil {
			t.Fatalf("%v\n%s\n%s", err, stdout, stderr)
		}
		for _, want := range []string{"Hello, world!", "nix (Nix) " + m.Vars["NIX_VERSION"], "extra-substituters = " + cache.url} {
			if !strings.Contains(stdout, want) {
				t.Errorf("output lacks %q:\n%s", want, stdout)
			}
		}
		if strings.Contains(stdout, "netrc-file") || strings.Contains(stdout, password) {
			t.Errorf("the image's nix.conf has the build's credentials:\n%s", stdout)
		}
	})
	// BuildKit keys no cache on a secret's content: with another password
	// (a rotated token) the realise step is cached, not run again.
	t.Run("a changed secret keeps the cache", func(t *testing.T) {
		rotated := filepath.Join(secrets, "netrc-rotated")
		writeSecret(t, rotated, "machine 127.0.0.1 login nix-user password rotated-"+randomHex(t, 8)+"\n")
		res, err := e.BuildxJSON(ctx, dir, readme(rotated)...)
		if err != nil {
			t.Fatalf("docker buildx build: %v", err)
		}
		if len(res.Progress.Find("[nix-image] realise ")) == 0 {
			t.Fatalf("no realise step: %v", vertexNames(res.Progress.Vertices))
		}
		for _, v := range res.Progress.ExecutedSteps("[nix-image] realise ") {
			t.Errorf("the realise step ran again with a changed secret: %q", v.Name)
		}
	})
	// Each scan also looks for the cache's URL, which the image's nix.conf
	// and the build's LLB hold: a scan that cannot find it proves nothing.
	t.Run("the secret is in no layer", func(t *testing.T) {
		f, err := os.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		tr := tar.NewReader(f)
		withURL := 0
		for {
			hdr, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			if holdsSecret(data, password) {
				t.Errorf("the image's %s holds the password", hdr.Name)
			}
			if holdsSecret(data, cache.url) {
				withURL++
			}
		}
		if withURL == 0 {
			t.Errorf("no blob of the image holds the cache's URL (the /etc layer's nix.conf): the scan cannot see into the layers")
		}
	})
	scan := func(t *testing.T, root string, wantURL bool) {
		n, hits := scanTree(t, root, password)
		for _, h := range hits {
			t.Errorf("%s holds the password", h)
		}
		if _, withURL := scanTree(t, root, cache.url); wantURL && len(withURL) == 0 {
			t.Errorf("none of the %d files under %s holds the cache's URL: the scan cannot see into them", n, root)
		}
	}
	t.Run("the secret is in no exported cache", func(t *testing.T) { scan(t, cacheDir, true) })
	// The stack's directory: the daemon's state (cache keys, the builds'
	// LLB, snapshots, content store), its log, buildx's state, the registry.
	t.Run("the secret is nowhere in the builder's state", func(t *testing.T) { scan(t, e.Dir, true) })
}

// privateCache is a binary cache over HTTPS with basic auth.
type privateCache struct {
	url   string
	caPEM []byte
	// nars counts the NARs served; refusedNix the requests of Nix (its
	// user agent) refused for their credentials.
	nars, refusedNix atomic.Int64
}

// startPrivateCache serves dir on a free loopback port over HTTPS, with a
// certificate for 127.0.0.1 signed by a CA made here, to requests with
// the basic auth user:password only.
func startPrivateCache(t *testing.T, dir, user, password string) *privateCache {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "nix-image test private CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pc := &privateCache{caPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})}
	files := http.FileServer(http.Dir(dir))
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || u != user || p != password {
			if strings.Contains(r.UserAgent(), "Nix/") {
				pc.refusedNix.Add(1)
			}
			w.Header().Set("WWW-Authenticate", `Basic realm="private nix cache"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		if strings.HasPrefix(r.URL.Path, "/nar/") {
			pc.nars.Add(1)
		}
		files.ServeHTTP(w, r)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, TLSConfig: &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der, caDER}, PrivateKey: key}},
	}}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	pc.url = "https://" + ln.Addr().String()
	return pc
}

// scanTree returns how many regular files under root it read and those
// that hold needle, also in gzip-compressed form. Files that disappear
// while it runs (a live daemon's) are skipped.
func scanTree(t *testing.T, root, needle string) (n int, hits []string) {
	t.Helper()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
				return nil
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
				return nil
			}
			return err
		}
		n++
		if holdsSecret(data, needle) {
			hits = append(hits, p)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("scanning %s: %v", root, err)
	}
	return n, hits
}

// holdsSecret tells whether data, or data decompressed when it is gzip,
// contains secret.
func holdsSecret(data []byte, secret string) bool {
	if bytes.Contains(data, []byte(secret)) {
		return true
	}
	if len(data) < 2 || data[0] != 0x1f || data[1] != 0x8b {
		return false
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return false
	}
	plain, err := io.ReadAll(zr)
	if err != nil && len(plain) == 0 {
		return false
	}
	return bytes.Contains(plain, []byte(secret))
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func writeSecret(t *testing.T, p, content string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
