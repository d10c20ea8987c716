package spec

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/nix-image/nix-image/internal/sshkey"
	"github.com/nix-image/nix-image/spec/internal/rules"
)

var (
	nixVersionRE  = regexp.MustCompile(rules.NixVersion)
	attrPathRE    = regexp.MustCompile(rules.AttrPath)
	nixConfKeyRE  = regexp.MustCompile(rules.NixConfigKey)
	envKeyRE      = regexp.MustCompile(rules.EnvKey)
	exposedPortRE = regexp.MustCompile(rules.ExposedPort)
	nameVersionRE = regexp.MustCompile(rules.PackageNameVersion)
	userNameRE    = regexp.MustCompile(rules.UserName)
	nixSystemRE   = regexp.MustCompile(rules.NixSystem)
)

// validator checks a defaulted Spec, normalising some values in place
// (hashes to hex, ports to N/proto), and collects every error.
type validator struct {
	s    *Spec
	errs ErrorList
}

// errorf records an error about path. It is located at the path's source
// position, or its nearest parent's when the value is missing, or named by
// the build arg that set it. Paths that already failed to decode are
// skipped.
func (v *validator) errorf(p, format string, args ...any) {
	src := v.s.src
	if src == nil {
		src = newSource("")
	}
	e := &Error{File: src.file, Path: p, Msg: fmt.Sprintf(format, args...)}
	if arg := v.s.overriddenBy(p); arg != "" {
		v.errs = append(v.errs, &Error{Path: "build-arg:" + arg, Msg: e.Msg})
		return
	}
	for q := p; ; q = parentPath(q) {
		if src.bad[q] {
			return
		}
		if pos, ok := src.pos[q]; ok && !e.Pos.IsValid() {
			e.Pos = pos
		}
		if q == "" {
			break
		}
	}
	v.errs = append(v.errs, e)
}

// validate checks s and returns every error found.
func (s *Spec) validate() ErrorList {
	v := &validator{s: s}
	if s.Version != 1 && (s.Version != 0 || s.wasWritten("version")) {
		v.errorf("version", "unsupported spec version %d: this frontend reads version 1", s.Version)
	}
	v.nix(&s.Nix)
	v.nixpkgs(&s.Nixpkgs)
	v.systemNix(&s.System)
	v.packages("system.packages", s.System.Packages)
	v.packages("packages", s.Packages)
	v.flake(s)
	v.expressions(s.Expressions)
	v.substituters(s.Substituters)
	v.trustedPublicKeys(s.TrustedPublicKeys)
	v.nixConfig("nixConfig", s.NixConfig)
	v.layers("layers", s.Layers)
	v.config("config", &s.Config)
	for _, name := range sortedKeys(s.Images) {
		p := joinKey("images", name)
		if name != TargetDefault && name != TargetSSH {
			v.errorf(p, "unknown image %q: valid images are %s", name, strings.Join(s.Targets(), ", "))
			continue
		}
		img := s.Images[name]
		v.packages(joinField(p, "packages"), img.Packages)
		v.nixConfig(joinField(p, "nixConfig"), img.NixConfig)
		if name != TargetSSH && len(img.AuthorizedKeys) > 0 {
			v.errorf(joinField(p, "authorizedKeys"), "authorizedKeys is only used by the ssh image (images.ssh.authorizedKeys)")
		} else {
			v.authorizedKeys(joinField(p, "authorizedKeys"), img.AuthorizedKeys)
		}
		v.layers(joinField(p, "layers"), img.Layers)
		v.config(joinField(p, "config"), &img.Config)
		v.user(p, name, img)
		s.Images[name] = img
	}
	return v.errs
}

// wasWritten reports whether path held a non-empty value in the source.
func (s *Spec) wasWritten(p string) bool {
	if s.src == nil {
		return false
	}
	_, ok := s.src.pos[p]
	return ok && !s.src.null[p]
}

