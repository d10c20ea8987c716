package spec

import _ "embed"

//go:generate go run ./internal/schemagen -o nix-image.schema.json

// Schema is the JSON Schema (draft 2020-12) of nix-image.yaml, generated
// from the types by `go generate ./spec`. Editors use it for completion
// and checking; it accepts what Parse accepts, less strictly (Parse also
// checks hashes, keys and cross-field rules).
//
//go:embed nix-image.schema.json
var Schema []byte
