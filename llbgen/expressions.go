package llbgen

import (
	"fmt"

	"github.com/moby/buildkit/client/llb"
	"github.com/nix-image/nix-image/nixstep"
	"github.com/nix-image/nix-image/spec"
)

// expressions are the spec's local expressions for the realise step,
// each with the spec line that names it.
func expressions(s *spec.Spec, r *spec.Resolved, opt Options) []nixstep.Expression {
	var out []nixstep.Expression
	for i, e := range r.Expressions {
		out = append(out, nixstep.Expression{File: e.File, Attrs: e.Attrs, Where: origin(s, opt, fmt.Sprintf("expressions[%d].file", i))})
	}
	return out
}

// expressionNames name the expressions' attributes in the realise step's
// name, as ./FILE#ATTR.
func expressionNames(r *spec.Resolved) []string {
	var names []string
	for _, e := range r.Expressions {
		for _, a := range e.Attrs {
			names = append(names, "./"+e.File+"#"+a)
		}
	}
	return names
}

// contextFiles is the part of the build context the expressions need,
// copied out of it by their paths (spec.Resolved.ContextPaths). The frontend
// asks the client for these paths only; the copy also holds for a context
// that is not a local directory (a Git URL, a named context), so that
// the realise step's cache key never depends on other files of the
// context.
func contextFiles(r *spec.Resolved, opt Options) llb.State {
	return llb.Scratch().File(
		llb.Copy(*opt.Context, "/", "/", &llb.CopyInfo{
			CopyDirContentsOnly: true,
			IncludePatterns:     ContextPatterns(r),
			CreateDestPath:      true,
			AllowEmptyWildcard:  true,
		}, llb.WithCreatedTime(opt.Epoch)),
		stepOpts(opt, llb.WithCustomName("[nix-image] build context files of the expressions"))...,
	)
}

// ContextPatterns are the include patterns of the build context the
// expressions need: each path, and all below it when it is a directory.
func ContextPatterns(r *spec.Resolved) []string {
	var patterns []string
	for _, p := range r.ContextPaths() {
		patterns = append(patterns, p, p+"/**")
	}
	return patterns
}
