// Package rules holds the patterns a spec's values must match. The spec
// validator and the JSON Schema generator both use them, so the schema
// and Parse cannot drift apart.
package rules

// Regular expressions, in the syntax shared by Go's regexp and JSON Schema.
const (
	// NixVersion is a Nix release number such as 2.33.3 or 2.4pre.
	NixVersion = `^\d+\.\d+(\.\d+)?([a-z0-9.+-]*)?$`
	// AttrPath is a nixpkgs attribute path such as python3Packages.requests.
	AttrPath = `^[A-Za-z_][A-Za-z0-9_'-]*(\.[A-Za-z_][A-Za-z0-9_'-]*)*$`
	// NixConfigKey is a nix.conf setting name.
	NixConfigKey = `^[a-z][a-z0-9-]*$`
	// EnvKey is an environment variable name.
	EnvKey = `^[A-Za-z_][A-Za-z0-9_]*$`
	// ExposedPort is a port with an optional protocol; the number must
	// also be in 1..65535.
	ExposedPort = `^(\d{1,5})(/(tcp|udp|sctp))?$`
)
