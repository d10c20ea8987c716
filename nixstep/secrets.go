package nixstep

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/buildkit/client/llb"
)

// Build secrets of the realise step (docker buildx build --secret id=ID,...).
// llbgen mounts each at SecretPath(ID), optionally: a build without one
// has no file there. BuildKit keys no cache on a secret's content and
// writes it to no layer.
const (
	// NetrcSecret is a netrc file with the credentials of private binary
	// caches (Nix's netrc-file; the substituter check uses it too).
	NetrcSecret = "netrc"
	// AccessTokensSecret is the value of Nix's access-tokens setting
	// (host=token, separated by spaces or lines).
	AccessTokensSecret = "nix-access-tokens"
	// CASecret is a PEM bundle of CA certificates added to the release's
	// for HTTPS caches behind a private CA.
	CASecret = "nix-ca"
)

// RealiseSecrets are the build secrets the realise step reads.
var RealiseSecrets = []string{NetrcSecret, AccessTokensSecret, CASecret}

// SecretsDir is where steps find their build secrets.
const SecretsDir = "/run/secrets"

// SecretPath is where the build secret id is mounted in a step.
func SecretPath(id string) string {
	return SecretsDir + "/" + id
}

// secretMounts mounts the build secrets of the realise and layer steps
// (RealiseSecrets), each optional, at SecretPath. Only their ids are in
// the LLB: BuildKit hands their content to the step's container (a tmpfs
// file) and keys no cache on it, so the step's cache key is the same with
// or without them and a changed secret does not re-run the step.
func secretMounts() llb.RunOption {
	var opts runOptions
	for _, id := range RealiseSecrets {
		opts = append(opts, llb.AddSecret(SecretPath(id), llb.SecretID(id), llb.SecretOptional))
	}
	return opts
}

// runOptions applies several run options as one.
type runOptions []llb.RunOption

func (o runOptions) SetRunOption(ei *llb.ExecInfo) {
	for _, opt := range o {
		opt.SetRunOption(ei)
	}
}

// readSecret returns the content of the build secret at p, or nil when
// the build has none.
func readSecret(p string) ([]byte, error) {
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the build secret %s: %w", filepath.Base(p), err)
	}
	return data, nil
}

// netrcLogin is the login of one machine of a netrc file.
type netrcLogin struct {
	login, password string
}

// parseNetrc reads the machine, default, login and password entries of a
// netrc file (the subset curl, and so Nix, uses for binary caches); the
// login of machine "" is the default entry's. Lines starting with # are
// comments; macdef is not supported. Errors name keywords and machines
// only, never another word of the file: it may be a password.
func parseNetrc(data []byte) (map[string]netrcLogin, error) {
	var words []string
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		words = append(words, strings.Fields(line)...)
	}
	logins := map[string]netrcLogin{}
	machine, inEntry := "", false
	for i := 0; i < len(words); i++ {
		switch w := words[i]; w {
		case "default":
			machine, inEntry = "", true
		case "macdef":
			return nil, fmt.Errorf("the build secret %s: macdef is not supported", NetrcSecret)
		case "machine", "login", "password", "account":
			if i+1 >= len(words) {
				return nil, fmt.Errorf("the build secret %s: %s lacks its value", NetrcSecret, w)
			}
			i++
			v := words[i]
			switch {
			case w == "machine":
				// curl uses the first entry of a machine.
				_, seen := logins[v]
				machine, inEntry = v, !seen
			case w == "account" || !inEntry:
			case w == "login":
				l := logins[machine]
				l.login = v
				logins[machine] = l
			default:
				l := logins[machine]
				l.password = v
				logins[machine] = l
			}
		default:
			return nil, fmt.Errorf("the build secret %s: a word that is no netrc keyword (machine, default, login, password, account) follows the entry of machine %q; a password with spaces cannot be written in netrc", NetrcSecret, machine)
		}
	}
	return logins, nil
}

// loginFor returns the netrc login for a host name: its machine entry or
// the default one. curl matches machines by host name, without the port.
func loginFor(logins map[string]netrcLogin, host string) (netrcLogin, bool) {
	if l, ok := logins[host]; ok {
		return l, true
	}
	l, ok := logins[""]
	return l, ok
}

// accessTokens returns the build secret nix-access-tokens as the value of
// one nix.conf line.
func accessTokens(data []byte) string {
	return strings.Join(strings.Fields(string(data)), " ")
}

// appendCA writes the release's CA bundle (if any) followed by the
// certificates of the build secret nix-ca to dst, and returns dst; without
// the secret it returns the release's bundle unchanged.
func appendCA(release string, extra []byte, dst string) (string, error) {
	if len(extra) == 0 {
		return release, nil
	}
	if !bytes.Contains(extra, []byte("-----BEGIN CERTIFICATE-----")) {
		return "", fmt.Errorf("the build secret %s holds no PEM certificate (-----BEGIN CERTIFICATE-----)", CASecret)
	}
	var bundle []byte
	if release != "" {
		data, err := os.ReadFile(release)
		if err != nil {
			return "", fmt.Errorf("reading the release's CA bundle: %w", err)
		}
		bundle = append(data, '\n')
	}
	bundle = append(bundle, extra...)
	if err := os.WriteFile(dst, bundle, 0o644); err != nil {
		return "", fmt.Errorf("writing the CA bundle: %w", err)
	}
	return dst, nil
}
