package llbgen

import (
	"fmt"
	"strings"

	"github.com/moby/buildkit/client/llb"
	"github.com/nix-image/nix-image/spec"
	"github.com/opencontainers/go-digest"
)

// InstallScriptName is the file name of the official install script in
// the state InstallScript returns.
const InstallScriptName = "install"

// releaseDir is the directory of one Nix release under the releases URL.
func releaseDir(n spec.Nix) string {
	return strings.TrimSuffix(n.Releases, "/") + "/nix-" + n.Version
}

// InstallScript fetches the official install script of a Nix release. It
// lists the sha256 of every platform's tarball, which is how a version
// alone pins the tarball: the frontend reads it (ParseInstallHash) before
// fetching the tarball with that checksum. Only for specs without nix.url.
func InstallScript(n spec.Nix, opt Options) llb.State {
	url := InstallScriptURL(n)
	return llb.HTTP(url, stepOpts[llb.HTTPOption](opt, llb.Filename(InstallScriptName), llb.WithCustomName("[nix-image] fetch "+url))...)
}

// InstallScriptURL is where the official install script of the release n
// lives.
func InstallScriptURL(n spec.Nix) string {
	return releaseDir(n) + "/install"
}

// ReleaseTarballURL is where the release tarball of n for system lives.
func ReleaseTarballURL(n spec.Nix, system string) string {
	if n.URL != "" {
		return n.SystemURL(system)
	}
	return fmt.Sprintf("%s/nix-%s-%s.tar.xz", releaseDir(n), n.Version, system)
}

// ParseInstallHash finds the tarball sha256 for system in an official
// install script, whose `case "$(uname -s).$(uname -m)"` block has, per
// platform, a branch with `hash=<sha256>` and `system=<system>` lines.
func ParseInstallHash(script []byte, system string) (string, error) {
	for _, branch := range strings.Split(string(script), ";;") {
		var hash, sys string
		for _, line := range strings.Split(branch, "\n") {
			line = strings.TrimSpace(line)
			if v, ok := strings.CutPrefix(line, "hash="); ok {
				hash = strings.Trim(v, `"'`)
			}
			if v, ok := strings.CutPrefix(line, "system="); ok {
				sys = strings.Trim(v, `"'`)
			}
		}
		if sys != system {
			continue
		}
		if len(hash) != 64 || strings.Trim(hash, "0123456789abcdef") != "" {
			return "", fmt.Errorf("install script: hash for %s is %q, not a sha256", system, hash)
		}
		return hash, nil
	}
	return "", fmt.Errorf("install script has no tarball for %s", system)
}

// fetch downloads url, verified against the sha256 hex digest sum; a
// mismatch fails the build, naming both digests.
func fetch(url, sum, filename string, opts ...llb.ConstraintsOpt) llb.State {
	hopts := []llb.HTTPOption{
		llb.Checksum(digest.NewDigestFromEncoded(digest.SHA256, sum)),
		llb.Filename(filename),
		llb.WithCustomName("[nix-image] fetch " + url),
	}
	for _, o := range opts {
		hopts = append(hopts, o)
	}
	return llb.HTTP(url, hopts...)
}

// fetchUnverified downloads url without a checksum, for a source whose
// pin a later step checks (nixpkgs.narHash is a hash of the unpacked tree,
// not of the file).
func fetchUnverified(url, filename string, opts ...llb.ConstraintsOpt) llb.State {
	hopts := []llb.HTTPOption{llb.Filename(filename), llb.WithCustomName("[nix-image] fetch " + url)}
	for _, o := range opts {
		hopts = append(hopts, o)
	}
	return llb.HTTP(url, hopts...)
}
