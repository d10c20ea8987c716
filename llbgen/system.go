// Package llbgen turns a resolved nix-image spec into BuildKit LLB. Its
// functions are pure: the same spec and options give byte-identical LLB,
// and nothing here talks to the daemon; the frontend resolves what needs
// I/O (install script hashes, named contexts) and passes it in Options.
package llbgen

import (
	"fmt"

	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// NixSystem returns the Nix system type of an OCI platform.
func NixSystem(p ocispecs.Platform) (string, error) {
	if p.OS != "linux" {
		return "", fmt.Errorf("platform %s/%s: Nix images are linux only", p.OS, p.Architecture)
	}
	switch p.Architecture {
	case "amd64":
		return "x86_64-linux", nil
	case "arm64":
		return "aarch64-linux", nil
	case "386":
		return "i686-linux", nil
	case "arm":
		switch p.Variant {
		case "v7", "":
			return "armv7l-linux", nil
		case "v6":
			return "armv6l-linux", nil
		}
	case "riscv64":
		return "riscv64-linux", nil
	case "ppc64le":
		return "powerpc64le-linux", nil
	}
	return "", fmt.Errorf("platform linux/%s%s has no Nix system type", p.Architecture, variantSuffix(p.Variant))
}

func variantSuffix(v string) string {
	if v == "" {
		return ""
	}
	return "/" + v
}
