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
	// FlakeOutput is a package that is an output of the spec's flake.
	FlakeOutput = `^\.#[A-Za-z_][A-Za-z0-9_'-]*(\.[A-Za-z_][A-Za-z0-9_'-]*)*$`
	// UserName is the login name of an image's user (images.<name>.user.name).
	UserName = `^[a-z_][a-z0-9_-]{0,31}$`
	// NixSystem is a Nix system type of Linux, such as aarch64-linux.
	NixSystem = `^[a-z0-9_]+-linux$`
	// PackageNameVersion is a derivation name with its version, as
	// nixpkgs' permittedInsecurePackages lists them (openssl-1.1.1w).
	PackageNameVersion = `^[A-Za-z0-9_+][A-Za-z0-9_+.-]*-[0-9][A-Za-z0-9_+.-]*$`
)

// Patterns the JSON Schema uses where Parse checks by code (decoding the
// hash, the key or the URL); they accept the same forms, less strictly.
const (
	// SHA256 is hex or Nix base32 (optionally after "sha256:"), or SRI.
	SHA256 = `^(sha256:)?([0-9a-fA-F]{64}|[0-9a-df-np-sv-z]{52})$|^sha256-[A-Za-z0-9+/]{43}=$`
	// HTTPURL is an http or https URL.
	HTTPURL = `^https?://[^\s/]+\S*$`
	// Substituter is a Nix store URL.
	Substituter = `^(daemon|local|(file|https?|s3|ssh|ssh-ng)://\S+)$`
	// TrustedPublicKey is name:base64 of 32 bytes.
	TrustedPublicKey = `^[^:\s]+:[A-Za-z0-9+/]{43}=$`
	// SSHPublicKey is an authorized_keys line without options.
	SSHPublicKey = `^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) AAAA[A-Za-z0-9+/]+={0,3}( [^\r\n]*)?$`
)
