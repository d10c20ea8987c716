package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nix-image/nix-image/internal/testenv"
)

// TestSshImage builds examples/ssh (its authorizedKeys replaced by a key of
// the test) with a second key as the build secret authorized_keys, runs
// containers of it with runc, logs in with the host's ssh client and uses
// them as remote builders of the host's Nix, over ssh:// and ssh-ng://.
func TestSshImage(t *testing.T) { testSSHImage(t, testenv.Need(t, env)) }

// testSSHImage is the body of TestSshImage, on the stack e.
func testSSHImage(t *testing.T, e *testenv.Env) {
	m := needMirror(t)
	for _, tool := range []string{"ssh", "ssh-keygen", "ssh-keyscan", "nix-build", "nix-store"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found on the host (hack/install-deps.sh installs it): %v", tool, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()

	work := t.TempDir()
	envKey := newSSHKey(t, work, "env")       // given at start: AUTHORIZED_KEYS
	envKey2 := newSSHKey(t, work, "env2")     // the second key of AUTHORIZED_KEYS
	secretKey := newSSHKey(t, work, "secret") // build secret authorized_keys
	specKey := newSSHKey(t, work, "spec")     // images.ssh.authorizedKeys
	strangerKey := newSSHKey(t, work, "stranger")

	specText := exampleSpec(t, "ssh")
	exampleKey := regexp.MustCompile(`ssh-ed25519 \S+ alice@example`)
	if !exampleKey.MatchString(specText) {
		t.Fatal("examples/ssh/nix-image.yaml has no alice@example key to replace")
	}
	specText = exampleKey.ReplaceAllLiteralString(specText, specKey.pub)
	dir := e.SpecContext(t, specText, nil)
	secret := filepath.Join(work, "authorized_keys")
	if err := writeFile(secret, secretKey.pub+"\n"); err != nil {
		t.Fatal(err)
	}
	image := filepath.Join(work, "ssh.oci.tar")
	args := append(m.BuildctlOpts(), "--opt", "target=ssh",
		"--secret", "id=authorized_keys,src="+secret,
		"--output", "type=oci,dest="+image)
	res, err := e.BuildSpec(ctx, dir, args...)
	if err != nil {
		t.Fatalf("build: %v\n%s", err, res.Stderr)
	}

	t.Run("no private key in any layer", func(t *testing.T) { checkNoPrivateKeys(t, image) })

	rootfs := filepath.Join(work, "rootfs")
	cfg, err := testenv.UnpackOCI(image, rootfs)
	if err != nil {
		t.Fatalf("unpacking the image: %v", err)
	}
	t.Run("filesystem", func(t *testing.T) { checkSSHLayout(t, rootfs, specKey, secretKey) })

	// sshd must not listen on the host's other interfaces: the containers
	// share its network.
	cmd := append(append([]string{}, cfg.Cmd...), "-o", "ListenAddress=127.0.0.1")
	start := func(t *testing.T, env ...string) (*testenv.Container, int) {
		t.Helper()
		// runc's containers share the host's network: not port 22.
		port := freePort(t)
		c, err := e.StartImage(ctx, testenv.RunSpec{Image: image, Args: cmd, Env: append(env, "SSHD_PORT="+strconv.Itoa(port))})
		if err != nil {
			t.Fatalf("starting the ssh image: %v", err)
		}
		t.Cleanup(func() {
			if err := c.Stop(); err != nil {
				t.Errorf("stopping %s: %v", c.ID, err)
			}
			if t.Failed() {
				t.Logf("container %s output:\n%s", c.ID, c.Output())
			}
		})
		waitSSH(t, c, port)
		return c, port
	}
	first, port1 := start(t, "AUTHORIZED_KEYS="+envKey.pub+", "+envKey2.pub)
	_, port2 := start(t)
	builder := newSSHClient(t, work, "builder", port1, envKey)

	t.Run("login", func(t *testing.T) {
		tests := []struct {
			name string
			port int
			key  sshKey
			ok   bool
		}{
			{"key from AUTHORIZED_KEYS", port1, envKey, true},
			{"second key from AUTHORIZED_KEYS", port1, envKey2, true},
			{"key from the build secret", port1, secretKey, true},
			{"key from the spec", port1, specKey, true},
			{"build secret key without AUTHORIZED_KEYS", port2, secretKey, true},
			{"spec key without AUTHORIZED_KEYS", port2, specKey, true},
			{"AUTHORIZED_KEYS is per container", port2, envKey, false},
			{"unknown key", port1, strangerKey, false},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				c := newSSHClient(t, work, "login", tc.port, tc.key)
				out, err := c.run(ctx, "echo logged-in-as-$(id -un)")
				switch {
				case tc.ok && err != nil:
					t.Fatalf("login refused: %v\n%s", err, out)
				case tc.ok && !strings.Contains(out, "logged-in-as-root"):
					t.Fatalf("unexpected output: %s", out)
				case !tc.ok && err == nil:
					t.Fatalf("login accepted, want refused: %s", out)
				}
			})
		}
	})

	t.Run("password login refused", func(t *testing.T) {
		// BatchMode alone would fail any password login; what matters is
		// that the server offers no password method at all.
		out, err := builder.run(ctx, "true", "-v", "-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password,keyboard-interactive")
		if err == nil {
			t.Fatalf("login without a key accepted:\n%s", out)
		}
		methods := regexp.MustCompile(`Authentications that can continue: (\S+)`).FindStringSubmatch(out)
		if methods == nil || methods[1] != "publickey" {
			t.Fatalf("server offers %v, want only publickey:\n%s", methods, out)
		}
	})

	t.Run("non-interactive session environment", func(t *testing.T) {
		out, err := builder.run(ctx, `nix-store --version && command -v nix-daemon && echo "PATH=$PATH" && echo "CERT=$NIX_SSL_CERT_FILE" && test -s "$NIX_SSL_CERT_FILE" && echo cert-ok`)
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		for _, want := range []string{"nix-store (Nix) " + m.Vars["NIX_VERSION"], "/nix-daemon", "/run/current-system/sw/bin", "CERT=/etc/ssl/certs/ca-bundle.crt", "cert-ok"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("host keys differ between containers", func(t *testing.T) {
		k1, k2 := hostKey(ctx, t, port1), hostKey(ctx, t, port2)
		if k1 == k2 {
			t.Fatalf("both containers present the host key %s", k1)
		}
	})

	t.Run("nix store ping", func(t *testing.T) {
		cmd := exec.CommandContext(ctx, "nix", "--extra-experimental-features", "nix-command", "store", "ping", "--store", "ssh-ng://"+builder.host)
		cmd.Env = append(os.Environ(), "NIX_SSHOPTS=-F "+builder.config)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("nix store ping: %v\n%s", err, out)
		}
	})

	t.Run("moduli for Diffie-Hellman group exchange", func(t *testing.T) {
		// Without /etc/ssh/moduli sshd falls back to one fixed group and
		// logs a warning for every such key exchange.
		out, err := builder.run(ctx, "readlink -f /etc/ssh/moduli && wc -l </etc/ssh/moduli",
			"-v", "-o", "KexAlgorithms=diffie-hellman-group-exchange-sha256")
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if !strings.Contains(out, "kex: algorithm: diffie-hellman-group-exchange-sha256") {
			t.Errorf("the key exchange was not a Diffie-Hellman group exchange:\n%s", out)
		}
		// The debug lines of -v go to the same output; the count is the
		// line of digits.
		if !regexp.MustCompile(`(?m)^/nix/store/[0-9a-z]{32}-openssh-[^/]+/etc/ssh/moduli\r?$`).MatchString(out) ||
			!regexp.MustCompile(`(?m)^[1-9][0-9]{2,}\r?$`).MatchString(out) {
			t.Errorf("/etc/ssh/moduli is not openssh's list of groups:\n%s", out)
		}
		if log := first.Output(); strings.Contains(log, "/etc/ssh/moduli") {
			t.Errorf("sshd complains about /etc/ssh/moduli:\n%s", log)
		}
	})

	for _, scheme := range []string{"ssh", "ssh-ng"} {
		t.Run("remote build over "+scheme, func(t *testing.T) {
			remoteBuild(ctx, t, builder, scheme)
		})
	}

	t.Run("start script", func(t *testing.T) {
		// Without any authorized key the start script says so; host keys a
		// volume provides are kept. `-t` makes sshd check its
		// configuration and keys, then exit.
		script := `set -e
rm -f /etc/ssh/authorized_keys.d/root /root/.ssh/authorized_keys
mkdir -p /etc/ssh/host_keys
ssh-keygen -q -t ed25519 -N '' -C provided -f /etc/ssh/host_keys/ssh_host_ed25519_key
echo "provided: $(ssh-keygen -l -f /etc/ssh/host_keys/ssh_host_ed25519_key)" >&2
exec "$@"`
		args := append([]string{"/bin/sh", "-c", script, "sh"}, cfg.Cmd...)
		stdout, stderr, err := e.Run(ctx, testenv.RunSpec{Image: image, Args: append(args, "-t")})
		if err != nil {
			t.Fatalf("%v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
		}
		if !strings.Contains(stderr, "WARNING: no authorized key configured") {
			t.Errorf("no warning about missing authorized keys:\n%s", stderr)
		}
		provided := regexp.MustCompile(`provided: (\S+ \S+)`).FindStringSubmatch(stderr)
		if provided == nil || !strings.Contains(stderr, "host key: "+provided[1]) {
			t.Errorf("the provided ed25519 host key was not used:\n%s", stderr)
		}
		if strings.Contains(stderr, "generated the ed25519 host key") || !strings.Contains(stderr, "generated the rsa host key") {
			t.Errorf("want only the missing rsa host key generated:\n%s", stderr)
		}
	})

	t.Run("private key in AUTHORIZED_KEYS refused", func(t *testing.T) {
		_, stderr, err := e.Run(ctx, testenv.RunSpec{Image: image, Args: append(append([]string{}, cfg.Cmd...), "-t"),
			Env: []string{"AUTHORIZED_KEYS=" + readFile(t, strangerKey.file)}})
		if err == nil || !strings.Contains(stderr, "AUTHORIZED_KEYS holds a PEM block") {
			t.Fatalf("err = %v, want a refusal:\n%s", err, stderr)
		}
	})

	t.Run("rebuild", func(t *testing.T) {
		// BuildKit does not key the cache on a secret's content, so the
		// build secret step runs in every build: the same secret must give
		// the same image, a changed one (a key removed) a new image.
		rebuild := func(name, secret string) string {
			out := filepath.Join(work, name+".oci.tar")
			args := append(m.BuildctlOpts(), "--opt", "target=ssh", "--secret", "id=authorized_keys,src="+secret, "--output", "type=oci,dest="+out)
			res, err := e.BuildSpec(ctx, dir, args...)
			if err != nil {
				t.Fatalf("rebuild: %v\n%s", err, res.Stderr)
			}
			t.Logf("%s: executed %v", name, vertexNames(res.Progress.ExecutedSteps("")))
			return ociIndexJSON(t, out)
		}
		if a, b := ociIndexJSON(t, image), rebuild("same-secret", secret); a != b {
			t.Errorf("the same secret gives a different image:\n%s\n%s", a, b)
		}
		changed := filepath.Join(work, "authorized_keys_changed")
		if err := writeFile(changed, envKey.pub+"\n"); err != nil {
			t.Fatal(err)
		}
		if a, b := ociIndexJSON(t, image), rebuild("changed-secret", changed); a == b {
			t.Error("a changed secret gives the same image: the old key stays")
		}
	})

	t.Run("private key as build secret refused", func(t *testing.T) {
		bad := filepath.Join(work, "private_as_secret")
		if err := writeFile(bad, readFile(t, strangerKey.file)); err != nil {
			t.Fatal(err)
		}
		args := append(m.BuildctlOpts(), "--opt", "target=ssh", "--secret", "id=authorized_keys,src="+bad)
		res, err := e.BuildSpec(ctx, dir, args...)
		if err == nil {
			t.Fatal("the build took a private key as authorized_keys")
		}
		// The step's own message is in its log, the error names the step.
		if out := res.Progress.Output("read the build secret"); !strings.Contains(out, "holds a private key") {
			t.Errorf("the step does not say why:\n%s\n%s", out, res.Stderr)
		}
	})

	if !strings.Contains(first.Output(), "added 2 key(s) from AUTHORIZED_KEYS") {
		t.Errorf("the container did not log the AUTHORIZED_KEYS key:\n%s", first.Output())
	}
}

// checkSSHLayout checks the ssh image's files: keys from the spec and the
// build secret where sshd looks, with the modes StrictModes accepts, and
// no host key.
func checkSSHLayout(t *testing.T, rootfs string, specKey, secretKey sshKey) {
	t.Helper()
	files := []struct {
		path     string
		mode     os.FileMode
		contains string
	}{
		{"etc/ssh/sshd_config", 0o644, "PasswordAuthentication no"},
		{"etc/ssh/authorized_keys.d/root", 0o644, specKey.pub},
		{"root/.ssh/authorized_keys", 0o600, secretKey.pub},
		{"root/.ssh", os.ModeDir | 0o700, ""},
		{"etc/ssh/host_keys", os.ModeDir | 0o755, ""},
		{"etc/profile", 0o644, "export NIX_SSL_CERT_FILE="},
		{"etc/nix/nix.conf", 0o644, "trusted-users = root"},
	}
	for _, f := range files {
		p := filepath.Join(rootfs, f.path)
		fi, err := os.Lstat(p)
		if err != nil {
			t.Errorf("/%s: %v", f.path, err)
			continue
		}
		if fi.Mode() != f.mode {
			t.Errorf("/%s has mode %v, want %v", f.path, fi.Mode(), f.mode)
		}
		if f.contains != "" && !strings.Contains(readFile(t, p), f.contains) {
			t.Errorf("/%s lacks %q", f.path, f.contains)
		}
	}
	if names := dirNames(t, filepath.Join(rootfs, "etc/ssh/host_keys")); names != "" {
		t.Errorf("the image ships host keys: %s", names)
	}
}

// privateKeyBlock is a PEM or OpenSSH private key with its key data.
var privateKeyBlock = regexp.MustCompile(`-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----\r?\n(?:[A-Za-z0-9-]+: .*\r?\n)*\r?\n?[A-Za-z0-9+/=]{40,}`)

// checkNoPrivateKeys reads every blob of the exported OCI tar, and every
// file of each layer: no file outside /nix/store may even mention
// "PRIVATE KEY", and no text file of the store may hold a private key (as
// lnl7/nix:ssh's insecure_rsa did). Store binaries may mention it:
// ssh-keygen and libcrypto hold the PEM header as a string, and GnuTLS
// embeds the public test vectors of its self-tests, keys included.
func checkNoPrivateKeys(t *testing.T, image string) {
	t.Helper()
	var mentions []string
	layers, files := walkOCI(t, image, func(e ociEntry) {
		if !bytes.Contains(e.Data, []byte("PRIVATE KEY")) {
			return
		}
		if e.Path == "" { // index, manifests, configs
			t.Errorf("%s mentions PRIVATE KEY", e.Blob)
			return
		}
		if e.Hdr.Typeflag != tar.TypeReg {
			return
		}
		inStore := strings.HasPrefix(strings.TrimPrefix(e.Path, "./"), "nix/store/")
		binary := bytes.IndexByte(e.Data, 0) >= 0
		switch {
		case !inStore:
			t.Errorf("/%s (layer %s) mentions PRIVATE KEY", e.Path, e.Blob)
		case !binary && privateKeyBlock.Match(e.Data):
			t.Errorf("/%s (layer %s) holds a private key", e.Path, e.Blob)
		default:
			mentions = append(mentions, e.Path)
		}
	})
	t.Logf("scanned %d files in %d layers; store binaries that mention PRIVATE KEY: %s", files, layers, strings.Join(mentions, " "))
}

// ociIndexJSON returns the index.json of an OCI tar: it names the
// manifest by digest, so equal indexes mean equal images.
func ociIndexJSON(t *testing.T, image string) string {
	t.Helper()
	f, err := os.Open(image)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if err != nil {
			t.Fatalf("no index.json in %s: %v", image, err)
		}
		if hdr.Name == "index.json" {
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			return string(data)
		}
	}
}

// sshKey is a key pair the test made.
type sshKey struct{ file, pub string }

func newSSHKey(t *testing.T, dir, name string) sshKey {
	t.Helper()
	file := filepath.Join(dir, "id_"+name)
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name+"@nix-image-e2e", "-f", file).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	return sshKey{file: file, pub: strings.TrimSpace(readFile(t, file+".pub"))}
}

