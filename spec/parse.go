package spec

import (
	"reflect"
	"slices"

	"go.yaml.in/yaml/v3"
)

// Parse decodes, defaults and validates a nix-image.yaml. filename is only
// used in error messages. On failure it returns an ErrorList holding every
// problem found, sorted by position, and no Spec.
func Parse(filename string, data []byte) (*Spec, error) {
	s := &Spec{src: newSource(filename)}
	d := &decoder{src: s.src, budget: maxNodes}
	root := d.parseDocument(data)
	if root != nil {
		d.decode(root, reflect.ValueOf(s).Elem(), "")
	}
	errs := d.errs
	// Without a mapping at the top there is nothing to validate, and
	// "nixpkgs is required" would only repeat the decode error.
	if root != nil && root.Kind == yaml.MappingNode {
		s.setDefaults()
		errs = append(errs, s.validate()...)
	}
	if len(errs) > 0 {
		errs = dedupe(errs)
		errs.sort()
		return nil, errs
	}
	return s, nil
}

// dedupe drops repeated errors, which aliases produce when one anchored
// value is decoded in several places.
func dedupe(errs ErrorList) ErrorList {
	type key struct {
		pos       Pos
		path, msg string
	}
	seen := map[key]bool{}
	return slices.DeleteFunc(errs, func(e *Error) bool {
		k := key{e.Pos, e.Path, e.Msg}
		if seen[k] {
			return true
		}
		seen[k] = true
		return false
	})
}

// Position returns where path (e.g. "packages[2]", "nixpkgs.url",
// "images.ssh.authorizedKeys[0]", `config.labels["a.b"]`) was written in
// the source. For map entries it is the key's position. It reports false
// for paths not in the source and for values replaced by build args.
func (s *Spec) Position(path string) (Pos, bool) { return s.src.position(path) }

// OverriddenBy returns the build arg that replaced path or one of its
// parents (SUBSTITUTERS for "substituters"), or "".
func (s *Spec) OverriddenBy(path string) string { return s.src.overriddenBy(path) }

// overriddenBy is OverriddenBy.
func (s *Spec) overriddenBy(path string) string { return s.src.overriddenBy(path) }

// position is Spec.Position in the source src (nil: none).
func (src *source) position(path string) (Pos, bool) {
	if src == nil || src.overriddenBy(path) != "" {
		return Pos{}, false
	}
	p, ok := src.pos[path]
	return p, ok
}

// overriddenBy returns the build arg that replaced path or one of its
// parents, or "".
func (src *source) overriddenBy(path string) string {
	if src == nil {
		return ""
	}
	for p := path; ; p = parentPath(p) {
		if arg, ok := src.args[p]; ok {
			return arg
		}
		if p == "" {
			return ""
		}
	}
}
