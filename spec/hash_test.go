package spec

import (
	"strings"
	"testing"
)

// The pairs below were computed with Nix itself:
//
//	echo -n hello | sha256sum
//	nix-hash --type sha256 --to-base32 <hex>
//	nix hash to-sri --type sha256 <hex>
const (
	helloHex    = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
	helloBase32 = "094qif9n4cq4fdg459qzbhg1c6wywawwaaivx0k0x8xhbyx4vwic"
	helloSRI    = "sha256-LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ="
)

func TestNormalizeSHA256(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{in: helloHex, want: helloHex},
		{in: strings.ToUpper(helloHex), want: helloHex},
		{in: "sha256:" + helloHex, want: helloHex},
		{in: helloBase32, want: helloHex},
		{in: "sha256:" + helloBase32, want: helloHex},
		{in: helloSRI, want: helloHex},
		{in: "abc", err: "length 3"},
		{in: strings.Repeat("g", 64), err: "invalid byte"},
		{in: "e" + helloBase32[1:], err: `invalid character 'e'`},
		// The first character carries the top bits of the last byte; only
		// 0 and 1 fit.
		{in: "z" + helloBase32[1:], err: "does not fit"},
		{in: "sha256-AAAA", err: "decodes to 3 bytes"},
		{in: "sha256-!!!", err: "illegal base64"},
	}
	for _, tt := range tests {
		got, err := normalizeSHA256(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("normalizeSHA256(%q) error = %v, want it to contain %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("normalizeSHA256(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestNixBase32RoundTrip(t *testing.T) {
	sum, err := nixBase32Decode(helloBase32, 32)
	if err != nil {
		t.Fatal(err)
	}
	if got := nixBase32Encode(sum); got != helloBase32 {
		t.Errorf("encode(decode(%q)) = %q", helloBase32, got)
	}
}

// nixBase32Encode is the inverse of nixBase32Decode; the
// round trip checks the decoder's bit order.
func nixBase32Encode(h []byte) string {
	n := (len(h)*8 + 4) / 5
	out := make([]byte, n)
	for k := 0; k < n; k++ {
		b := k * 5
		i, j := b/8, b%8
		c := int(h[i]) >> j
		if i+1 < len(h) {
			c |= int(h[i+1]) << (8 - j)
		}
		out[n-1-k] = nixBase32Alphabet[c&0x1f]
	}
	return string(out)
}
