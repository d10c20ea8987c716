package main

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"testing"
)

const committed = "../../nix-image.schema.json"

// The committed schema must be what the generator makes of today's types.
func TestSchemaUpToDate(t *testing.T) {
	want, err := generate("../..")
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(committed)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is stale: run `go generate ./spec` and commit the result", committed)
	}
}

// Every pattern in the schema must be a regexp; Go's syntax and ECMA 262's
// agree on the subset the rules use.
func TestSchemaPatterns(t *testing.T) {
	data, err := generate("../..")
	if err != nil {
		t.Fatal(err)
	}
	var root any
	if err := json.Unmarshal(data, &root); err != nil {
		t.Fatal(err)
	}
	n := 0
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if p, ok := x.(string); ok && k == "pattern" {
					n++
					if _, err := regexp.Compile(p); err != nil {
						t.Errorf("pattern %q: %v", p, err)
					}
				}
				if k == "patternProperties" {
					for p := range x.(map[string]any) {
						n++
						if _, err := regexp.Compile(p); err != nil {
							t.Errorf("pattern %q: %v", p, err)
						}
					}
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(root)
	if n < 10 {
		t.Errorf("found %d patterns, want many", n)
	}
}