// sshClient is the host's ssh client set up for one container: an ssh
// config with a Host entry, as a user would write it, used both by ssh
// and, through NIX_SSHOPTS, by the host's Nix.
type sshClient struct {
	host   string
	config string
}

func newSSHClient(t *testing.T, dir, host string, port int, key sshKey) sshClient {
	t.Helper()
	config := filepath.Join(dir, fmt.Sprintf("ssh_config_%s_%d_%s", host, port, filepath.Base(key.file)))
	if err := writeFile(config, testenv.SSHConfig(host, port, key.file)); err != nil {
		t.Fatal(err)
	}
	return sshClient{host: host, config: config}
}

// run runs command on the container; extra goes before the host.
func (c sshClient) run(ctx context.Context, command string, extra ...string) (string, error) {
	args := append(append([]string{"-F", c.config}, extra...), c.host, command)
	out, err := exec.CommandContext(ctx, "ssh", args...).CombinedOutput()
	return string(out), err
}

// waitSSH waits until sshd answers with its banner.
func waitSSH(t *testing.T, c *testenv.Container, port int) {
	t.Helper()
	if err := testenv.WaitSSH(context.Background(), port); err != nil {
		t.Fatalf("sshd of %s: %v; output:\n%s", c.ID, err, c.Output())
	}
}

