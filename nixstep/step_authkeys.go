package nixstep

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/frontend/gateway/client"
	"github.com/moby/buildkit/solver/pb"
	"github.com/nix-image/nix-image/internal/sshkey"
)

// The ssh image's build secret step (`step authorized-keys`): it finds
// the build secret AuthorizedKeysSecretID (absent when the build has
// none) at AuthorizedKeysSecret and writes it to AuthorizedKeysFile in
// OutDir, which the frontend reads (ReadAuthorizedKeys).
const (
	authorizedKeysStep = "authorized-keys"
	// AuthorizedKeysSecretID is the build secret whose content becomes
	// root's authorized_keys (--secret id=authorized_keys,src=FILE).
	AuthorizedKeysSecretID = "authorized_keys"
	AuthorizedKeysSecret   = SecretsDir + "/" + AuthorizedKeysSecretID
	AuthorizedKeysFile     = "authorized_keys"
)

// AuthorizedKeysStep is an authorized-keys step.
type AuthorizedKeysStep struct {
	// Tool is the frontend image (ToolDir).
	Tool llb.State
}

// Args is the step's argv.
func (AuthorizedKeysStep) Args() []string { return stepCommand(authorizedKeysStep) }

// Run returns the step's output, with the build's options opts. It runs
// in every build (BuildKit keys no cache on a secret's content), so that
// a key removed from the secret is gone from the next image.
func (s AuthorizedKeysStep) Run(opts ...llb.RunOption) llb.State {
	return runStep([]llb.RunOption{
		llb.Args(s.Args()),
		toolMount(s.Tool),
		llb.AddSecret(AuthorizedKeysSecret, llb.SecretID(AuthorizedKeysSecretID), llb.SecretOptional),
		llb.Network(pb.NetMode_NONE),
		llb.IgnoreCache,
	}, opts).AddMount(OutDir, llb.Scratch())
}

// runAuthorizedKeys is the authorized-keys step.
func runAuthorizedKeys(_ context.Context, args []string) error {
	if len(args) != 0 {
		return fmt.Errorf("step authorized-keys: usage: authorized-keys (it takes no arguments)")
	}
	return AuthorizedKeys(AuthorizedKeysSecret, OutDir)
}

// ReadAuthorizedKeys reads the checked secret (AuthorizedKeysFile) of an
// authorized-keys step's output: empty when the build has none.
func ReadAuthorizedKeys(ctx context.Context, out Output) ([]byte, error) {
	data, err := out.ReadFile(ctx, client.ReadRequest{Filename: AuthorizedKeysFile})
	if err != nil {
		return nil, fmt.Errorf("reading the build secret %s: %w", AuthorizedKeysSecretID, err)
	}
	return data, nil
}

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
