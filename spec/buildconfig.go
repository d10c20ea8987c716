package spec

import "slices"

// BuildNixConfigKeys are the nixConfig settings that also configure the Nix
// that realises the closure at build time (besides the image's nix.conf):
// the ones that decide where and how store paths are downloaded. The rest
// (build users, sandboxing, experimental features, ...) only concern the
// image, whose build runs under nix-image's own settings.
var BuildNixConfigKeys = []string{
	"connect-timeout",
	"download-attempts",
	"extra-substituters",
	"extra-trusted-public-keys",
	"fallback",
	"http-connections",
	"http2",
	"max-substitution-jobs",
	"narinfo-cache-negative-ttl",
	"narinfo-cache-positive-ttl",
	"stalled-download-timeout",
}

// credentialKeys are nix.conf settings holding credentials: they come
// from build secrets, never from the spec, which ends up in the image's
// nix.conf and in the build's LLB. The value names the build secret.
var credentialKeys = map[string]string{
	"access-tokens": "nix-access-tokens",
}

// BuildNixConfig returns the settings of r.NixConfig in BuildNixConfigKeys,
// or nil if there are none.
func (r *Resolved) BuildNixConfig() map[string]string {
	var m map[string]string
	for k, v := range r.NixConfig {
		if slices.Contains(BuildNixConfigKeys, k) {
			if m == nil {
				m = map[string]string{}
			}
			m[k] = v
		}
	}
	return m
}

// NixConfigField returns the spec field that sets the nixConfig setting
// key of target: the image's own nixConfig, which wins, or the top-level
// one; "" if neither sets it.
func (s *Spec) NixConfigField(target, key string) string {
	if _, ok := s.Images[target].NixConfig[key]; ok {
		return joinKey(joinField(joinKey("images", target), "nixConfig"), key)
	}
	if _, ok := s.NixConfig[key]; ok {
		return joinKey("nixConfig", key)
	}
	return ""
}
