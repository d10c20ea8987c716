package nixstep

import (
	"path"
	"strings"
)

// StoreName is a store path's name: its base without the hash
// (/nix/store/<hash>-curl-7.88.1-bin: curl-7.88.1-bin), as a derivation's
// name, and an output's after it, make it.
func StoreName(p string) string {
	base := path.Base(p)
	if _, name, ok := strings.Cut(base, "-"); ok {
		return name
	}
	return base
}
