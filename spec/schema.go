package spec

// nix-image.schema.json is the JSON Schema (draft 2020-12) of
// nix-image.yaml, generated from the types. Editors use it for completion
// and checking; it accepts what Parse accepts, less strictly (Parse also
// checks hashes, keys and cross-field rules). Nothing in Go reads it.
//
//go:generate go run ./internal/schemagen -o nix-image.schema.json
