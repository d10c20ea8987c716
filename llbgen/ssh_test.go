package llbgen

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"
	"github.com/nix-image/nix-image/nixstep"
	"github.com/nix-image/nix-image/spec"
)

// testSSHKey is the authorizedKeys entry of testSpec.
const testSSHKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPj0mJ1ymW4tU4Rc7Sm5wvZD7jAwWdh6vRFFdFXd+9pj me@host"

func testResolve(t *testing.T, target string) *spec.Resolved {
	t.Helper()
	s, err := spec.Parse("nix-image.yaml", []byte(testSpec))
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Resolve(target)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestSSHFiles(t *testing.T) {
	tests := []struct {
		file     string
		mode     os.FileMode
		contains []string
		lacks    []string
	}{
		{sshdConfig, 0o644, []string{
			"\nPermitRootLogin prohibit-password\n", "\nPasswordAuthentication no\n", "\nKbdInteractiveAuthentication no\n",
			"\nUsePAM no\n", "\nPidFile none\n",
			"\nHostKey /etc/ssh/host_keys/ssh_host_ed25519_key\n", "\nHostKey /etc/ssh/host_keys/ssh_host_rsa_key\n",
			"\nAuthorizedKeysFile .ssh/authorized_keys .ssh/authorized_keys2 /etc/ssh/authorized_keys.d/%u\n",
			// The spec's config.env is the image's, in ssh sessions too.
			`SetEnv "PATH=/custom/bin" "MANPATH=`, `"NIX_SSL_CERT_FILE=/etc/ssl/certs/ca-bundle.crt"`, `"FOO=bar"`,
		}, []string{"USER=", "PasswordAuthentication yes"}},
		{"/etc/profile", 0o644, []string{"export PATH='/custom/bin'\n", "export NIX_PATH='nixpkgs=/root/.nix-defexpr/channels/nixpkgs'\n", "export FOO='bar'\n"}, []string{"USER"}},
		{"/etc/bashrc", 0o644, []string{"export NIX_SSL_CERT_FILE='/etc/ssl/certs/ca-bundle.crt'\n"}, nil},
		{sshAuthorizedKeys + "/root", 0o644, []string{testSSHKey + "\n"}, nil},
		{"/root/.ssh/authorized_keys", 0o600, []string{"ssh-ed25519 AAAA secret@host\n"}, nil},
		{sshStartScript, 0o755, []string{"ssh-keygen -q -t \"$type\"", "AUTHORIZED_KEYS", "SSHD_PORT", "exec /run/current-system/sw/bin/sshd \"${args[@]}\" \"$@\""}, nil},
	}
	files := map[string]etcFile{}
	for _, f := range sshFiles(testResolve(t, "ssh"), []byte("ssh-ed25519 AAAA secret@host\n")) {
		files[f.path] = f
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			f, ok := files[tc.file]
			if !ok {
				t.Fatalf("no %s", tc.file)
			}
			if f.mode != tc.mode {
				t.Errorf("mode %v, want %v", f.mode, tc.mode)
			}
			for _, c := range tc.contains {
				if !strings.Contains(f.data, c) {
					t.Errorf("lacks %q:\n%s", c, f.data)
				}
			}
			for _, c := range tc.lacks {
				if strings.Contains(f.data, c) {
					t.Errorf("has %q:\n%s", c, f.data)
				}
			}
		})
	}
}

// TestSSHRootNotLocked: sshd without PAM refuses key logins to accounts
// whose password starts with "!".
func TestSSHRootNotLocked(t *testing.T) {
	for _, f := range etcFiles(testResolve(t, "ssh")) {
		if f.path == "/etc/shadow" && !strings.Contains(f.data, "\nroot:*:") && !strings.HasPrefix(f.data, "root:*:") {
			t.Errorf("root's password is not \"*\":\n%s", f.data)
		}
	}
}

func TestSSHQuoting(t *testing.T) {
	tests := []struct{ in, sshd, shell string }{
		{"plain", `"plain"`, `'plain'`},
		{`a "b" c\d`, `"a \"b\" c\\d"`, `'a "b" c\d'`},
		{"it's", `"it's"`, `'it'\''s'`},
	}
	for _, tc := range tests {
		if got := sshdQuote(tc.in); got != tc.sshd {
			t.Errorf("sshdQuote(%q) = %s, want %s", tc.in, got, tc.sshd)
		}
		if got := shellQuote(tc.in); got != tc.shell {
			t.Errorf("shellQuote(%q) = %s, want %s", tc.in, got, tc.shell)
		}
	}
}

