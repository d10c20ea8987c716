package llbgen

import (
	"fmt"
	"strings"

	"github.com/moby/buildkit/client/llb"
	"github.com/nix-image/nix-image/nixstep"
	"github.com/nix-image/nix-image/spec"
)

// Paths of the ssh image. Host keys live in a directory of their own so
// that a volume there keeps them across containers; the image ships none.
const (
	sshdConfig        = "/etc/ssh/sshd_config"
	sshStartScript    = "/etc/ssh/start-sshd"
	sshHostKeyDir     = "/etc/ssh/host_keys"
	sshAuthorizedKeys = "/etc/ssh/authorized_keys.d"
	sshModuli         = "/etc/ssh/moduli"
	// sshModuliTarget is openssh's etc/ssh/moduli in the system profile.
	sshModuliTarget = "/run/current-system/sw/etc/ssh/moduli"
)

// sshCmd is the ssh image's Cmd: the start script, run by the image's bash
// so that it works even where /etc is mounted noexec.
var sshCmd = []string{profileBin + "/bash", sshStartScript}

// sshLayers returns the layer the ssh image adds on top of the common
// ones (none for other targets): sshd's configuration, its start script,
// the shell profiles, and root's authorized_keys from the spec and the
// build secret.
func sshLayers(r *spec.Resolved, opt Options) []layer {
	if !r.SSHServer {
		return nil
	}
	fa := llb.Mkdir("/etc", 0o755)
	for _, d := range []string{"/etc/ssh", sshHostKeyDir, sshAuthorizedKeys} {
		fa = fa.Mkdir(d, 0o755)
	}
	fa = fa.Mkdir("/root", 0o700).Mkdir("/root/.ssh", 0o700)
	for _, f := range sshFiles(r, opt.AuthorizedKeys) {
		fa = fa.Mkfile(f.path, f.mode, []byte(f.data))
	}
	// sshd's Diffie-Hellman groups (diffie-hellman-group-exchange-*),
	// from the openssh package, as NixOS links them.
	files := withSymlinks(opt, fa, []nixstep.Symlink{{Target: sshModuliTarget, Link: sshModuli}}, "[nix-image] write sshd configuration")
	// Writing a file changes its directory's time: the copy gives every
	// file and directory the epoch, so the layer is the same in every build.
	st := llb.Scratch().File(
		llb.Copy(files, "/", "/", &llb.CopyInfo{CopyDirContentsOnly: true}, llb.WithCreatedTime(opt.Epoch)),
		stepOpts(opt, llb.WithCustomName("[nix-image] layer: sshd configuration, /root/.ssh"))...,
	)
	return []layer{{"nix-image: sshd configuration, /root/.ssh", st}}
}

// sshFiles returns the files of the ssh layer, in a fixed order.
func sshFiles(r *spec.Resolved, secretKeys []byte) []etcFile {
	env := sessionEnv(r)
	files := []etcFile{
		{sshdConfig, 0o644, sshdConfigText(env)},
		{sshStartScript, 0o755, startScript},
		{"/etc/profile", 0o644, profileText(env)},
		{"/etc/bashrc", 0o644, profileText(env)},
	}
	if len(r.AuthorizedKeys) > 0 {
		files = append(files, etcFile{sshAuthorizedKeys + "/root", 0o644, strings.Join(r.AuthorizedKeys, "\n") + "\n"})
	}
	if len(secretKeys) > 0 {
		files = append(files, etcFile{"/root/.ssh/authorized_keys", 0o600, string(secretKeys)})
	}
	return files
}

// sessionEnv is the image's environment as ssh sessions need it: sshd
// starts them with a fixed minimal environment, not the container's
// (lnl7/nix-docker#32), so `ssh root@host nix-store ...` would find no
// nix-store. USER and HOME are left to sshd, which sets them per user.
// Values spanning lines cannot be written to sshd_config and are left out.
func sessionEnv(r *spec.Resolved) [][2]string {
	var env [][2]string
	for _, kv := range mergeEnv(defaultEnv, r.Config.Env) {
		k, v, _ := strings.Cut(kv, "=")
		if k == "USER" || k == "HOME" || strings.ContainsAny(v, "\r\n") {
			continue
		}
		env = append(env, [2]string{k, v})
	}
	return env
}

