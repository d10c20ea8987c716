// Command schemagen writes the JSON Schema (draft 2020-12) of
// nix-image.yaml. The structure comes from the spec types by reflection,
// the descriptions from their doc comments (read with go/ast), and the
// value rules from spec/internal/rules, which Parse uses too.
//
// Run it with `go generate ./spec`.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"log"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/nix-image/nix-image/spec"
	"github.com/nix-image/nix-image/spec/internal/rules"
)

func main() {
	out := flag.String("o", "nix-image.schema.json", "output file")
	src := flag.String("src", ".", "directory of the spec package sources, for doc comments")
	flag.Parse()
	data, err := generate(*src)
	if err != nil {
		log.Fatalf("schemagen: %v", err)
	}
	if err := os.WriteFile(*out, data, 0o644); err != nil {
		log.Fatalf("schemagen: %v", err)
	}
}

// schema is one JSON Schema object. encoding/json sorts its keys, which
// keeps the output stable.
type schema = map[string]any

// scalar is what a YAML value decoded into a string field may be: Parse
// takes the text of any scalar, so `user: 1000` is fine.
func scalar() schema { return schema{"type": []string{"string", "number", "boolean"}} }

func pattern(p string) schema { return schema{"type": "string", "pattern": p} }

// extras refine the schema of a field ("Type.Field") beyond what its Go
// type says.
var extras = map[string]func(s schema){
	"Spec.Version": func(s schema) { s["const"] = 1 },
	"Spec.Nix": func(s schema) {
		// A bare version or the full mapping.
		ref := s["$ref"]
		delete(s, "$ref")
		s["oneOf"] = []schema{pattern(rules.NixVersion), {"$ref": ref}}
	},
	"Spec.Packages":     profileList,
	"System.Packages":   func(s schema) { attrList(s); s["default"] = spec.DefaultSystemPackages },
	"Image.Packages":    profileList,
	"Spec.Substituters": func(s schema) { items(s, pattern(rules.Substituter)); s["default"] = []string{spec.DefaultSubstituter} },
	"Spec.TrustedPublicKeys": func(s schema) {
		items(s, pattern(rules.TrustedPublicKey))
		s["default"] = []string{spec.DefaultTrustedPublicKey}
	},
	"Spec.NixConfig":  nixConfig,
	"Image.NixConfig": nixConfig,
	"Spec.Layers":     func(s schema) { layers(s); s["default"] = spec.DefaultLayers },
	"Image.Layers":    layers,
	"Spec.Images": func(s schema) {
		ref := s["additionalProperties"]
		delete(s, "additionalProperties")
		s["properties"] = schema{spec.TargetDefault: ref, spec.TargetSSH: ref}
		closed(s)
	},
	"System.Nix": func(s schema) {
		s["enum"] = []string{spec.SystemNixRelease, spec.SystemNixNixpkgs}
		s["default"] = spec.SystemNixRelease
	},
	"Nix.Version":  func(s schema) { s["pattern"] = rules.NixVersion; s["default"] = spec.DefaultNixVersion },
	"Nix.Releases": func(s schema) { s["pattern"] = rules.HTTPURL; s["default"] = spec.DefaultNixReleases },
	"Nix.URL":      func(s schema) { s["pattern"] = rules.HTTPURL },
	"Nix.SHA256": func(s schema) {
		// One sha256, or one per system for a url with {system}.
		delete(s, "type")
		s["oneOf"] = []schema{pattern(rules.SHA256), {
			"type":                 "object",
			"propertyNames":        schema{"pattern": rules.NixSystem},
			"additionalProperties": pattern(rules.SHA256),
			"minProperties":        1,
		}}
	},
	"Nixpkgs.URL": func(s schema) { s["pattern"] = rules.HTTPURL },
	"Nixpkgs.SHA256": func(s schema) {
		s["pattern"] = rules.SHA256
	},
	"Nixpkgs.NarHash": func(s schema) { s["pattern"] = rules.SHA256 },
	"NixpkgsConfig.PermittedInsecurePackages": func(s schema) {
		items(s, pattern(rules.PackageNameVersion))
	},
	"Image.AuthorizedKeys": func(s schema) {
		items(s, schema{"type": "string", "pattern": rules.SSHPublicKey, "not": schema{"pattern": "PRIVATE KEY"}})
	},
	"Expression.Attrs":         func(s schema) { attrList(s); s["minItems"] = 1 },
	"Expression.File":          func(s schema) { s["pattern"] = `^[^/*?\[\\]` },
	"User.Name":                func(s schema) { s["pattern"] = rules.UserName; s["not"] = schema{"enum": spec.ReservedUserNames} },
	"User.UID":                 func(s schema) { s["minimum"] = 1; s["maximum"] = 65533 },
	"User.GID":                 func(s schema) { s["minimum"] = 1; s["maximum"] = 65533 },
	"ImageConfig.Env":          func(s schema) { s["propertyNames"] = schema{"pattern": rules.EnvKey} },
	"ImageConfig.Labels":       func(s schema) { s["propertyNames"] = schema{"minLength": 1} },
	"ImageConfig.WorkingDir":   func(s schema) { s["pattern"] = "^/" },
	"ImageConfig.ExposedPorts": func(s schema) { items(s, pattern(rules.ExposedPort)) },
}

