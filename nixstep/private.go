package nixstep

import (
	"crypto/x509"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
)

// buildSettings returns the nix.conf lines the spec and the build secrets
// add to the realising Nix's: the spec's build-time nixConfig settings,
// then netrc-file and access-tokens when the build has those secrets.
// nix.conf is in the step's tmpfs: it is no part of any output.
func (r *realiser) buildSettings() ([]string, error) {
	var lines []string
	keys := make([]string, 0, len(r.cfg.NixConfig))
	for k := range r.cfg.NixConfig {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		lines = append(lines, k+" = "+r.cfg.NixConfig[k])
	}
	netrc, err := readSecret(filepath.Join(r.secrets, NetrcSecret))
	if err != nil {
		return nil, err
	}
	if netrc != nil {
		if r.netrc, err = parseNetrc(netrc); err != nil {
			return nil, err
		}
		lines = append(lines, "netrc-file = "+filepath.Join(r.secrets, NetrcSecret))
	}
	tokens, err := readSecret(filepath.Join(r.secrets, AccessTokensSecret))
	if err != nil {
		return nil, err
	}
	if t := accessTokens(tokens); t != "" {
		lines = append(lines, "access-tokens = "+t)
	}
	return lines, nil
}

// caBundle returns the CA bundle of the realising Nix and of the
// substituter check: the release's, followed by the build secret nix-ca's
// certificates when the build has it.
func (r *realiser) caBundle(release string) (string, error) {
	extra, err := readSecret(filepath.Join(r.secrets, CASecret))
	if err != nil {
		return "", err
	}
	return appendCA(release, extra, r.scratchPath("ca-bundle.crt"))
}

// substituter is a binary cache of the realising Nix and the spec field
// that names it.
type substituter struct {
	url, where string
}

// substituters returns the binary caches the realising Nix uses: the
// substituters, then nixConfig's extra-substituters.
func (r *realiser) substituters() []substituter {
	var subs []substituter
	for _, s := range r.cfg.Substituters {
		subs = append(subs, substituter{s, r.cfg.SubstitutersWhere})
	}
	for _, s := range strings.Fields(r.cfg.NixConfig["extra-substituters"]) {
		subs = append(subs, substituter{s, r.cfg.ExtraSubstitutersWhere})
	}
	return subs
}

// caHint tells how to trust a cache whose certificate is signed by an
// unknown CA.
func caHint(err error) string {
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		return ""
	}
	return fmt.Sprintf("; if its certificate is signed by a private CA, pass the CA's certificate as the build secret %s (--secret id=%s,src=ca.pem)", CASecret, CASecret)
}

// refused is the error of a cache that answered 401 or 403: it names the
// credentials the build has, or the build secret that would hold them.
func refused(s, where, u, status, host string, hasLogin bool) error {
	if hasLogin {
		return fmt.Errorf("substituter %s (%s) refused the credentials for machine %s of the build secret %s: GET %s answered %s",
			s, where, host, NetrcSecret, u, status)
	}
	return fmt.Errorf("substituter %s (%s) needs credentials: GET %s answered %s; pass a netrc file with a line `machine %s login USER password PASSWORD` as the build secret %s (--secret id=%s,src=$HOME/.netrc)",
		s, where, u, status, host, NetrcSecret, NetrcSecret)
}