func (v *validator) nix(n *Nix) {
	hasSHA := n.SHA256 != "" || len(n.SystemSHA256) > 0
	switch {
	case n.URL != "" && n.Version != "":
		v.errorf("nix.url", "nix.url and nix.version are exclusive: give a version (the tarball is found under nix.releases) or a url with its sha256")
	case n.URL != "":
		v.httpURL("nix.url", n.URL)
		switch {
		case !hasSHA && n.PerSystem():
			v.errorf("nix.url", "nix.url needs nix.sha256: a mapping from each Nix system type the build needs to the sha256 of its tarball (%s)", systemSHA256Example)
		case !hasSHA:
			v.errorf("nix.url", "nix.url needs nix.sha256, the sha256 of the tarball (sha256sum nix-*.tar.xz)")
		case n.PerSystem() && n.SHA256 != "":
			v.errorf("nix.sha256", "nix.url names %s, a tarball per Nix system type: give nix.sha256 as a mapping from system to sha256 (%s)", SystemPlaceholder, systemSHA256Example)
		case !n.PerSystem() && n.SHA256 == "":
			v.errorf("nix.sha256", "a sha256 per system needs %s in nix.url, where the system's name goes in each tarball's URL (nix-<version>-%s.tar.xz); a url without it is one system's tarball and takes one sha256", SystemPlaceholder, SystemPlaceholder)
		}
		if n.Releases != "" {
			v.errorf("nix.releases", "nix.releases is only used with nix.version, not with nix.url")
		}
	case hasSHA:
		v.errorf("nix.sha256", "nix.sha256 is only used with nix.url; with nix.version the sha256 is read from the release")
	}
	if n.Version != "" && !nixVersionRE.MatchString(n.Version) {
		v.errorf("nix.version", "invalid Nix version %q: expected a Nix release such as %s", n.Version, DefaultNixVersion)
	}
	if n.Releases != "" {
		v.httpURL("nix.releases", n.Releases)
	}
	if n.SHA256 != "" {
		n.SHA256 = v.sha256("nix.sha256", n.SHA256)
	}
	for _, system := range sortedKeys(n.SystemSHA256) {
		p := joinKey("nix.sha256", system)
		if !nixSystemRE.MatchString(system) {
			v.errorf(p, "invalid Nix system type %q: expected one such as x86_64-linux or aarch64-linux", system)
			continue
		}
		n.SystemSHA256[system] = v.sha256(p, n.SystemSHA256[system])
	}
}

// systemSHA256Example shows nix.sha256 per system.
const systemSHA256Example = "x86_64-linux: <sha256>, aarch64-linux: <sha256>"

const nixpkgsHowTo = "a nixpkgs tarball such as https://github.com/NixOS/nixpkgs/archive/<commit>.tar.gz"
const nixpkgsHashHowTo = "the sha256 of the tarball file, from `nix-prefetch-url <url>` or `sha256sum` of the downloaded tarball"

const nixpkgsNarHashHowTo = "the NAR hash of the unpacked tree, as flake.lock's narHash or `nix-prefetch-url --unpack <url>`"

func (v *validator) nixpkgs(n *Nixpkgs) {
	v.nixpkgsConfig(&n.Config)
	if n.URL == "" && n.SHA256 == "" && n.NarHash == "" {
		v.errorf("nixpkgs", "nixpkgs is required: set nixpkgs.url to %s and nixpkgs.sha256 to %s (or nixpkgs.narHash to %s)", nixpkgsHowTo, nixpkgsHashHowTo, nixpkgsNarHashHowTo)
		return
	}
	if n.URL == "" {
		v.errorf("nixpkgs.url", "nixpkgs.url is required: %s", nixpkgsHowTo)
	} else {
		v.httpURL("nixpkgs.url", n.URL)
	}
	switch {
	case n.SHA256 != "" && n.NarHash != "":
		v.errorf("nixpkgs.narHash", "nixpkgs.sha256 and nixpkgs.narHash are exclusive: pin the tarball file (sha256) or its unpacked tree (narHash), not both")
	case n.NarHash != "":
		n.NarHash = v.narHash("nixpkgs.narHash", n.NarHash)
	case n.SHA256 == "":
		v.errorf("nixpkgs.sha256", "nixpkgs.sha256 is required: %s; or set nixpkgs.narHash to %s", nixpkgsHashHowTo, nixpkgsNarHashHowTo)
	default:
		n.SHA256 = v.sha256("nixpkgs.sha256", n.SHA256)
	}
}

// narHash checks a NAR hash and returns it in SRI form, as flake.lock
// and Nix's own messages write it.
func (v *validator) narHash(p, s string) string {
	h, err := normalizeSHA256(s)
	if err != nil {
		v.errorf(p, "%v", err)
		return s
	}
	sum, _ := hex.DecodeString(h)
	return "sha256-" + base64.StdEncoding.EncodeToString(sum)
}

