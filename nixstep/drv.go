package nixstep

import (
	"encoding/json"
	"fmt"
	"strings"
)

// derivation is the part of a .drv file the SBOM reads.
type derivation struct {
	// outputs are the output store paths (empty for content-addressed
	// outputs not built yet).
	outputs   []string
	inputDrvs []string
	env       map[string]string
}

// parseDerivation reads a .drv file in Nix's ATerm format:
// Derive([outputs],[inputDrvs],[inputSrcs],"system","builder",[args],[env]).
func parseDerivation(s string) (*derivation, error) {
	p := &atermParser{s: s}
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	if p.i != len(strings.TrimRight(s, "\n")) {
		return nil, fmt.Errorf("derivation: trailing data at offset %d", p.i)
	}
	t, ok := v.(aterm)
	if !ok || t.name != "Derive" || len(t.args) != 7 {
		return nil, fmt.Errorf("derivation: not a Derive(...) term")
	}
	d := &derivation{env: map[string]string{}}
	for _, o := range list(t.args[0]) {
		if f := strs(o); len(f) >= 2 && f[1] != "" {
			d.outputs = append(d.outputs, f[1])
		}
	}
	for _, in := range list(t.args[1]) {
		if f := tuple(in); len(f) >= 1 {
			if path, ok := f[0].(string); ok {
				d.inputDrvs = append(d.inputDrvs, path)
			}
		}
	}
	for _, e := range list(t.args[6]) {
		if f := strs(e); len(f) == 2 {
			d.env[f[0]] = f[1]
		}
	}
	structuredAttrs(d.env)
	return d, nil
}

// structuredAttrs adds the string attributes of a derivation with
// __structuredAttrs (all of them in the JSON of env's __json) to env, and
// lists of strings joined by spaces, as they would be without it.
func structuredAttrs(env map[string]string) {
	data, ok := env["__json"]
	if !ok {
		return
	}
	var attrs map[string]any
	if json.Unmarshal([]byte(data), &attrs) != nil {
		return
	}
	for k, v := range attrs {
		switch v := v.(type) {
		case string:
			env[k] = v
		case []any:
			var words []string
			for _, w := range v {
				if s, ok := w.(string); ok {
					words = append(words, s)
				}
			}
			env[k] = strings.Join(words, " ")
		}
	}
}

// aterm is a constructor term, NAME(args) or a bare tuple (args).
type aterm struct {
	name string
	args []any
}

// atermList is a [..] list.
type atermList []any

func list(v any) []any {
	l, _ := v.(atermList)
	return l
}

func tuple(v any) []any {
	t, ok := v.(aterm)
	if !ok || t.name != "" {
		return nil
	}
	return t.args
}

// strs returns a tuple's string fields, or nil if it has others.
func strs(v any) []string {
	var out []string
	for _, a := range tuple(v) {
		s, ok := a.(string)
		if !ok {
			return nil
		}
		out = append(out, s)
	}
	return out
}

type atermParser struct {
	s string
	i int
}

func (p *atermParser) value() (any, error) {
	if p.i >= len(p.s) {
		return nil, fmt.Errorf("derivation: unexpected end")
	}
	switch c := p.s[p.i]; {
	case c == '"':
		return p.str()
	case c == '[':
		p.i++
		items, err := p.items(']')
		return atermList(items), err
	case c == '(':
		p.i++
		items, err := p.items(')')
		return aterm{args: items}, err
	case c >= 'A' && c <= 'Z':
		start := p.i
		for p.i < len(p.s) && p.s[p.i] != '(' {
			p.i++
		}
		name := p.s[start:p.i]
		if p.i >= len(p.s) {
			return nil, fmt.Errorf("derivation: unexpected end after %s", name)
		}
		p.i++
		items, err := p.items(')')
		return aterm{name: name, args: items}, err
	default:
		return nil, fmt.Errorf("derivation: unexpected %q at offset %d", c, p.i)
	}
}

// items reads comma-separated values up to end.
func (p *atermParser) items(end byte) ([]any, error) {
	var out []any
	if p.i < len(p.s) && p.s[p.i] == end {
		p.i++
		return out, nil
	}
	for {
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		if p.i >= len(p.s) {
			return nil, fmt.Errorf("derivation: unexpected end")
		}
		switch p.s[p.i] {
		case ',':
			p.i++
		case end:
			p.i++
			return out, nil
		default:
			return nil, fmt.Errorf("derivation: unexpected %q at offset %d", p.s[p.i], p.i)
		}
	}
}

// str reads a quoted string with Nix's escapes (\" \\ \n \r \t).
func (p *atermParser) str() (string, error) {
	p.i++
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		p.i++
		switch c {
		case '"':
			return b.String(), nil
		case '\\':
			if p.i >= len(p.s) {
				return "", fmt.Errorf("derivation: unexpected end in a string")
			}
			e := p.s[p.i]
			p.i++
			switch e {
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			default:
				b.WriteByte(e)
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", fmt.Errorf("derivation: unterminated string")
}
