package nixstep

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// AuthorizedKeysSecret is where the ssh image's build step finds the build
// secret authorized_keys (absent when the build has none).
const AuthorizedKeysSecret = "/run/secrets/authorized_keys"

// AuthorizedKeys writes out/root/.ssh (mode 0700) and, when the file
// secret exists, its content as out/root/.ssh/authorized_keys (0600). A
// private key is refused: whatever this writes ends up in an image layer
// that anyone who pulls the image can read.
func AuthorizedKeys(secret, out string) error {
	data, readErr := os.ReadFile(secret)
	if readErr != nil && !errors.Is(readErr, fs.ErrNotExist) {
		return fmt.Errorf("reading the build secret authorized_keys: %w", readErr)
	}
	if bytes.Contains(data, []byte("PRIVATE KEY")) {
		return fmt.Errorf("the build secret authorized_keys holds a private key; it would be readable by anyone who pulls the image: give the public key instead (the line in ~/.ssh/id_ed25519.pub)")
	}
	dir := filepath.Join(out, "root", ".ssh")
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("creating %s: %w", d, err)
		}
		if err := os.Chmod(d, 0o700); err != nil {
			return fmt.Errorf("creating %s: %w", d, err)
		}
	}
	if readErr == nil {
		if len(data) > 0 && data[len(data)-1] != '\n' {
			data = append(data, '\n')
		}
		if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), data, 0o600); err != nil {
			return fmt.Errorf("writing root's authorized_keys: %w", err)
		}
	}
	return nil
}
