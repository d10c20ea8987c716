package llbgen

import "github.com/moby/buildkit/client/llb"

// stepOpts returns the options of a vertex nix-image adds (a fetch, a
// step, a file write, a layer copy, the merge) with llb.IgnoreCache under
// --no-cache (Options.IgnoreCache), as the Dockerfile frontend marks every
// RUN, COPY and ADD of a stage it is told not to cache. Vertices we only
// consume (the frontend image, named contexts) are left as they are.
// T is the option type of the vertex (llb.RunOption, llb.HTTPOption or
// llb.ConstraintsOpt), all of which llb.IgnoreCache implements.
func stepOpts[T any](opt Options, opts ...T) []T {
	if opt.IgnoreCache {
		opts = append(opts, any(llb.IgnoreCache).(T))
	}
	return opts
}

// networkStep returns the options of a step that reaches the network:
// stepOpts, and the proxy build args (Options.Proxy) in its environment.
// BuildKit keeps the proxy out of the step's cache key, as it does for a
// Dockerfile's RUN.
func networkStep(opt Options, opts ...llb.RunOption) []llb.RunOption {
	if opt.Proxy != nil {
		opts = append(opts, llb.WithProxy(*opt.Proxy))
	}
	return stepOpts(opt, opts...)
}

// keyedByStep mounts a large read-only tree that a step of ours made
// from pinned input (the unpacked nixpkgs) without content-based caching:
// the mounting step's cache key then comes from the key of the step that
// made the tree, not from a checksum of its every file, which BuildKit
// otherwise computes before the mounting step runs and whenever its key
// misses (5 s for nixpkgs' 45,000 files, in a cold build and in every
// build that changes the package list). The tree is a function of its pin
// (or, for a named context, of the context's content, which the making
// step's key follows), so no cache hit is lost. Never for a named context
// mounted as it is: its key changes with every build's session, and only
// its content makes a later build hit.
var keyedByStep = llb.ContentCache(llb.MountContentCacheOff)