// sshdConfigText is /etc/ssh/sshd_config: root may log in with a key only,
// no PAM (the image has no PAM configuration), host keys from the volume
// path, and the image's environment for every session through SetEnv,
// which sshd applies after its own defaults and which, unlike shell
// startup files, also holds for `ssh host command`.
func sshdConfigText(env [][2]string) string {
	var b strings.Builder
	b.WriteString(`# Written by nix-image from nix-image.yaml (ssh image).
# Host keys are generated at the first start of a container (see
# ` + sshStartScript + `); mount a volume at ` + sshHostKeyDir + ` to keep them.
Port 22
HostKey ` + sshHostKeyDir + `/ssh_host_ed25519_key
HostKey ` + sshHostKeyDir + `/ssh_host_rsa_key
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitEmptyPasswords no
UsePAM no
AuthorizedKeysFile .ssh/authorized_keys .ssh/authorized_keys2 ` + sshAuthorizedKeys + `/%u
PidFile none
PrintMotd no
PrintLastLog no
UseDNS no
# Limits: a remote builder is reached by a few known clients, and Nix
# needs no forwarding of any kind (ssh:// and ssh-ng:// run a command).
LoginGraceTime 30
MaxAuthTries 3
MaxSessions 10
MaxStartups 10:30:60
ClientAliveInterval 60
ClientAliveCountMax 3
PermitUserEnvironment no
AllowAgentForwarding no
AllowTcpForwarding no
AllowStreamLocalForwarding no
GatewayPorts no
PermitTunnel no
X11Forwarding no
Subsystem sftp internal-sftp
SetEnv`)
	for _, kv := range env {
		b.WriteString(" " + sshdQuote(kv[0]+"="+kv[1]))
	}
	b.WriteString("\n")
	return b.String()
}

