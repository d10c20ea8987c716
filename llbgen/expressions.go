package llbgen

import (
	"fmt"

	"github.com/moby/buildkit/client/llb"
	"github.com/nix-image/nix-image/nixstep"
	"github.com/nix-image/nix-image/spec"
)

// expressions are the spec's local expressions for the realise step,
// each with the spec line that names it.
func expressions(r *spec.Resolved, opt Options) []nixstep.Expression {
	var out []nixstep.Expression
	for i, e := range r.Expressions {
		out = append(out, nixstep.Expression{File: e.File, Attrs: e.Attrs, Where: origin(r, opt, fmt.Sprintf("expressions[%d].file", i))})
	}
	return out
}

// expressionNames name the expressions' attributes in the realise step's
// name, as ./FILE#ATTR.
func expressionNames(r *spec.Resolved) []string {
	var names []string
	for _, a := range r.FlakePackages {
		names = append(names, spec.FlakePrefix+a)
	}
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

// NeedsContext tells whether the build reads the build context: for
// local expressions or a flake.
func NeedsContext(r *spec.Resolved) bool { return len(r.ContextPaths()) > 0 }

// ContextPatterns are the include patterns of the build context the
// expressions and the flake need: each path, and all below it when it is
// a directory; nil for the whole context (flake: .).
func ContextPatterns(r *spec.Resolved) []string {
	var patterns []string
	for _, p := range r.ContextPaths() {
		if p == "." {
			return nil
		}
		patterns = append(patterns, p, p+"/**")
	}
	return patterns
}

// flake is the spec's flake for the realise step, nil without flake
// packages.
func flake(r *spec.Resolved, opt Options) *nixstep.Flake {
	if len(r.FlakePackages) == 0 {
		return nil
	}
	f := &nixstep.Flake{Dir: r.Flake, Where: origin(r, opt, "flake")}
	for _, a := range r.FlakePackages {
		f.Packages = append(f.Packages, nixstep.Package{Attr: a, Where: packageWhere(r, opt, spec.FlakePrefix+a)})
	}
	return f
}