// hostKey returns the ed25519 host key sshd presents on port.
func hostKey(ctx context.Context, t *testing.T, port int) string {
	t.Helper()
	out, err := exec.CommandContext(ctx, "ssh-keyscan", "-p", strconv.Itoa(port), "-t", "ed25519", "127.0.0.1").Output()
	if err != nil {
		t.Fatalf("ssh-keyscan -p %d: %v", port, err)
	}
	f := strings.Fields(string(out))
	if len(f) < 3 || f[1] != "ssh-ed25519" {
		t.Fatalf("ssh-keyscan -p %d: unexpected output %q", port, out)
	}
	return f[2]
}

// remoteBuild has the host's Nix build a derivation no store has seen
// (its name holds the time) on the container only (--max-jobs 0), checks
// that the output came back to the host's store, and that it was built in
// the container (its builder uses the container's uname and hostname).
func remoteBuild(ctx context.Context, t *testing.T, c sshClient, scheme string) {
	t.Helper()
	nonce := fmt.Sprintf("%s-%d", strings.ReplaceAll(scheme, "-", ""), time.Now().UnixNano())
	expr := fmt.Sprintf(`derivation { name = "nix-image-e2e-%s"; system = "x86_64-linux"; builder = "/bin/sh"; args = [ "-c" "echo built-on-$(/run/current-system/sw/bin/uname -n)-%s > $out" ]; }`, nonce, nonce)
	cmd := exec.CommandContext(ctx, "nix-build", "--no-out-link",
		"--max-jobs", "0",
		"--option", "builders", scheme+"://"+c.host+" x86_64-linux",
		"--option", "builders-use-substitutes", "false",
		"--option", "substituters", "",
		"-E", expr)
	cmd.Env = append(os.Environ(), "NIX_SSHOPTS=-F "+c.config)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("nix-build with the builder %s://%s: %v\n%s", scheme, c.host, err, stderr.String())
	}
	out := strings.TrimSpace(stdout.String())
	if !strings.HasPrefix(out, "/nix/store/") {
		t.Fatalf("nix-build printed %q, want a store path\n%s", out, stderr.String())
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("the output is not in the host's store: %v", err)
	}
	if !strings.Contains(string(data), nonce) {
		t.Errorf("%s holds %q", out, data)
	}
	remote, err := c.run(ctx, "cat "+out)
	if err != nil || remote != string(data) {
		t.Errorf("the output is not in the builder's store (%v): %q", err, remote)
	}
	// testenv's containers are named nix-image-e2e: the build ran there.
	if !strings.Contains(string(data), "built-on-nix-image-e2e-") {
		t.Errorf("not built in the container: %q", data)
	}
	t.Logf("%s: %s", out, strings.TrimSpace(string(data)))
}