func (v *validator) nixpkgsConfig(c *NixpkgsConfig) {
	p := "nixpkgs.config.permittedInsecurePackages"
	seen := map[string]int{}
	for i, name := range c.PermittedInsecurePackages {
		ip := joinIndex(p, i)
		if !nameVersionRE.MatchString(name) {
			v.errorf(ip, "invalid package name %q: expected the name and version of a package as nixpkgs' error names it, such as \"openssl-1.1.1w\"", name)
			continue
		}
		if j, ok := seen[name]; ok {
			v.errorf(ip, "duplicate package %q (already at %s)", name, joinIndex(p, j))
			continue
		}
		seen[name] = i
	}
}

func (v *validator) sha256(p, s string) string {
	h, err := normalizeSHA256(s)
	if err != nil {
		v.errorf(p, "%v", err)
		return s
	}
	return h
}

func (v *validator) httpURL(p, s string) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.ContainsAny(s, " \t\r\n") {
		v.errorf(p, "invalid URL %q: expected an http:// or https:// URL", s)
	}
}

func (v *validator) packages(p string, pkgs []string) {
	seen := map[string]int{}
	for i, pkg := range pkgs {
		ip := joinIndex(p, i)
		if attr, ok := strings.CutPrefix(pkg, FlakePrefix); ok {
			switch {
			case p == "system.packages" || strings.HasPrefix(p, "expressions"):
				v.errorf(ip, "%q is a flake output: only packages and images.<name>.packages may name them", pkg)
				continue
			case v.s.Flake == "":
				v.errorf(ip, "%q is an output of the spec's flake, but the spec has no flake: set flake to its directory in the build context (e.g. flake: .)", pkg)
				continue
			case !attrPathRE.MatchString(attr):
				v.errorf(ip, "invalid flake output %q: expected .#ATTR with an attribute path such as .#mytool", pkg)
				continue
			}
		} else if !attrPathRE.MatchString(pkg) {
			v.errorf(ip, "invalid package attribute path %q: expected a nixpkgs attribute such as \"curl\" or \"python3Packages.requests\"", pkg)
			continue
		}
		if j, ok := seen[pkg]; ok {
			v.errorf(ip, "duplicate package %q (already at %s)", pkg, joinIndex(p, j))
			continue
		}
		seen[pkg] = i
	}
}

// systemNix checks system.nix, and that the release's Nix is not also
// asked for as the nixpkgs attribute.
func (v *validator) systemNix(sys *System) {
	switch sys.Nix {
	case SystemNixRelease:
		if i := slices.Index(sys.Packages, "nix"); i >= 0 {
			v.errorf(joinIndex("system.packages", i), "the system profile already has the Nix release of `nix:`; "+
				"remove nix from system.packages, or set system.nix: nixpkgs to use the nixpkgs attribute instead")
		}
	case SystemNixNixpkgs:
	default:
		v.errorf("system.nix", "invalid system.nix %q: expected %q (the Nix release of `nix:`, the default) or %q (the nixpkgs attribute nix)",
			sys.Nix, SystemNixRelease, SystemNixNixpkgs)
	}
}

var substituterSchemes = []string{"daemon", "file", "http", "https", "local", "s3", "ssh", "ssh-ng"}

func (v *validator) substituters(subs []string) {
	seen := map[string]int{}
	for i, s := range subs {
		p := joinIndex("substituters", i)
		if !validSubstituter(s) {
			v.errorf(p, "invalid substituter %q: expected a store URL with one of the schemes %s (e.g. https://cache.nixos.org)", s, strings.Join(substituterSchemes, ", "))
			continue
		}
		if j, ok := seen[s]; ok {
			v.errorf(p, "duplicate substituter %q (already at %s)", s, joinIndex("substituters", j))
			continue
		}
		seen[s] = i
	}
}

// validSubstituter accepts the store URLs of substituterSchemes, parsed
// with net/url: Nix reads the query as store settings
// (https://c.example?priority=40), so it may have one.
func validSubstituter(s string) bool {
	if strings.ContainsAny(s, " \t\r\n") {
		return false
	}
	// Nix names the local store and the daemon without "://".
	if s == "daemon" || s == "local" {
		return true
	}
	u, err := url.Parse(s)
	// url.Parse lowercases the scheme; Nix matches it as written.
	if err != nil || !slices.Contains(substituterSchemes, u.Scheme) || !strings.HasPrefix(s, u.Scheme+"://") {
		return false
	}
	switch u.Scheme {
	case "http", "https":
		return u.Host != "" && u.Fragment == ""
	case "file":
		return u.Path != ""
	default:
		return u.Host != "" || u.Path != ""
	}
}