// sshdQuote quotes an sshd_config argument: double quotes, with
// backslashes and quotes escaped as sshd's argument splitter expects.
func sshdQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// profileText is /etc/profile and /etc/bashrc: the same environment for
// login and interactive shells of ssh sessions.
func profileText(env [][2]string) string {
	var b strings.Builder
	b.WriteString("# Written by nix-image: the image's environment for shells of ssh sessions,\n# which do not inherit the container's.\n")
	for _, kv := range env {
		fmt.Fprintf(&b, "export %s=%s\n", kv[0], shellQuote(kv[1]))
	}
	return b.String()
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// AuthorizedKeysStep returns a step whose output holds, in
// nixstep.AuthorizedKeysFile, the content of the build secret
// authorized_keys (--secret id=authorized_keys,src=FILE), empty without
// one, checked by the frontend's `step authorized-keys` (which refuses
// private keys). The frontend reads it into Options.AuthorizedKeys: the
// layer is then keyed on the content, whereas BuildKit keys no cache on a
// secret's content, so the step runs in every build (it is small) and a
// key removed from the file is gone from the next image.
func AuthorizedKeysStep(opt Options) llb.State {
	step := nixstep.AuthorizedKeysStep{Tool: opt.Tool}
	return step.Run(onBuilder(opt), llb.WithCustomName("[nix-image] read the build secret "+nixstep.AuthorizedKeysSecretID))
}

// startScript is the ssh image's Cmd (run by bash; it needs nothing but
// bash, coreutils and openssh). Host keys are made here, at the first
// start of each container, never at build time: an image with baked host
// keys gives every container the same ones (lnl7/nix-docker did).
// Arguments are passed on to sshd.
const startScript = `#!/run/current-system/sw/bin/bash
# Written by nix-image: starts sshd in the foreground, logging to stderr.
#
# Environment:
#   AUTHORIZED_KEYS  public keys to add to /root/.ssh/authorized_keys,
#                    one per line or separated by commas
#   SSHD_PORT        port to listen on instead of 22
set -euo pipefail
export PATH=/run/current-system/sw/bin
log() { echo "nix-image sshd: $*" >&2; }

# Privilege separation: sshd chroots into an empty directory, /var/empty
# or, when built for Debian's layout, /run/sshd.
mkdir -p /var/empty /run/sshd
chmod 0755 /run/sshd

mkdir -p ` + sshHostKeyDir + `
for type in ed25519 rsa; do
	key=` + sshHostKeyDir + `/ssh_host_${type}_key
	if [[ ! -s $key ]]; then
		rm -f "$key" "$key.pub"
		ssh-keygen -q -t "$type" -N '' -C "nix-image host key" -f "$key"
		log "generated the $type host key $key"
	fi
	log "host key: $(ssh-keygen -l -f "$key")"
done

if [[ -n ${AUTHORIZED_KEYS:-} ]]; then
	# Private keys are PEM blocks; authorized_keys lines never are.
	if [[ $AUTHORIZED_KEYS == *-----BEGIN* ]]; then
		log "AUTHORIZED_KEYS holds a PEM block, such as a private key: give the public key (the line in ~/.ssh/id_ed25519.pub)"
		exit 1
	fi
	mkdir -p -m 0700 /root/.ssh
	file=/root/.ssh/authorized_keys
	touch "$file"
	chmod 0600 "$file"
	# A last line without its newline would run into the first key added.
	if [[ -s $file && -n $(tail -c 1 "$file") ]]; then
		echo >>"$file"
	fi
	# Split on newlines, and on commas that start a new key (a comma inside
	# a key's options, as in no-pty,from="...", stays).
	keys=$AUTHORIZED_KEYS
	for t in ssh- ecdsa- sk-; do
		keys=${keys//,$t/$'\n'$t}
		keys=${keys//, $t/$'\n'$t}
	done
	added=0
	while IFS= read -r line; do
		line=${line#"${line%%[![:space:]]*}"}
		[[ -z $line || $line == "#"* ]] && continue
		exists=no
		while IFS= read -r have || [[ -n $have ]]; do
			if [[ $have == "$line" ]]; then
				exists=yes
				break
			fi
		done <"$file"
		if [[ $exists == no ]]; then
			printf '%s\n' "$line" >>"$file"
			added=$((added + 1))
		fi
	done <<<"$keys"
	log "added $added key(s) from AUTHORIZED_KEYS to $file"
fi

count=0
for f in /root/.ssh/authorized_keys /root/.ssh/authorized_keys2 ` + sshAuthorizedKeys + `/root; do
	[[ -f $f ]] || continue
	while IFS= read -r line || [[ -n $line ]]; do
		if [[ -n $line && $line != "#"* ]]; then
			count=$((count + 1))
		fi
	done <"$f"
done
if ((count == 0)); then
	log "WARNING: no authorized key configured: nobody can log in. Pass -e AUTHORIZED_KEYS=\"\$(cat ~/.ssh/id_ed25519.pub)\", build with --secret id=` + nixstep.AuthorizedKeysSecretID + `,src=FILE, or list images.ssh.authorizedKeys in nix-image.yaml"
else
	log "$count authorized key(s) for root"
fi

args=(-D -e)
if [[ -n ${SSHD_PORT:-} ]]; then
	if [[ ! $SSHD_PORT =~ ^[0-9]+$ ]]; then
		log "SSHD_PORT=$SSHD_PORT is not a port number"
		exit 1
	fi
	args+=(-p "$SSHD_PORT")
fi
# sshd re-executes itself for every connection: it needs its absolute path.
exec /run/current-system/sw/bin/sshd "${args[@]}" "$@"
`