// typeExtras refine the schema of a type in $defs.
var typeExtras = map[string]func(s schema){
	"Spec": func(s schema) { s["required"] = []string{"nixpkgs"} },
	"Nix": func(s schema) {
		s["not"] = schema{"required": []string{"url", "version"}}
		s["dependentRequired"] = schema{"url": []string{"sha256"}, "sha256": []string{"url"}}
	},
	"Expression": func(s schema) { s["required"] = []string{"file", "attrs"} },
	"User":       func(s schema) { s["required"] = []string{"name", "uid"} },
	"Nixpkgs": func(s schema) {
		s["required"] = []string{"url"}
		s["oneOf"] = []schema{{"required": []string{"sha256"}}, {"required": []string{"narHash"}}}
	},
}

func items(s, item schema) {
	s["items"] = item
	s["uniqueItems"] = true
}

func attrList(s schema) { items(s, pattern(rules.AttrPath)) }

// profileList: nixpkgs attribute paths or outputs of the spec's flake.
func profileList(s schema) {
	items(s, schema{"type": "string", "anyOf": []schema{{"pattern": rules.AttrPath}, {"pattern": rules.FlakeOutput}}})
}

// layers: 0 means the default; otherwise MinLayers..MaxLayers.
func layers(s schema) {
	s["anyOf"] = []schema{{"const": 0}, {"minimum": spec.MinLayers, "maximum": spec.MaxLayers}}
}

func nixConfig(s schema) {
	s["propertyNames"] = schema{
		"pattern": rules.NixConfigKey,
		"not":     schema{"enum": []string{"substituters", "trusted-public-keys"}},
	}
}

// closed forbids unknown keys except x- ones, as Parse does.
func closed(s schema) {
	s["patternProperties"] = schema{"^x-": schema{}}
	s["additionalProperties"] = false
}

type generator struct {
	docs map[string]string // "Type" or "Type.Field" -> doc comment
	defs schema
}

func generate(srcDir string) ([]byte, error) {
	docs, err := readDocs(srcDir)
	if err != nil {
		return nil, err
	}
	g := &generator{docs: docs, defs: schema{}}
	root := g.object(reflect.TypeFor[spec.Spec]())
	root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	root["$id"] = "https://github.com/nix-image/nix-image/raw/main/spec/nix-image.schema.json"
	root["title"] = "nix-image.yaml"
	root["$defs"] = g.defs
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(root); err != nil {
		return nil, fmt.Errorf("encoding schema: %w", err)
	}
	return buf.Bytes(), nil
}

// object returns the schema of struct type t.
func (g *generator) object(t reflect.Type) schema {
	props := schema{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			// Written as another field (Nix.SystemSHA256 is nix.sha256).
			continue
		}
		s := g.value(f.Type)
		if doc := g.docs[t.Name()+"."+f.Name]; doc != "" {
			s["description"] = doc
		}
		if extra, ok := extras[t.Name()+"."+f.Name]; ok {
			extra(s)
		}
		props[name] = s
	}
	s := schema{"type": "object", "properties": props}
	if doc := g.docs[t.Name()]; doc != "" {
		s["description"] = doc
	}
	closed(s)
	if extra, ok := typeExtras[t.Name()]; ok {
		extra(s)
	}
	return s
}

// value returns the schema of a field of type t; structs go to $defs.
func (g *generator) value(t reflect.Type) schema {
	switch t.Kind() {
	case reflect.String:
		return scalar()
	case reflect.Int:
		return schema{"type": "integer"}
	case reflect.Pointer:
		if t.Elem().Kind() == reflect.Bool {
			return schema{"type": "boolean"}
		}
	case reflect.Slice:
		return schema{"type": "array", "items": g.value(t.Elem())}
	case reflect.Map:
		return schema{"type": "object", "additionalProperties": g.value(t.Elem())}
	case reflect.Struct:
		if _, ok := g.defs[t.Name()]; !ok {
			g.defs[t.Name()] = schema{} // placeholder against recursion
			g.defs[t.Name()] = g.object(t)
		}
		return schema{"$ref": "#/$defs/" + t.Name()}
	}
	// Only reachable if types.go gains a field of a new kind.
	panic(fmt.Sprintf("schemagen: no schema for %s", t))
}

// readDocs collects the doc comments of the types and struct fields
// declared in dir's non-test Go files.
func readDocs(dir string) (map[string]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", dir, err)
	}
	docs := map[string]string{}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments)
		if err != nil {
			return nil, fmt.Errorf("parsing %s: %w", name, err)
		}
		for _, decl := range f.Decls {
			gen, ok := decl.(*ast.GenDecl)
			if !ok || gen.Tok != token.TYPE {
				continue
			}
			for _, spec := range gen.Specs {
				ts := spec.(*ast.TypeSpec)
				doc := ts.Doc
				if doc == nil && len(gen.Specs) == 1 {
					doc = gen.Doc
				}
				docs[ts.Name.Name] = text(doc)
				st, ok := ts.Type.(*ast.StructType)
				if !ok {
					continue
				}
				for _, field := range st.Fields.List {
					for _, n := range field.Names {
						docs[ts.Name.Name+"."+n.Name] = text(field.Doc)
					}
				}
			}
		}
	}
	if len(docs) == 0 {
		return nil, fmt.Errorf("no type declarations in %s", dir)
	}
	return docs, nil
}

// text joins a comment's lines into one paragraph.
func text(c *ast.CommentGroup) string {
	if c == nil {
		return ""
	}
	return strings.Join(strings.Fields(c.Text()), " ")
}
