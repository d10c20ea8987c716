package spec

import (
	"cmp"
	"maps"
	"slices"
	"strings"
)

// Build args that override spec values (docker buildx build --build-arg
// NAME=VALUE). Empty values are ignored, so that bake files can declare
// them all with "" defaults.
const (
	ArgNixVersion        = "NIX_VERSION"
	ArgNixReleases       = "NIX_RELEASES"
	ArgNixURL            = "NIX_URL"
	ArgNixSHA256         = "NIX_SHA256"
	ArgNixpkgsURL        = "NIXPKGS_URL"
	ArgNixpkgsSHA256     = "NIXPKGS_SHA256"
	ArgNixpkgsNarHash    = "NIXPKGS_NAR_HASH"
	ArgSubstituters      = "SUBSTITUTERS"
	ArgTrustedPublicKeys = "TRUSTED_PUBLIC_KEYS"
	ArgExtraPackages     = "EXTRA_PACKAGES"
)

// Proxy build args, taken as the Dockerfile frontend takes them (in any
// case: HTTP_PROXY or http_proxy). They override no spec value: the build
// steps that reach the network get them in their environment.
const (
	ArgHTTPProxy  = "HTTP_PROXY"
	ArgHTTPSProxy = "HTTPS_PROXY"
	ArgFTPProxy   = "FTP_PROXY"
	ArgNoProxy    = "NO_PROXY"
	ArgAllProxy   = "ALL_PROXY"
)

// ApplyBuildArgs overrides spec values with build args, then validates the
// result. Unknown args are ignored, as docker does. On failure it returns
// a *ErrorList whose errors have Path "build-arg:NAME" and a zero Pos, and
// s is left unchanged.
func (s *Spec) ApplyBuildArgs(args map[string]string) error {
	c := s.clone()
	var errs ErrorList
	fail := func(arg, msg string) {
		errs = append(errs, &Error{Path: "build-arg:" + arg, Msg: msg})
	}
	arg := func(name string) (string, bool) {
		v := strings.TrimSpace(args[name])
		return v, v != ""
	}
	set := func(p, name string) { c.src.args[p] = name }

	version, hasVersion := arg(ArgNixVersion)
	nixURL, hasURL := arg(ArgNixURL)
	nixSHA, hasSHA := arg(ArgNixSHA256)
	switch {
	case hasVersion && hasURL:
		fail(ArgNixURL, "NIX_URL and NIX_VERSION are exclusive: give a version, or a url with NIX_SHA256")
	case hasVersion:
		c.Nix = Nix{Version: version, Releases: cmp.Or(c.Nix.Releases, DefaultNixReleases)}
		set("nix.version", ArgNixVersion)
		if hasSHA {
			fail(ArgNixSHA256, "NIX_SHA256 is only used with NIX_URL; with NIX_VERSION the sha256 is read from the release")
		}
	case hasURL && !hasSHA:
		fail(ArgNixURL, "NIX_URL needs NIX_SHA256, the sha256 of the tarball (sha256sum nix-*.tar.xz)")
	case hasURL:
		c.Nix = Nix{URL: nixURL}
		setNixSHA256(&c.Nix, nixSHA)
		set("nix.url", ArgNixURL)
		set("nix.sha256", ArgNixSHA256)
	case hasSHA && c.Nix.URL == "":
		fail(ArgNixSHA256, "NIX_SHA256 is only used with NIX_URL (or a spec that sets nix.url)")
	case hasSHA:
		setNixSHA256(&c.Nix, nixSHA)
		set("nix.sha256", ArgNixSHA256)
	}
	if releases, ok := arg(ArgNixReleases); ok {
		if c.Nix.URL != "" {
			fail(ArgNixReleases, "NIX_RELEASES is only used with a Nix version, but the Nix tarball is given by url; set NIX_VERSION too")
		} else {
			c.Nix.Releases = releases
			set("nix.releases", ArgNixReleases)
		}
	}

	pkgsURL, hasPkgsURL := arg(ArgNixpkgsURL)
	pkgsSHA, hasPkgsSHA := arg(ArgNixpkgsSHA256)
	pkgsNar, hasPkgsNar := arg(ArgNixpkgsNarHash)
	switch {
	case hasPkgsSHA && hasPkgsNar:
		fail(ArgNixpkgsNarHash, "NIXPKGS_SHA256 and NIXPKGS_NAR_HASH are exclusive: pin the tarball file or its unpacked tree, not both")
	case hasPkgsURL && !hasPkgsSHA && !hasPkgsNar:
		// The spec's hash belongs to the spec's tarball.
		fail(ArgNixpkgsURL, "NIXPKGS_URL needs NIXPKGS_SHA256 ("+nixpkgsHashHowTo+") or NIXPKGS_NAR_HASH ("+nixpkgsNarHashHowTo+")")
	case hasPkgsNar:
		if hasPkgsURL {
			c.Nixpkgs.URL = pkgsURL
			set("nixpkgs.url", ArgNixpkgsURL)
		}
		c.Nixpkgs.NarHash = pkgsNar
		c.Nixpkgs.SHA256 = ""
		set("nixpkgs.narHash", ArgNixpkgsNarHash)
	default:
		if hasPkgsURL {
			c.Nixpkgs.URL = pkgsURL
			set("nixpkgs.url", ArgNixpkgsURL)
		}
		if hasPkgsSHA {
			c.Nixpkgs.SHA256 = pkgsSHA
			// The build arg's pin replaces the spec's, whichever kind.
			c.Nixpkgs.NarHash = ""
			set("nixpkgs.sha256", ArgNixpkgsSHA256)
		}
	}

	if v, ok := arg(ArgSubstituters); ok {
		c.Substituters = strings.Fields(v)
		set("substituters", ArgSubstituters)
	}
	if v, ok := arg(ArgTrustedPublicKeys); ok {
		c.TrustedPublicKeys = strings.Fields(v)
		set("trustedPublicKeys", ArgTrustedPublicKeys)
	}
	if v, ok := arg(ArgExtraPackages); ok {
		for _, pkg := range strings.Fields(v) {
			if !slices.Contains(c.Packages, pkg) {
				c.Packages = append(c.Packages, pkg)
				set(joinIndex("packages", len(c.Packages)-1), ArgExtraPackages)
			}
		}
	}

	if len(errs) == 0 {
		errs = c.validate()
	}
	if len(errs) > 0 {
		errs = dedupe(errs)
		errs.sort()
		return &errs
	}
	*s = *c
	return nil
}

