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

// Build args of the build itself, which override no spec value.
const (
	// ArgSourceDateEpoch is the Unix time written into the image.
	ArgSourceDateEpoch = "SOURCE_DATE_EPOCH"
	// ArgMergeOp=false stacks the layers with copies even when the
	// daemon has MergeOp, as on daemons without it (Docker's classic
	// builder).
	ArgMergeOp = "NIX_IMAGE_MERGEOP"
	// ArgForeignBuilds=true lets the realise step of an image for another
	// platform than the builder's build the derivations no substituter
	// has, through the host's binfmt_misc emulation
	// (llbgen.Options.ForeignBuilds).
	ArgForeignBuilds = "NIX_IMAGE_FOREIGN_BUILDS"
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

// BuildArg is a build arg the frontend reads.
type BuildArg struct {
	Name string
	// Field is the spec field it overrides ("" for none): ApplyBuildArgs
	// records it there (Spec.OverriddenBy), and --call outline points at
	// the field's line.
	Field       string
	Description string
	// Value is the field's value in a resolved spec as the build arg
	// would give it (nil: --call outline shows only a given value).
	Value func(*Resolved) string
}

// BuildArgs are every build arg, in the order --call outline lists them.
var BuildArgs = []BuildArg{
	{ArgNixVersion, "nix.version", "Nix release: realises the image, and is its Nix unless system.nix is nixpkgs", func(r *Resolved) string { return r.Nix.Version }},
	{ArgNixReleases, "nix.releases", "base URL of Nix releases", func(r *Resolved) string { return r.Nix.Releases }},
	{ArgNixURL, "nix.url", "URL of a Nix release tarball (with NIX_SHA256)", func(r *Resolved) string { return r.Nix.URL }},
	{ArgNixSHA256, "nix.sha256", "sha256 of the Nix release tarball (SYSTEM=SHA256 pairs for a NIX_URL with {system})", nixSHA256Arg},
	{ArgNixpkgsURL, "nixpkgs.url", "URL of the nixpkgs tarball", func(r *Resolved) string { return r.Nixpkgs.URL }},
	{ArgNixpkgsSHA256, "nixpkgs.sha256", "sha256 of the nixpkgs tarball", func(r *Resolved) string { return r.Nixpkgs.SHA256 }},
	{ArgNixpkgsNarHash, "nixpkgs.narHash", "NAR hash of the unpacked nixpkgs tree (flake.lock narHash)", func(r *Resolved) string { return r.Nixpkgs.NarHash }},
	{ArgSubstituters, "substituters", "binary caches, space-separated", func(r *Resolved) string { return strings.Join(r.Substituters, " ") }},
	{ArgTrustedPublicKeys, "trustedPublicKeys", "keys of the binary caches, space-separated", func(r *Resolved) string { return strings.Join(r.TrustedPublicKeys, " ") }},
	{ArgExtraPackages, "packages", "nixpkgs attributes added to root's profile, space-separated", nil},
	{ArgSourceDateEpoch, "", "Unix time written into the image (default 0)", nil},
	{ArgMergeOp, "", "false: stack the layers with copies instead of MergeOp", nil},
	{ArgForeignBuilds, "", "true: an image for another platform than the builder's may build what no binary cache has, through the host's binfmt_misc emulation", nil},
	{ArgHTTPProxy, "", "proxy for http:// substituters, used by the realise step (also http_proxy)", nil},
	{ArgHTTPSProxy, "", "proxy for https:// substituters, used by the realise step (also https_proxy)", nil},
	{ArgFTPProxy, "", "proxy for ftp:// downloads of the realise step (also ftp_proxy)", nil},
	{ArgNoProxy, "", "hosts reached without the proxy, comma-separated (also no_proxy)", nil},
	{ArgAllProxy, "", "proxy for the schemes without their own, e.g. socks5://host:1080 (also all_proxy)", nil},
}

// fieldOf is the spec field the build arg name overrides, from
// BuildArgs.
func fieldOf(name string) string {
	for _, a := range BuildArgs {
		if a.Name == name {
			return a.Field
		}
	}
	panic("spec: no build arg " + name + " in BuildArgs")
}

// ApplyBuildArgs overrides spec values with build args, then validates the
// result. Unknown args are ignored, as docker does. On failure it returns
// an ErrorList whose errors have Path "build-arg:NAME" and a zero Pos, and
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
	// set records that the build arg name replaced its field.
	set := func(name string) { c.src.args[fieldOf(name)] = name }

	version, hasVersion := arg(ArgNixVersion)
	nixURL, hasURL := arg(ArgNixURL)
	nixSHA, hasSHA := arg(ArgNixSHA256)
	switch {
	case hasVersion && hasURL:
		fail(ArgNixURL, "NIX_URL and NIX_VERSION are exclusive: give a version, or a url with NIX_SHA256")
	case hasVersion:
		c.Nix = Nix{Version: version, Releases: cmp.Or(c.Nix.Releases, DefaultNixReleases)}
		set(ArgNixVersion)
		if hasSHA {
			fail(ArgNixSHA256, "NIX_SHA256 is only used with NIX_URL; with NIX_VERSION the sha256 is read from the release")
		}
	case hasURL && !hasSHA:
		fail(ArgNixURL, "NIX_URL needs NIX_SHA256, the sha256 of the tarball (sha256sum nix-*.tar.xz)")
	case hasURL:
		c.Nix = Nix{URL: nixURL}
		setNixSHA256(&c.Nix, nixSHA)
		set(ArgNixURL)
		set(ArgNixSHA256)
	case hasSHA && c.Nix.URL == "":
		fail(ArgNixSHA256, "NIX_SHA256 is only used with NIX_URL (or a spec that sets nix.url)")
	case hasSHA:
		setNixSHA256(&c.Nix, nixSHA)
		set(ArgNixSHA256)
	}
	if releases, ok := arg(ArgNixReleases); ok {
		if c.Nix.URL != "" {
			fail(ArgNixReleases, "NIX_RELEASES is only used with a Nix version, but the Nix tarball is given by url; set NIX_VERSION too")
		} else {
			c.Nix.Releases = releases
			set(ArgNixReleases)
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
			set(ArgNixpkgsURL)
		}
		c.Nixpkgs.NarHash = pkgsNar
		c.Nixpkgs.SHA256 = ""
		set(ArgNixpkgsNarHash)
	default:
		if hasPkgsURL {
			c.Nixpkgs.URL = pkgsURL
			set(ArgNixpkgsURL)
		}
		if hasPkgsSHA {
			c.Nixpkgs.SHA256 = pkgsSHA
			// The build arg's pin replaces the spec's, whichever kind.
			c.Nixpkgs.NarHash = ""
			set(ArgNixpkgsSHA256)
		}
	}

	if v, ok := arg(ArgSubstituters); ok {
		c.Substituters = strings.Fields(v)
		set(ArgSubstituters)
	}
	if v, ok := arg(ArgTrustedPublicKeys); ok {
		c.TrustedPublicKeys = strings.Fields(v)
		set(ArgTrustedPublicKeys)
	}
	if v, ok := arg(ArgExtraPackages); ok {
		for _, pkg := range strings.Fields(v) {
			if !slices.Contains(c.Packages, pkg) {
				c.Packages = append(c.Packages, pkg)
				c.src.args[joinIndex(fieldOf(ArgExtraPackages), len(c.Packages)-1)] = ArgExtraPackages
			}
		}
	}

	if len(errs) == 0 {
		errs = c.validate()
	}
	if len(errs) > 0 {
		errs = dedupe(errs)
		errs.sort()
		return errs
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

// nixSHA256Arg is nix.sha256 as the build arg NIX_SHA256 gives it: one
// sha256, or SYSTEM=SHA256 pairs.
func nixSHA256Arg(r *Resolved) string {
	if len(r.Nix.SystemSHA256) == 0 {
		return r.Nix.SHA256
	}
	var pairs []string
	for _, system := range slices.Sorted(maps.Keys(r.Nix.SystemSHA256)) {
		pairs = append(pairs, system+"="+r.Nix.SystemSHA256[system])
	}
	return strings.Join(pairs, " ")
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