func (v *validator) trustedPublicKeys(keys []string) {
	for i, k := range keys {
		name, key, ok := strings.Cut(k, ":")
		var raw []byte
		var err error
		if ok {
			raw, err = base64.StdEncoding.DecodeString(key)
		}
		if !ok || name == "" || strings.ContainsAny(k, " \t\r\n") || err != nil || len(raw) != 32 {
			v.errorf(joinIndex("trustedPublicKeys", i), "invalid trusted public key %q: expected <name>:<base64 of a 32-byte ed25519 key>, such as %s", k, DefaultTrustedPublicKey)
		}
	}
}

func (v *validator) nixConfig(p string, m map[string]string) {
	for _, k := range sortedKeys(m) {
		kp := joinKey(p, k)
		switch {
		case k == "substituters" || k == "trusted-public-keys":
			field := map[string]string{"substituters": "substituters", "trusted-public-keys": "trustedPublicKeys"}[k]
			v.errorf(kp, "set %s with the top-level %s field, not in nixConfig", k, field)
		case credentialKeys[k] != "":
			v.errorf(kp, "%s holds credentials, which nixConfig would write into the image's nix.conf: pass them as the build secret %s (--secret id=%s,env=VAR or src=FILE)", k, credentialKeys[k], credentialKeys[k])
		case !nixConfKeyRE.MatchString(k):
			v.errorf(kp, "invalid nix.conf setting name %q: expected lowercase words joined by dashes, such as max-jobs", k)
		case strings.ContainsAny(m[k], "\r\n"):
			v.errorf(kp, "nix.conf values are one line; %q contains a line break", k)
		}
	}
}

func (v *validator) layers(p string, n int) {
	if n < 0 || (n > 0 && n < MinLayers) || n > MaxLayers {
		v.errorf(p, "layers must be between %d and %d (0 or absent means %d), found %d", MinLayers, MaxLayers, DefaultLayers, n)
	}
}

func (v *validator) config(p string, c *ImageConfig) {
	for _, k := range sortedKeys(c.Env) {
		if !envKeyRE.MatchString(k) {
			v.errorf(joinKey(joinField(p, "env"), k), "invalid environment variable name %q: expected letters, digits and _, not starting with a digit", k)
		}
	}
	if c.WorkingDir != "" && !path.IsAbs(c.WorkingDir) {
		v.errorf(joinField(p, "workdir"), "workdir must be an absolute path, found %q", c.WorkingDir)
	}
	seen := map[string]int{}
	for i, port := range c.ExposedPorts {
		ip := joinIndex(joinField(p, "exposedPorts"), i)
		norm, ok := normalizePort(port)
		if !ok {
			v.errorf(ip, "invalid port %q: expected a port number 1-65535, optionally with /tcp, /udp or /sctp (e.g. 8080/tcp)", port)
			continue
		}
		if j, dup := seen[norm]; dup {
			v.errorf(ip, "duplicate port %q (already at %s)", port, joinIndex(joinField(p, "exposedPorts"), j))
			continue
		}
		seen[norm] = i
		c.ExposedPorts[i] = norm
	}
	if _, ok := c.Labels[""]; ok {
		v.errorf(joinKey(joinField(p, "labels"), ""), "label keys must not be empty")
	}
}

// normalizePort returns port as N/proto, the form OCI image configs use.
func normalizePort(port string) (string, bool) {
	m := exposedPortRE.FindStringSubmatch(port)
	if m == nil {
		return "", false
	}
	n, err := strconv.Atoi(m[1])
	if err != nil || n < 1 || n > 65535 {
		return "", false
	}
	proto := m[3]
	if proto == "" {
		proto = "tcp"
	}
	return strconv.Itoa(n) + "/" + proto, true
}

func (v *validator) authorizedKeys(p string, keys []string) {
	for i, k := range keys {
		ip := joinIndex(p, i)
		switch {
		case strings.Contains(k, "PRIVATE KEY"):
			v.errorf(ip, "this is a private key: authorizedKeys takes public keys (the line in ~/.ssh/id_ed25519.pub); a private key in a spec would be baked into the image for anyone who pulls it")
		case strings.ContainsAny(k, "\r\n"):
			v.errorf(ip, "one public key per list item; this item spans several lines")
		default:
			if err := sshkey.Check(k); err != nil {
				v.errorf(ip, "invalid ssh public key %q: %v; expected a line such as \"ssh-ed25519 AAAAC3Nza... user@host\"", shorten(k), err)
			}
		}
	}
}

