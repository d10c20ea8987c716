package frontend

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/containerd/platforms"
	"github.com/distribution/reference"
	intoto "github.com/in-toto/in-toto-golang/in_toto"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/frontend/attestations"
	bksbom "github.com/moby/buildkit/frontend/attestations/sbom"
	"github.com/moby/buildkit/frontend/dockerui"
	"github.com/moby/buildkit/frontend/gateway/client"
	gwpb "github.com/moby/buildkit/frontend/gateway/pb"
	"github.com/moby/buildkit/solver/result"
	"github.com/nix-image/nix-image/nixstep"
	"github.com/nix-image/nix-image/sbom"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// sbomBuilder makes the SBOM attestations of a build that asked for one
// (`--sbom=true`, frontend option attest:sbom): an SPDX document of the
// exact closure per platform, written by the frontend itself, so
// BuildKit pulls no scanner image. A scanner the user named
// (`--sbom=generator=IMAGE`) runs as well, as the Dockerfile frontend
// runs it.
type sbomBuilder struct {
	name    string
	epoch   time.Time
	scanner bksbom.Scanner

	mu      sync.Mutex
	docs    map[string][]byte
	targets map[string]llb.State
}

// newSBOMBuilder returns nil when the build asked for no SBOM.
func newSBOMBuilder(ctx context.Context, c client.Client, bc *dockerui.Client, target string, epoch time.Time) (*sbomBuilder, error) {
	if bc.SBOM == nil {
		return nil, nil
	}
	b := &sbomBuilder{name: target, epoch: epoch, docs: map[string][]byte{}, targets: map[string]llb.State{}}
	def, err := defaultSBOMGenerator()
	if err != nil {
		return nil, err
	}
	if bc.SBOM.Generator != def {
		p := bc.BuildPlatforms[0]
		b.scanner, err = bksbom.CreateSBOMScanner(ctx, c, bc.SBOM.Generator, p, sourceresolver.Opt{
			ImageOpt: &sourceresolver.ResolveImageOpt{
				ResolveMode: bc.BuildOpts().Opts["image-resolve-mode"],
				Platform:    &p,
			},
		}, bc.SBOM.Parameters)
		if err != nil {
			return nil, fmt.Errorf("nix-image: SBOM generator %s: %w", bc.SBOM.Generator, err)
		}
	}
	return b, nil
}

// defaultSBOMGenerator is the scanner BuildKit names when the user names
// none, in the form dockerui gives bc.SBOM.Generator.
func defaultSBOMGenerator() (string, error) {
	attrs, err := attestations.Parse(map[string]string{"attest:" + attestations.KeyTypeSbom: ""})
	if err != nil {
		return "", fmt.Errorf("nix-image: %w", err)
	}
	ref, err := reference.ParseNormalizedNamed(attrs[attestations.KeyTypeSbom]["generator"])
	if err != nil {
		return "", fmt.Errorf("nix-image: %w", err)
	}
	return reference.TagNameOnly(ref).String(), nil
}

// add makes the SPDX document of one platform's closure, reading the
// meta the realise step wrote next to it, and keeps the image state for
// a user's scanner.
func (b *sbomBuilder) add(ctx context.Context, realised client.Reference, closure *nixstep.Closure, p ocispecs.Platform, image llb.State) error {
	if b == nil {
		return nil
	}
	meta, err := nixstep.ReadMeta(ctx, realised)
	if err != nil {
		return fmt.Errorf("nix-image: %w", err)
	}
	id := platforms.FormatAll(platforms.Normalize(p))
	doc, err := sbom.Document(closure, meta, sbom.Options{Name: "nix-image " + b.name + " " + id, Created: b.epoch})
	if err != nil {
		return fmt.Errorf("nix-image: %w", err)
	}
	out, err := sbom.Marshal(doc)
	if err != nil {
		return fmt.Errorf("nix-image: %w", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.docs[id] = out
	b.targets[id] = image
	return nil
}

// attach adds every platform's attestations to the result.
func (b *sbomBuilder) attach(ctx context.Context, c client.Client, bc *dockerui.Client, rb *dockerui.ResultBuilder) error {
	if b == nil {
		return nil
	}
	return rb.EachPlatform(ctx, func(ctx context.Context, id string, p ocispecs.Platform) error {
		b.mu.Lock()
		doc, ok := b.docs[id]
		image := b.targets[id]
		b.mu.Unlock()
		if !ok {
			return fmt.Errorf("nix-image: no SBOM for platform %s", id)
		}
		st := llb.Scratch().File(
			llb.Mkfile("/"+sbom.Filename, 0o644, doc, llb.WithCreatedTime(b.epoch)),
			llb.WithCustomName("[nix-image] SBOM of the closure (SPDX)"),
		)
		ref, err := solve(ctx, c, bc, st, p)
		if err != nil {
			return err
		}
		rb.AddAttestation(id, client.Attestation{
			Kind:   gwpb.AttestationKind_InToto,
			Ref:    ref,
			Path:   "/" + sbom.Filename,
			InToto: result.InTotoAttestation{PredicateType: intoto.PredicateSPDX},
		})
		if b.scanner == nil {
			return nil
		}
		att, err := b.scanner(ctx, id, image, nil)
		if err != nil {
			return fmt.Errorf("nix-image: SBOM generator: %w", err)
		}
		scanned, err := result.ConvertAttestation(&att, func(st *llb.State) (client.Reference, error) {
			return solve(ctx, c, bc, *st, p)
		})
		if err != nil {
			return err
		}
		rb.AddAttestation(id, *scanned)
		return nil
	})
}
