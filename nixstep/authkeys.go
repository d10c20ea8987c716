package nixstep

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/nix-image/nix-image/internal/sshkey"
)

// The ssh image's build secret step: it finds the build secret
// authorized_keys (absent when the build has none) at AuthorizedKeysSecret
// and writes it to AuthorizedKeysFile in OutDir, which the frontend reads.
const (
	AuthorizedKeysSecret = "/run/secrets/authorized_keys"
	AuthorizedKeysFile   = "authorized_keys"
)

// AuthorizedKeys copies the file secret, if it exists, to
// out/AuthorizedKeysFile, which is empty otherwise. A private key is
// refused: the content ends up in an image layer that anyone who pulls the
// image can read.
func AuthorizedKeys(secret, out string) error {
	data, err := os.ReadFile(secret)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("reading the build secret authorized_keys: %w", err)
	}
	switch err := sshkey.CheckFile(data); {
	case errors.Is(err, sshkey.ErrPrivateKey):
		return fmt.Errorf("the build secret authorized_keys holds a private key; it would be readable by anyone who pulls the image: give the public key instead (the line in ~/.ssh/id_ed25519.pub)")
	case err != nil:
		return fmt.Errorf("the build secret authorized_keys: %w", err)
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		data = append(data, '\n')
	}
	if err := os.WriteFile(filepath.Join(out, AuthorizedKeysFile), data, 0o644); err != nil {
		return fmt.Errorf("writing the build secret authorized_keys: %w", err)
	}
	return nil
}
