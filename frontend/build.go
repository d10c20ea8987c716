// Package frontend is the BuildKit gateway frontend of nix-image: it reads
// nix-image.yaml through dockerui, answers subrequests, and builds the
// selected image for every requested platform with llbgen.
package frontend

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/containerd/platforms"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/frontend/dockerui"
	"github.com/moby/buildkit/frontend/gateway/client"
	"github.com/moby/buildkit/frontend/subrequests/lint"
	"github.com/moby/buildkit/frontend/subrequests/outline"
	"github.com/moby/buildkit/frontend/subrequests/targets"
	"github.com/moby/buildkit/solver/pb"
	"github.com/nix-image/nix-image/llbgen"
	"github.com/nix-image/nix-image/nixstep"
	"github.com/nix-image/nix-image/spec"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// Build is the gateway entry point.
func Build(ctx context.Context, c client.Client) (*client.Result, error) {
	if err := checkGatewayCaps(c.BuildOpts().Caps); err != nil {
		return nil, err
	}
	bc, err := dockerui.NewClient(c)
	if err != nil {
		return nil, fmt.Errorf("nix-image: %w", err)
	}
	src, err := bc.ReadEntrypoint(ctx, "yaml")
	if err != nil {
		return nil, fmt.Errorf("nix-image: reading the spec: %w", err)
	}
	target := bc.Target
	if target == "" {
		target = spec.TargetDefault
	}
	s, err := spec.Parse(src.Filename, src.Data)
	if err == nil {
		err = s.ApplyBuildArgs(bc.BuildArgs)
	}
	if err != nil {
		sm := llbgen.NewSourceMap(src.SourceMap, nil)
		if res, ok, lerr := handleLintOfInvalid(ctx, bc, err, target, sm); ok || lerr != nil {
			return res, lerr
		}
		return nil, sm.WithSource(err)
	}
	sm := llbgen.NewSourceMap(src.SourceMap, s)
	if res, ok, err := bc.HandleSubrequest(ctx, dockerui.RequestHandler{
		ListTargets: func(context.Context) (*targets.List, error) { return listTargets(s, sm), nil },
		Outline:     func(context.Context) (*outline.Outline, error) { return outlineOf(s, target, bc, sm), nil },
		Lint: func(context.Context) (*lint.LintResults, error) {
			return lintSpec(s, nil, target, sm), nil
		},
	}); err != nil || ok {
		return res, err
	}
	warnLint(ctx, s, src, sm)
	r, err := s.Resolve(target)
	if err != nil {
		return nil, fmt.Errorf("nix-image: %w", err)
	}
	tool, err := currentFrontend(c)
	if err != nil {
		return nil, err
	}
	epoch, err := sourceDateEpoch(bc.BuildArgs)
	if err != nil {
		return nil, err
	}
	sb, err := newSBOMBuilder(ctx, c, bc, target, epoch)
	if err != nil {
		return nil, err
	}
	caps := c.BuildOpts().LLBCaps
	opt := llbgen.Options{
		Filename:            src.Filename,
		Tool:                *tool,
		CacheNamespace:      bc.CacheIDNamespace,
		Epoch:               epoch,
		Labels:              bc.Labels,
		UseMergeOp:          caps.Supports(pb.CapMergeOp) == nil && bc.BuildArgs[spec.ArgMergeOp] != "false",
		NoSymlinkOp:         caps.Supports(pb.CapFileSymlinkCreate) != nil,
		NoMountContentCache: caps.Supports(pb.CapExecMountContentCache) != nil,
		SourceMap:           sm,
		IgnoreCache:         bc.IsNoCache(target),
		Proxy:               proxyEnv(bc.BuildArgs),
		ForeignBuilds:       bc.BuildArgs[spec.ArgForeignBuilds] == "true",
	}
	if len(bc.BuildPlatforms) > 0 {
		// The steps run here, natively, for every image platform.
		opt.BuildPlatform = bc.BuildPlatforms[0]
	}
	rb, err := bc.Build(ctx, func(ctx context.Context, platform *ocispecs.Platform, _ int) (*dockerui.BuildResult, error) {
		popt := opt
		popt.Platform = platforms.DefaultSpec()
		if platform != nil {
			popt.Platform = *platform
		}
		if err := loadInputs(ctx, c, bc, r, &popt); err != nil {
			return nil, err
		}
		res, err := buildImage(ctx, c, bc, r, popt, sb)
		if err != nil {
			return nil, err
		}
		ref, err := solve(ctx, c, bc, res.State, popt.Platform)
		if err != nil {
			return nil, err
		}
		return &dockerui.BuildResult{Reference: ref, Image: res.Image, Epoch: &epoch}, nil
	})
	if err != nil {
		return nil, err
	}
	if err := sb.attach(ctx, c, bc, rb); err != nil {
		return nil, err
	}
	return rb.Finalize()
}

// buildImage realises the closure, reads what it holds and assembles the
// image from it: the layers depend on the closure.
func buildImage(ctx context.Context, c client.Client, bc *dockerui.Client, r *spec.Resolved, opt llbgen.Options, sb *sbomBuilder) (*llbgen.Result, error) {
	realised, err := llbgen.Realise(r, opt)
	if err != nil {
		return nil, fmt.Errorf("nix-image: %w", err)
	}
	ref, err := solve(ctx, c, bc, realised.Output, opt.Platform)
	if err != nil {
		return nil, err
	}
	closure, err := nixstep.ReadClosure(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("nix-image: %w", err)
	}
	res, err := llbgen.Image(r, opt, realised, closure)
	if err != nil {
		return nil, fmt.Errorf("nix-image: %w", err)
	}
	if err := sb.add(ctx, ref, closure, opt.Platform, res.State); err != nil {
		return nil, err
	}
	return res, nil
}

// solve solves a state for a platform, importing the user's caches.
func solve(ctx context.Context, c client.Client, bc *dockerui.Client, st llb.State, p ocispecs.Platform) (client.Reference, error) {
	def, err := st.Marshal(ctx, llb.Platform(p))
	if err != nil {
		return nil, fmt.Errorf("nix-image: marshaling LLB: %w", err)
	}
	if err := checkLLBCaps(c.BuildOpts().LLBCaps, def); err != nil {
		return nil, err
	}
	res, err := c.Solve(ctx, client.SolveRequest{Definition: def.ToPB(), CacheImports: bc.CacheImports})
	if err != nil {
		return nil, err
	}
	return res.SingleRef()
}

// currentFrontend returns the frontend's own image: the build steps run
// its binary to unpack tarballs and realise the closure.
func currentFrontend(c client.Client) (*llb.State, error) {
	cf, ok := c.(interface{ CurrentFrontend() (*llb.State, error) })
	if !ok {
		return nil, fmt.Errorf("nix-image: the gateway client cannot name the frontend image")
	}
	st, err := cf.CurrentFrontend()
	if err != nil {
		return nil, fmt.Errorf("nix-image: finding the frontend image: %w", err)
	}
	if st == nil {
		return nil, fmt.Errorf("nix-image: no frontend image: run nix-image as a gateway frontend image (# syntax=<image>)")
	}
	return st, nil
}

// sourceDateEpoch returns SOURCE_DATE_EPOCH, or the Unix epoch: images
// are reproducible by default.
func sourceDateEpoch(args map[string]string) (time.Time, error) {
	v, ok := args[spec.ArgSourceDateEpoch]
	if !ok || v == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, fmt.Errorf("nix-image: build arg SOURCE_DATE_EPOCH=%q is not a non-negative Unix time", v)
	}
	return time.Unix(n, 0).UTC(), nil
}
