package frontend

import (
	"maps"
	"slices"
	"strings"

	"github.com/moby/buildkit/client/llb"
	"github.com/nix-image/nix-image/spec"
)

// proxyEnv collects the proxy build args, in any case, as the Dockerfile
// frontend does for its RUN steps: of two spellings of one arg
// (HTTP_PROXY, http_proxy) the one sorting last wins, the lower-case one.
// Empty values are ignored, like those of the other build args. It
// returns nil when no proxy is given.
func proxyEnv(args map[string]string) *llb.ProxyEnv {
	var pe llb.ProxyEnv
	fields := map[string]*string{
		spec.ArgHTTPProxy:  &pe.HTTPProxy,
		spec.ArgHTTPSProxy: &pe.HTTPSProxy,
		spec.ArgFTPProxy:   &pe.FTPProxy,
		spec.ArgNoProxy:    &pe.NoProxy,
		spec.ArgAllProxy:   &pe.AllProxy,
	}
	found := false
	for _, k := range slices.Sorted(maps.Keys(args)) {
		v := strings.TrimSpace(args[k])
		if f, ok := fields[strings.ToUpper(k)]; ok && v != "" {
			*f = v
			found = true
		}
	}
	if !found {
		return nil
	}
	return &pe
}