func TestSSHLayers(t *testing.T) {
	if l := sshLayers(testResolve(t, "default"), Options{}); l != nil {
		t.Errorf("the default image gets ssh layers: %v", l)
	}
	_, def, _ := testBuild(t, "default", nil)
	_, res, llbDef := testBuild(t, "ssh", nil)
	if got, want := len(res.Image.History), len(def.Image.History)+1; got != want {
		t.Errorf("ssh image has %d history entries, want %d (one more than the default image)", got, want)
	}
	if !slices.Equal(res.Image.Config.Cmd, sshCmd) {
		t.Errorf("Cmd = %v, want %v", res.Image.Config.Cmd, sshCmd)
	}
	if _, ok := res.Image.Config.ExposedPorts["22/tcp"]; !ok {
		t.Errorf("ExposedPorts = %v, want 22/tcp", res.Image.Config.ExposedPorts)
	}
	for _, op := range ops(t, llbDef) {
		if e := op.GetExec(); e != nil && slices.Contains(e.Meta.Args, "authorized-keys") {
			t.Error("the image runs the secret step: BuildKit would not key its layer on the secret's content")
		}
	}
	_, withSecret, withSecretDef := testBuild(t, "ssh", func(o *Options) { o.AuthorizedKeys = []byte("ssh-ed25519 AAAA secret@host\n") })
	if len(withSecret.Image.History) != len(res.Image.History) {
		t.Errorf("the secret adds layers")
	}
	var files []string
	for _, op := range ops(t, withSecretDef) {
		if f := op.GetFile(); f != nil {
			for _, a := range f.Actions {
				if mk := a.GetMkfile(); mk != nil && strings.HasPrefix(mk.Path, "/root/") {
					files = append(files, mk.Path+" "+string(mk.Data))
				}
			}
		}
	}
	if want := []string{"/root/.ssh/authorized_keys ssh-ed25519 AAAA secret@host\n"}; !slices.Equal(files, want) {
		t.Errorf("files under /root: %q, want %q", files, want)
	}
}

func TestAuthorizedKeysStep(t *testing.T) {
	def, err := AuthorizedKeysStep(Options{Tool: llb.Image("example.com/nix-image/frontend:test")}).Marshal(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var step *pb.Op
	for _, op := range ops(t, def) {
		if e := op.GetExec(); e != nil {
			step = op
		}
	}
	if step == nil {
		t.Fatal("no exec op")
	}
	e := step.GetExec()
	if got := strings.Join(e.Meta.Args, " "); got != nixstep.ToolDir+nixstep.ToolBinary+" step authorized-keys" {
		t.Errorf("args = %q", got)
	}
	if e.Network != pb.NetMode_NONE {
		t.Errorf("network = %v, want none", e.Network)
	}
	var secret *pb.Mount
	for _, m := range e.Mounts {
		if m.MountType == pb.MountType_SECRET {
			secret = m
		}
	}
	if secret == nil || secret.Dest != nixstep.AuthorizedKeysSecret || secret.SecretOpt.ID != nixstep.AuthorizedKeysSecretID || !secret.SecretOpt.Optional {
		t.Errorf("secret mount = %+v, want the optional secret %s at %s", secret, nixstep.AuthorizedKeysSecretID, nixstep.AuthorizedKeysSecret)
	}
	ignored := false
	for _, md := range def.Metadata {
		ignored = ignored || md.IgnoreCache
	}
	if !ignored {
		t.Error("the step is cached: a key removed from the secret would stay")
	}
}

// TestSSHDConfigAccepted has the host's sshd check the generated
// sshd_config and print the settings it takes from it (sshd -T), then
// compares the limits that make the image a safe remote builder. sshd
// wants its privilege separation directory (Debian's /run/sshd), so it
// runs in a mount namespace of its own with a fresh /run: nothing on the
// machine changes. `make deps` installs sshd; the test never skips.
func TestSSHDConfigAccepted(t *testing.T) {
	sshd, err := exec.LookPath("sshd")
	if err != nil {
		if sshd, err = exec.LookPath("/usr/sbin/sshd"); err != nil {
			t.Fatal("no sshd on this machine: run `make deps` (openssh-server)")
		}
	}
	dir := t.TempDir()
	key := filepath.Join(dir, "hostkey")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	config := filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(config, []byte(sshdConfigText(sessionEnv(testResolve(t, "ssh")))), 0o644); err != nil {
		t.Fatal(err)
	}
	// The image's host keys do not exist here: -h gives sshd one.
	script := `mount -t tmpfs tmpfs /run && mkdir -m 0755 /run/sshd && exec "$0" -T -f "$1" -h "$2"`
	out, err := exec.Command("unshare", "-m", "sh", "-c", script, sshd, config, key).CombinedOutput()
	if err != nil {
		t.Fatalf("sshd -T: %v\n%s", err, out)
	}
	for _, bad := range []string{"Bad configuration", "Deprecated", "Unsupported", "unsupported", "bad "} {
		if strings.Contains(string(out), bad) {
			t.Errorf("sshd -T complains:\n%s", out)
		}
	}
	got := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok {
			got[k] = v
		}
	}
	want := map[string]string{
		"permitrootlogin":              "without-password",
		"passwordauthentication":       "no",
		"kbdinteractiveauthentication": "no",
		"permitemptypasswords":         "no",
		"pubkeyauthentication":         "yes",
		"usepam":                       "no",
		"logingracetime":               "30",
		"maxauthtries":                 "3",
		"maxsessions":                  "10",
		"maxstartups":                  "10:30:60",
		"permituserenvironment":        "no",
		"allowagentforwarding":         "no",
		"allowtcpforwarding":           "no",
		"allowstreamlocalforwarding":   "no",
		"gatewayports":                 "no",
		"permittunnel":                 "no",
		"x11forwarding":                "no",
		"pidfile":                      "none",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("sshd -T: %s = %q, want %q", k, got[k], v)
		}
	}
}

func TestStartScriptParses(t *testing.T) {
	cmd := exec.Command("bash", "-n")
	cmd.Stdin = strings.NewReader(startScript)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("bash -n: %v\n%s", err, out)
	}
}
