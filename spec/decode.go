package spec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// source records what Parse saw, keyed by field path.
type source struct {
	file string
	// pos is where each path's value starts (for map entries: the key).
	pos map[string]Pos
	// null marks paths written with an empty value, which mean "absent".
	null map[string]bool
	// bad marks paths that failed to decode; validation stays quiet about
	// them so that one typo gives one error.
	bad map[string]bool
	// args maps a path to the build arg that replaced its value.
	args map[string]string
}

func newSource(file string) *source {
	return &source{
		file: file,
		pos:  map[string]Pos{},
		null: map[string]bool{},
		bad:  map[string]bool{},
		args: map[string]string{},
	}
}

// maxNodes bounds the nodes visited while decoding, counting every alias
// expansion, so that a small document of nested aliases cannot make Parse
// run for ever.
const maxNodes = 100000

// decoder fills a Spec from a yaml.Node tree by reflection, strictly: unknown
// fields, wrong types and duplicate keys are errors, and every error is
// collected rather than stopping at the first.
type decoder struct {
	src    *source
	errs   ErrorList
	budget int
}

func posOf(n *yaml.Node) Pos { return Pos{Line: n.Line, Col: n.Column} }

func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	d.src.bad[path] = true
	d.errs = append(d.errs, &Error{File: d.src.file, Pos: posOf(n), Path: path, Msg: fmt.Sprintf(format, args...)})
}

var yamlLineErr = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parserProblems are the messages of yaml's parser (as opposed to its
// scanner). The parser reports 0-based lines, leaving out line 0; the
// scanner reports 1-based lines.
var parserProblems = map[string]bool{
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"did not find expected '-' indicator":    true,
	"did not find expected <document start>": true,
	"did not find expected <stream-start>":   true,
	"did not find expected key":              true,
	"did not find expected node content":     true,
	"found duplicate %TAG directive":         true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found undefined tag handle":             true,
}

// syntaxError turns a YAML syntax error into an Error. yaml reports only a
// line (where the construct that failed began), so the column is 1.
func (d *decoder) syntaxError(err error) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if m := yamlLineErr.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	if parserProblems[msg] {
		line++
	}
	pos := Pos{Line: max(line, 1), Col: 1}
	d.errs = append(d.errs, &Error{File: d.src.file, Pos: pos, Msg: "invalid YAML: " + msg})
}

// parseDocument returns the root node of the single YAML document in data,
// or nil after recording why there is none.
func (d *decoder) parseDocument(data []byte) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			d.errs = append(d.errs, &Error{File: d.src.file, Pos: Pos{Line: 1, Col: 1}, Msg: emptyMsg})
		} else {
			d.syntaxError(err)
		}
		return nil
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == nil:
		d.errs = append(d.errs, &Error{File: d.src.file, Pos: posOf(&next), Msg: "a spec is a single YAML document; found a second one (remove the --- line)"})
	case !errors.Is(err, io.EOF):
		d.syntaxError(err)
	}
	if len(doc.Content) == 0 || isNull(doc.Content[0]) {
		d.errs = append(d.errs, &Error{File: d.src.file, Pos: Pos{Line: 1, Col: 1}, Msg: emptyMsg})
		return nil
	}
	return doc.Content[0]
}

const emptyMsg = "empty spec: expected a mapping with at least nixpkgs.url and its pin, nixpkgs.sha256 or nixpkgs.narHash"

// deref follows aliases and charges the node to the budget. It returns nil
// once the budget is spent.
func (d *decoder) deref(n *yaml.Node, path string) *yaml.Node {
	for depth := 0; n != nil && n.Kind == yaml.AliasNode; depth++ {
		if depth > 100 {
			n = nil
			break
		}
		n = n.Alias
	}
	if n == nil {
		return nil
	}
	d.budget--
	if d.budget == -1 {
		d.errorf(n, path, "document too large: more than %d values after expanding aliases", maxNodes)
	}
	if d.budget < 0 {
		return nil
	}
	return n
}

// isMapping reports whether n is a mapping, or an alias of one.
func isMapping(n *yaml.Node) bool {
	for depth := 0; n != nil && n.Kind == yaml.AliasNode && depth <= 100; depth++ {
		n = n.Alias
	}
	return n != nil && n.Kind == yaml.MappingNode
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names what a node holds, for "expected X, found Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!int", "!!float":
			return "the number " + n.Value
		case "!!bool":
			return "the boolean " + n.Value
		case "!!null":
			return "nothing"
		}
		return "the string " + strconv.Quote(n.Value)
	}
	return "a YAML node of kind " + strconv.Itoa(int(n.Kind))
}

type pair struct{ key, val *yaml.Node }

