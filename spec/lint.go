package spec

import (
	"bufio"
	"bytes"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"
)

// LintRule is one check of `docker buildx build --call check`: a valid
// spec that is risky or does not do what it seems to.
type LintRule struct {
	Name        string
	Description string
	// check reports the rule's findings in a parsed spec; data is the
	// spec's source (for the `# syntax=` line, which YAML drops).
	check func(s *Spec, data []byte) []finding
}

// finding is one place a rule matched: a field path (located through
// the spec's positions), or a raw position.
type finding struct {
	path string
	pos  Pos
	msg  string
}

// LintWarning is one finding of a rule.
type LintWarning struct {
	Rule *LintRule
	// Pos is where in the source (zero when the value came from a build
	// arg).
	Pos  Pos
	Path string
	Msg  string
}

// RulesURL documents the rules.
const RulesURL = "https://github.com/nix-image/nix-image/blob/main/spec/README.md#lint-rules"

// LintRules are every rule, in the order they run.
var LintRules = []*LintRule{
	{
		Name:        "FrontendNotPinned",
		Description: "The # syntax= frontend should be pinned by digest",
		check:       checkSyntaxPinned,
	},
	{
		Name:        "NixpkgsNotPinnedToCommit",
		Description: "nixpkgs.url should name a commit, not a branch or tag",
		check:       checkNixpkgsCommit,
	},
	{
		Name:        "InsecureSubstituter",
		Description: "A substituter over plain HTTP needs a trusted public key of its own",
		check:       checkInsecureSubstituters,
	},
	{
		Name:        "SettingIgnoredAtBuild",
		Description: "This nixConfig setting only goes into the image's nix.conf; the build ignores it",
		check:       checkIgnoredSettings,
	},
}

// Lint runs every rule on s, whose source is data. The warnings are
// sorted by position.
func (s *Spec) Lint(data []byte) []LintWarning {
	var out []LintWarning
	for _, r := range LintRules {
		for _, f := range r.check(s, data) {
			w := LintWarning{Rule: r, Pos: f.pos, Path: f.path, Msg: f.msg}
			if f.path != "" {
				w.Pos, _ = s.Position(f.path)
			}
			out = append(out, w)
		}
	}
	sortWarnings(out)
	return out
}

func sortWarnings(l []LintWarning) {
	sort.SliceStable(l, func(i, j int) bool { return l[i].Pos.Line < l[j].Pos.Line })
}

var syntaxRE = regexp.MustCompile(`^#\s*(?i:syntax)\s*=\s*(\S+)`)

// syntaxLine returns the frontend named by the `# syntax=` directive at
// the top of data (before any line that is not a comment) and its line.
func syntaxLine(data []byte) (ref string, line int, ok bool) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		l := strings.TrimSpace(sc.Text())
		if l == "" {
			continue
		}
		if !strings.HasPrefix(l, "#") {
			return "", 0, false
		}
		if m := syntaxRE.FindStringSubmatch(l); m != nil {
			return m[1], n, true
		}
	}
	return "", 0, false
}

func checkSyntaxPinned(_ *Spec, data []byte) []finding {
	ref, line, ok := syntaxLine(data)
	if !ok || strings.Contains(ref, "@sha256:") {
		return nil
	}
	return []finding{{pos: Pos{Line: line, Col: 1}, msg: fmt.Sprintf(
		"frontend %s is not pinned by digest: the build follows whatever the tag points to; write %s@sha256:<digest> (docker buildx imagetools inspect %s prints it)",
		ref, ref, ref)}}
}

var (
	commitRE = regexp.MustCompile(`^[0-9a-f]{40}$`)
	// archiveRE finds the git ref of a forge's archive URL:
	// github.com/O/R/archive/REF.tar.gz (also refs/heads/REF, refs/tags/REF),
	// gitlab's /-/archive/REF/..., and /tarball/REF.
	archiveRE = regexp.MustCompile(`/(?:-/)?(?:archive|tarball)/((?:refs/(?:heads|tags)/)?[^/]+?)(?:\.tar\.gz|\.tar\.xz|\.tar\.bz2|\.tgz|\.zip)?(?:/|$)`)
	// channelRE matches nixpkgs channel tarballs (nixexprs of a channel
	// such as nixos-24.05), which move with the channel.
	channelRE = regexp.MustCompile(`^(?:channels\.nixos\.org|nixos\.org)$`)
)