// shorten keeps error messages readable when a whole key is quoted.
func shorten(s string) string {
	if len(s) <= 40 {
		return s
	}
	return s[:37] + "..."
}

// user checks images.<name>.user: a name and ids that clash with none of
// the image's own accounts, and no second say over the config's User.
func (v *validator) user(img, name string, i Image) {
	p := joinField(img, "user")
	u := i.User
	if !u.IsSet() {
		return
	}
	if name == TargetSSH {
		v.errorf(p, "the ssh image is root-only (sshd and the logins it accepts are root's); a user is only for images.%s", TargetDefault)
		return
	}
	switch {
	case u.Name == "":
		v.errorf(joinField(p, "name"), "user.name is required: the login name of the image's user, e.g. \"dev\"")
	case !userNameRE.MatchString(u.Name):
		v.errorf(joinField(p, "name"), "invalid user name %q: expected lowercase letters, digits, _ and -, starting with a letter or _, at most 32 characters", u.Name)
	case slices.Contains(ReservedUserNames, u.Name) || strings.HasPrefix(u.Name, "nixbld"):
		v.errorf(joinField(p, "name"), "user name %q is one of the image's own accounts or groups (%s, nixbld*)", u.Name, strings.Join(ReservedUserNames, ", "))
	}
	if u.UID == 0 {
		v.errorf(joinField(p, "uid"), "user.uid is required and must not be 0 (root is the image's default user already)")
	} else if err := checkID(u.UID, NixbldGID+1, NixbldGID+NixbldUsers, fmt.Sprintf("the Nix build users nixbld1..nixbld%d", NixbldUsers)); err != "" {
		v.errorf(joinField(p, "uid"), "invalid uid %d: %s", u.UID, err)
	}
	if u.GID != 0 {
		if err := checkID(u.GID, NixbldGID, NixbldGID, "the group nixbld"); err != "" {
			v.errorf(joinField(p, "gid"), "invalid gid %d: %s", u.GID, err)
		}
	}
	for _, c := range []string{"config.user", joinField(img, "config.user")} {
		if v.s.wasWritten(c) {
			v.errorf(p, "%s and %s both set the user the image runs as; keep one (user makes the account and sets the config's User to it)", p, c)
		}
	}
}

// checkID returns why an id cannot be an image user's or group's id, or "".
func checkID(id, lo, hi int, what string) string {
	switch {
	case id < 1 || id > 65533:
		return "expected 1..65533 (0 is root, 65534 nobody)"
	case id >= lo && id <= hi:
		return fmt.Sprintf("%d..%d are %s", lo, hi, what)
	}
	return ""
}

// expressions checks the local expressions: context paths and attribute
// paths.
func (v *validator) expressions(exprs []Expression) {
	for i, e := range exprs {
		p := joinIndex("expressions", i)
		if e.File == "" {
			v.errorf(joinField(p, "file"), "file is required: the path of a Nix file in the build context, e.g. nix/pkgs.nix")
		} else {
			v.contextPath(joinField(p, "file"), e.File)
		}
		if len(e.Attrs) == 0 {
			v.errorf(joinField(p, "attrs"), "attrs is required: the attributes of the file's value to install, e.g. [mytool]")
		}
		v.packages(joinField(p, "attrs"), e.Attrs)
		for j, inc := range e.Include {
			v.contextPath(joinIndex(joinField(p, "include"), j), inc)
		}
	}
}

// contextPath checks a path of the build context: relative, clean, inside.
func (v *validator) contextPath(p, file string) {
	switch {
	case path.IsAbs(file):
		v.errorf(p, "%q is absolute: paths of the build context are relative to it (e.g. nix/pkgs.nix)", file)
	case file == ".":
		v.errorf(p, "\".\" is the whole build context: name the file or directory the expression needs")
	case path.Clean(file) != file:
		v.errorf(p, "%q is not a clean path of the build context: write it as %q", file, path.Clean(file))
	case file == ".." || strings.HasPrefix(file, "../"):
		v.errorf(p, "%q is outside the build context", file)
	case strings.ContainsAny(file, "*?[\\"):
		v.errorf(p, "%q has a pattern character: name files and directories of the build context, not patterns", file)
	}
}

// flake checks the flake directory.
func (v *validator) flake(s *Spec) {
	if s.Flake != "" && s.Flake != "." {
		v.contextPath("flake", s.Flake)
	}
}