// pairs returns a mapping's entries with merge keys (<<: *anchor) expanded:
// keys written in the mapping win over merged ones, and earlier merged
// mappings win over later ones, as in YAML 1.1. Duplicate written keys are
// errors.
func (d *decoder) pairs(n *yaml.Node, path string) []pair {
	var out []pair
	seen := map[string]*yaml.Node{}
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merges = append(merges, v)
			continue
		}
		if k.Kind == yaml.AliasNode && k.Alias != nil {
			k = k.Alias
		}
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, path, "expected a string key, found %s", describe(k))
			continue
		}
		if first, ok := seen[k.Value]; ok {
			d.errorf(k, joinKey(path, k.Value), "duplicate key %q (first at line %d)", k.Value, first.Line)
			continue
		}
		seen[k.Value] = k
		out = append(out, pair{k, v})
	}
	for _, m := range merges {
		m = d.deref(m, path)
		if m == nil {
			continue
		}
		srcs := []*yaml.Node{m}
		if m.Kind == yaml.SequenceNode {
			srcs = srcs[:0]
			for _, item := range m.Content {
				if item = d.deref(item, path); item != nil {
					srcs = append(srcs, item)
				}
			}
		}
		for _, src := range srcs {
			if src.Kind != yaml.MappingNode {
				d.errorf(src, path, "merge key << expects a mapping or a list of mappings, found %s", describe(src))
				continue
			}
			for _, p := range d.pairs(src, path) {
				if _, ok := seen[p.key.Value]; ok {
					continue
				}
				seen[p.key.Value] = p.key
				out = append(out, p)
			}
		}
	}
	return out
}

var nixType = reflect.TypeFor[Nix]()

// decode stores node n into v, the value at path.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if n = d.deref(n, path); n == nil {
		return
	}
	d.src.pos[path] = posOf(n)
	if isNull(n) {
		d.src.null[path] = true
		return
	}
	t := v.Type()
	switch {
	case t == nixType && n.Kind == yaml.ScalarNode:
		// `nix: 2.33.3` is short for `nix: {version: 2.33.3}`.
		vp := joinField(path, "version")
		d.src.pos[vp] = posOf(n)
		d.decode(n, v.FieldByName("Version"), vp)
	case t == nixType && n.Kind != yaml.MappingNode:
		d.errorf(n, path, "expected a Nix version or a mapping with version or url, found %s", describe(n))
	case t.Kind() == reflect.Struct:
		d.decodeStruct(n, v, path)
	case t.Kind() == reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.errorf(n, path, "expected a string, found %s", describe(n))
			return
		}
		v.SetString(n.Value)
	case t.Kind() == reflect.Int:
		var i int
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i) != nil {
			d.errorf(n, path, "expected an integer, found %s", describe(n))
			return
		}
		v.SetInt(int64(i))
	case t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
			d.errorf(n, path, "expected true or false, found %s", describe(n))
			return
		}
		v.Set(reflect.ValueOf(&b))
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.errorf(n, path, "expected a list, found %s", describe(n))
			return
		}
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.decode(item, s.Index(i), joinIndex(path, i))
		}
		v.Set(s)
	case t.Kind() == reflect.Map:
		d.decodeMap(n, v, path)
	default:
		// Only reachable if types.go gains a field of a new kind.
		panic(fmt.Sprintf("spec: no YAML decoding for %s at %s", t, path))
	}
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "expected a mapping, found %s", describe(n))
		return
	}
	fields := yamlFields(v.Type())
	for _, p := range d.pairs(n, path) {
		name := p.key.Value
		if strings.HasPrefix(name, "x-") {
			continue
		}
		fp := joinKey(path, name)
		i, ok := fields[name]
		if !ok {
			d.errorf(p.key, fp, "unknown field %q%s", name, suggest(name, v.Type()))
			continue
		}
		if v.Type() == nixType && name == "sha256" {
			if isMapping(p.val) {
				// A sha256 per system, for a nix.url with {system}.
				if val := d.deref(p.val, fp); val != nil {
					d.src.pos[fp] = posOf(p.key)
					d.decodeMap(val, v.FieldByName("SystemSHA256"), fp)
				}
				continue
			}
		}
		d.decode(p.val, v.Field(i), fp)
		// A scalar is best shown where it is written; a mapping, a list or
		// nothing at all is best shown at its key ("nixpkgs: url is
		// required" points at the nixpkgs: line).
		if val := p.val; val.Kind != yaml.ScalarNode || isNull(val) {
			if _, seen := d.src.pos[fp]; seen {
				d.src.pos[fp] = posOf(p.key)
			}
		}
	}
}

// decodeMap decodes a mapping into a map. Maps of images skip x- keys like
// fixed mappings do; maps of strings (env, labels, nixConfig) are user data
// and keep every key.
func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "expected a mapping, found %s", describe(n))
		return
	}
	t := v.Type()
	m := reflect.MakeMap(t)
	for _, p := range d.pairs(n, path) {
		name := p.key.Value
		if t.Elem().Kind() == reflect.Struct && strings.HasPrefix(name, "x-") {
			continue
		}
		kp := joinKey(path, name)
		e := reflect.New(t.Elem()).Elem()
		d.decode(p.val, e, kp)
		// Errors about an entry point at its key, which is where a reader
		// looks for it.
		d.src.pos[kp] = posOf(p.key)
		m.SetMapIndex(reflect.ValueOf(name), e)
	}
	v.Set(m)
}

// yamlFields maps YAML field names to struct field indexes.
func yamlFields(t reflect.Type) map[string]int {
	fields := map[string]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			// Filled by the decoder from another field's key.
			continue
		}
		fields[name] = i
	}
	return fields
}

// suggest returns ` (did you mean "x"?)` for the field of t closest to
// name, if one is close enough to be a likely typo.
func suggest(name string, t reflect.Type) string {
	best, bestDist := "", 0
	for field := range yamlFields(t) {
		dist := editDistance(strings.ToLower(name), strings.ToLower(field))
		if best == "" || dist < bestDist || (dist == bestDist && field < best) {
			best, bestDist = field, dist
		}
	}
	if best == "" || bestDist > max(1, len(best)/3) {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