func checkNixpkgsCommit(s *Spec, _ []byte) []finding {
	u, err := url.Parse(s.Nixpkgs.URL)
	if err != nil {
		return nil
	}
	if channelRE.MatchString(u.Hostname()) && strings.Contains(u.Path, "nixexprs") {
		return []finding{{path: "nixpkgs.url", msg: fmt.Sprintf(
			"%s is a channel's tarball, which changes with every channel update (and then no longer matches nixpkgs.sha256); pin a commit: https://github.com/NixOS/nixpkgs/archive/<commit>.tar.gz",
			s.Nixpkgs.URL)}}
	}
	m := archiveRE.FindStringSubmatch(u.Path)
	if m == nil || commitRE.MatchString(m[1]) {
		return nil
	}
	kind := "branch"
	if strings.HasPrefix(m[1], "refs/tags/") {
		kind = "tag"
	}
	return []finding{{path: "nixpkgs.url", msg: fmt.Sprintf(
		"%s names the %s %q, not a commit: when it moves, the tarball no longer matches nixpkgs.sha256; use the 40-hex commit id in the URL",
		s.Nixpkgs.URL, kind, strings.TrimPrefix(strings.TrimPrefix(m[1], "refs/heads/"), "refs/tags/"))}}
}

func checkInsecureSubstituters(s *Spec, _ []byte) []finding {
	ownKey := false
	for _, k := range s.TrustedPublicKeys {
		if k != DefaultTrustedPublicKey {
			ownKey = true
		}
	}
	noSigs := ""
	for _, p := range nixConfigPaths(s) {
		if m := s.nixConfigAt(p); strings.TrimSpace(m["require-sigs"]) == "false" {
			noSigs = joinKey(p, "require-sigs")
		}
	}
	var out []finding
	for i, sub := range s.Substituters {
		if !strings.HasPrefix(sub, "http://") {
			continue
		}
		p := joinIndex("substituters", i)
		switch {
		case noSigs != "":
			out = append(out, finding{path: p, msg: fmt.Sprintf(
				"substituter %s is plain HTTP and %s turns signature checks off in the image: anyone on the path can swap the store paths it serves; use https or keep require-sigs", sub, noSigs)})
		case !ownKey:
			out = append(out, finding{path: p, msg: fmt.Sprintf(
				"substituter %s is plain HTTP and trustedPublicKeys has no key of its own: its paths are accepted only if cache.nixos.org signed them; add the cache's public key to trustedPublicKeys, or use https", sub)})
		}
	}
	return out
}

// IgnoredAtBuild are the nix.conf settings a spec may put in nixConfig
// that look as if they steered the build but only reach the image's
// nix.conf: the realise step has a nix.conf of its own. Each maps to what
// to do instead.
var IgnoredAtBuild = map[string]string{
	"trusted-substituters": "list the cache in the top-level substituters field or nixConfig extra-substituters",
	"require-sigs":         "the build always checks signatures against trustedPublicKeys",
	"substitute":           "the build always substitutes from the substituters field",
	"netrc-file":           "the build reads its credentials from the build secret netrc (--secret id=netrc,src=FILE)",
}

func checkIgnoredSettings(s *Spec, _ []byte) []finding {
	var out []finding
	for _, p := range nixConfigPaths(s) {
		m := s.nixConfigAt(p)
		for _, k := range sortedKeys(m) {
			if hint, ok := IgnoredAtBuild[k]; ok {
				out = append(out, finding{path: joinKey(p, k), msg: fmt.Sprintf(
					"%s only goes into the image's /etc/nix/nix.conf: the build does not use it (%s)", k, hint)})
			}
		}
	}
	return out
}

// nixConfigPaths are the spec paths of every nixConfig map, top-level
// first.
func nixConfigPaths(s *Spec) []string {
	paths := []string{"nixConfig"}
	for _, name := range sortedKeys(s.Images) {
		paths = append(paths, joinField(joinKey("images", name), "nixConfig"))
	}
	return paths
}

func (s *Spec) nixConfigAt(p string) map[string]string {
	if p == "nixConfig" {
		return s.NixConfig
	}
	for name, img := range s.Images {
		if joinField(joinKey("images", name), "nixConfig") == p {
			return img.NixConfig
		}
	}
	return nil
}