// setNixSHA256 sets nix.sha256 from the build arg NIX_SHA256: one sha256,
// or SYSTEM=SHA256 pairs separated by spaces or commas, a sha256 per
// system for a NIX_URL with {system} (validate checks which one the URL
// needs).
func setNixSHA256(n *Nix, v string) {
	n.SHA256, n.SystemSHA256 = "", nil
	// An SRI sha256 ends in =, a pair has one before its sha256.
	if !strings.Contains(strings.TrimRight(v, "="), "=") {
		n.SHA256 = v
		return
	}
	n.SystemSHA256 = map[string]string{}
	for _, pair := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' }) {
		system, sum, _ := strings.Cut(pair, "=")
		n.SystemSHA256[system] = sum
	}
}

// clone returns a deep copy of s, so that a failed ApplyBuildArgs leaves s
// as it was.
func (s *Spec) clone() *Spec {
	c := *s
	c.System.Packages = slices.Clone(s.System.Packages)
	c.Packages = slices.Clone(s.Packages)
	c.Substituters = slices.Clone(s.Substituters)
	c.TrustedPublicKeys = slices.Clone(s.TrustedPublicKeys)
	c.NixConfig = maps.Clone(s.NixConfig)
	c.Nix.SystemSHA256 = maps.Clone(s.Nix.SystemSHA256)
	c.Config = cloneConfig(s.Config)
	c.Nixpkgs.Config.PermittedInsecurePackages = slices.Clone(s.Nixpkgs.Config.PermittedInsecurePackages)
	if s.Images != nil {
		c.Images = make(map[string]Image, len(s.Images))
		for name, img := range s.Images {
			img.Packages = slices.Clone(img.Packages)
			img.NixConfig = maps.Clone(img.NixConfig)
			img.AuthorizedKeys = slices.Clone(img.AuthorizedKeys)
			img.Config = cloneConfig(img.Config)
			c.Images[name] = img
		}
	}
	src := newSource("")
	if s.src != nil {
		src = &source{
			file: s.src.file,
			pos:  maps.Clone(s.src.pos),
			null: maps.Clone(s.src.null),
			bad:  maps.Clone(s.src.bad),
			args: maps.Clone(s.src.args),
		}
	}
	c.src = src
	return &c
}

func cloneConfig(c ImageConfig) ImageConfig {
	c.Env = maps.Clone(c.Env)
	c.Cmd = slices.Clone(c.Cmd)
	c.Entrypoint = slices.Clone(c.Entrypoint)
	c.Labels = maps.Clone(c.Labels)
	c.ExposedPorts = slices.Clone(c.ExposedPorts)
	return c
}
