// Package sshkey checks OpenSSH public keys as sshd reads them from an
// authorized_keys file. The spec's authorizedKeys and the ssh image's
// build secret authorized_keys follow the same rules, and both refuse a
// private key: what they hold ends up in an image layer that anyone who
// pulls the image can read.
package sshkey

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"
)

// Types are the OpenSSH public key types sshd accepts today.
var Types = []string{
	"ssh-ed25519", "ssh-rsa",
	"ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
	"sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
}

// ErrPrivateKey is returned for text that holds a private key.
var ErrPrivateKey = errors.New("this is a private key, not a public one")

// Check checks one public key line without options:
// `<type> <base64> [comment]`, the form of ~/.ssh/id_ed25519.pub.
func Check(line string) error {
	if strings.Contains(line, "PRIVATE KEY") {
		return ErrPrivateKey
	}
	// sshd separates the fields with spaces and tabs only.
	f := strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == '\t' })
	if len(f) < 2 {
		return fmt.Errorf("expected <type> <base64> [comment]")
	}
	return checkKey(f[0], f[1])
}

// checkKey checks a key's type and its base64 blob, which starts with the
// same type and must parse as a key of that type.
func checkKey(typ, data string) error {
	if !slices.Contains(Types, typ) {
		return fmt.Errorf("unsupported key type %q (supported: %s)", typ, strings.Join(Types, ", "))
	}
	blob, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		return fmt.Errorf("key data is not base64")
	}
	if len(blob) < 4 {
		return fmt.Errorf("key data too short")
	}
	n := binary.BigEndian.Uint32(blob)
	if uint64(n) > uint64(len(blob)-4) || !bytes.Equal(blob[4:4+n], []byte(typ)) {
		return fmt.Errorf("key data does not hold a %s key", typ)
	}
	if _, err := ssh.ParsePublicKey(blob); err != nil {
		return fmt.Errorf("key data is not a valid %s key: %v", typ, err)
	}
	return nil
}

// CheckFile checks the content of an authorized_keys file: every line
// that is neither blank nor a comment is a public key, optionally after
// sshd's options (`from="10.0.0.0/8" ssh-ed25519 AAAA...`). Errors name
// the line.
func CheckFile(data []byte) error {
	if bytes.Contains(data, []byte("PRIVATE KEY")) {
		return ErrPrivateKey
	}
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
		if err != nil {
			return fmt.Errorf("line %d: not an authorized_keys line (%v); expected a line such as \"ssh-ed25519 AAAAC3Nza... user@host\"", i+1, err)
		}
		if !slices.Contains(Types, key.Type()) {
			return fmt.Errorf("line %d: unsupported key type %q (supported: %s)", i+1, key.Type(), strings.Join(Types, ", "))
		}
	}
	return nil
}
