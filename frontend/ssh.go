package frontend

import (
	"context"
	"fmt"

	"github.com/moby/buildkit/frontend/dockerui"
	"github.com/moby/buildkit/frontend/gateway/client"
	"github.com/nix-image/nix-image/llbgen"
	"github.com/nix-image/nix-image/nixstep"
	"github.com/nix-image/nix-image/spec"
)

// loadAuthorizedKeys reads the build secret authorized_keys of the ssh
// image (--secret id=authorized_keys,src=FILE) into opt. The content
// becomes part of the image's LLB, so its layer is keyed on it.
func loadAuthorizedKeys(ctx context.Context, c client.Client, bc *dockerui.Client, r *spec.Resolved, opt *llbgen.Options) error {
	if !r.SSHServer {
		return nil
	}
	ref, err := solve(ctx, c, bc, llbgen.AuthorizedKeysStep(*opt), opt.Platform)
	if err != nil {
		return fmt.Errorf("nix-image: the build secret authorized_keys: %w", err)
	}
	data, err := nixstep.ReadAuthorizedKeys(ctx, ref)
	if err != nil {
		return fmt.Errorf("nix-image: %w", err)
	}
	opt.AuthorizedKeys = data
	return nil
}
