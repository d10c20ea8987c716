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
