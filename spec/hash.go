package spec

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// nixBase32Alphabet is Nix's base32 alphabet: digits and lowercase letters
// without e, o, u and t.
const nixBase32Alphabet = "0123456789abcdfghijklmnpqrsvwxyz"

// nixBase32Decode decodes Nix's base32, which is not RFC 4648: the string
// is written from the last 5-bit group to the first, so the first
// character holds the high bits of the last byte.
func nixBase32Decode(s string, size int) ([]byte, error) {
	if len(s) != (size*8+4)/5 {
		return nil, fmt.Errorf("expected %d characters, found %d", (size*8+4)/5, len(s))
	}
	out := make([]byte, size)
	for n := 0; n < len(s); n++ {
		c := s[len(s)-1-n]
		digit := strings.IndexByte(nixBase32Alphabet, c)
		if digit < 0 {
			return nil, fmt.Errorf("invalid character %q", c)
		}
		b := n * 5
		i, j := b/8, b%8
		out[i] |= byte(digit << j)
		carry := byte(digit >> (8 - j))
		if i+1 < size {
			out[i+1] |= carry
		} else if carry != 0 {
			return nil, fmt.Errorf("value does not fit in %d bytes", size)
		}
	}
	return out, nil
}

const sha256Forms = "64 hex digits, 52 Nix base32 characters (nix-prefetch-url prints these) or SRI sha256-<base64>"

// normalizeSHA256 accepts a sha256 as hex, Nix base32 or SRI (each also
// with Nix's "sha256:" prefix, SRI aside) and returns lowercase hex.
func normalizeSHA256(s string) (string, error) {
	var (
		sum []byte
		err error
	)
	switch body := strings.TrimPrefix(s, "sha256:"); {
	case strings.HasPrefix(s, "sha256-"):
		sum, err = base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "sha256-"))
		if err == nil && len(sum) != 32 {
			err = fmt.Errorf("decodes to %d bytes, not 32", len(sum))
		}
	case len(body) == 64:
		sum, err = hex.DecodeString(body)
	case len(body) == 52:
		sum, err = nixBase32Decode(body, 32)
	default:
		err = fmt.Errorf("length %d", len(body))
	}
	if err != nil {
		return "", fmt.Errorf("invalid sha256 %q (%v): expected %s", s, err, sha256Forms)
	}
	return hex.EncodeToString(sum), nil
}
