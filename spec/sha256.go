package spec

// SHA256Hex returns a sha256 given as hex, Nix base32 or SRI (each also
// with Nix's "sha256:" prefix, SRI aside) as lowercase hex, the form SPDX
// checksums and OCI digests use.
func SHA256Hex(s string) (string, error) { return normalizeSHA256(s) }
