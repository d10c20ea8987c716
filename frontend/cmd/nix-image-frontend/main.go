// Command nix-image-frontend is the nix-image BuildKit frontend. Run by
// BuildKit (through `# syntax=`), it serves the gateway API. It also has
// subcommands for people and for its own build steps:
//
//	nix-image-frontend validate FILE...   check specs, print FILE:LINE:COL: message
//	nix-image-frontend step prepare ...   (inside builds) unpack a tarball
//	nix-image-frontend step realise       (inside builds) realise the closure
//	nix-image-frontend step layer CONFIG  (inside builds) write the layer of store paths
//	nix-image-frontend step authorized-keys  (inside builds) the ssh image's build secret
//	nix-image-frontend step symlinks DIR TARGET LINK...  (inside builds) symlinks, for old daemons
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/moby/buildkit/frontend/gateway/grpcclient"
	"github.com/moby/buildkit/util/appcontext"
	"github.com/nix-image/nix-image/frontend"
	"github.com/nix-image/nix-image/nixstep"
	"github.com/nix-image/nix-image/spec"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		// stdout is the gRPC pipe to BuildKit: log to stderr only.
		if err := grpcclient.RunFromEnvironment(appcontext.Context(), frontend.Build); err != nil {
			fmt.Fprintf(stderr, "nix-image: %v\n", err)
			return 1
		}
		return 0
	}
	switch args[0] {
	case "validate":
		return validate(args[1:], stdout, stderr)
	case "step":
		if err := step(appcontext.Context(), args[1:]); err != nil {
			fmt.Fprintf(stderr, "nix-image: %v\n", err)
			return 1
		}
		return 0
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "nix-image: unknown command %q\n%s", args[0], usage)
	return 2
}

const usage = `usage:
  nix-image-frontend                    serve the BuildKit gateway API (run by BuildKit)
  nix-image-frontend validate FILE...   check nix-image.yaml files; prints FILE:LINE:COL: message per problem
`

// validate checks spec files: one line per problem, exit 1 if any.
func validate(files []string, stdout, stderr io.Writer) int {
	if len(files) == 0 {
		fmt.Fprint(stderr, "nix-image: validate needs at least one FILE\n", usage)
		return 2
	}
	status := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintf(stdout, "%s: %v\n", f, err)
			status = 1
			continue
		}
		if _, err := spec.Parse(f, data); err != nil {
			fmt.Fprintln(stdout, err)
			status = 1
		}
	}
	return status
}

// step runs one of the frontend's own build steps.
func step(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("step: missing step name")
	}
	switch args[0] {
	case "prepare":
		fs := flag.NewFlagSet("prepare", flag.ContinueOnError)
		marker := fs.String("marker", "", "file that marks the root of the tree")
		source := fs.String("source", "", "what SRC is (a URL, a named context), for errors")
		narHash := fs.String("nar-hash", "", "NAR hash (SRI) the unpacked tree must have")
		where := fs.String("where", "", "spec field of the NAR hash, for errors")
		storeName := fs.String("store-name", "", "lay the tree out as DST/nix/store/<hash>-NAME, a store path")
		meta := fs.String("meta", "", "with --store-name: file for the store path's registration")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if fs.NArg() != 2 || *marker == "" || *storeName == "" || *meta == "" {
			return fmt.Errorf("step prepare: usage: prepare --marker FILE [--source DESCRIPTION] [--nar-hash SRI --where FIELD] --store-name NAME --meta FILE SRC DST")
		}
		if *source == "" {
			*source = fs.Arg(0)
		}
		tree := filepath.Join(fs.Arg(1), ".nix-image-unpack")
		if err := os.Mkdir(tree, 0o755); err != nil {
			return fmt.Errorf("step prepare: %w", err)
		}
		if err := nixstep.Prepare(fs.Arg(0), tree, *marker, *source); err != nil {
			return err
		}
		return nixstep.StoreSource(tree, fs.Arg(1), *meta, *storeName, *narHash, *where)
	case "layer":
		if len(args) != 2 {
			return fmt.Errorf("step layer: usage: layer CONFIG-JSON")
		}
		var cfg nixstep.LayerConfig
		if err := json.Unmarshal([]byte(args[1]), &cfg); err != nil {
			return fmt.Errorf("step layer: %w", err)
		}
		return nixstep.WriteLayer(ctx, cfg, nixstep.CacheDir, nixstep.LayerOutDir)
	case "realise":
		data, err := os.ReadFile(nixstep.ConfigFile)
		if err != nil {
			return fmt.Errorf("step realise: %w", err)
		}
		var cfg nixstep.RealiseConfig
		if err := json.Unmarshal(data, &cfg); err != nil {
			return fmt.Errorf("step realise: %s: %w", nixstep.ConfigFile, err)
		}
		return nixstep.Realise(ctx, cfg, nixstep.OutDir)
	case "authorized-keys":
		return nixstep.AuthorizedKeys(nixstep.AuthorizedKeysSecret, nixstep.OutDir)
	case "symlinks":
		if len(args) < 2 {
			return fmt.Errorf("step symlinks: usage: symlinks DIR TARGET LINK [TARGET LINK]...")
		}
		return nixstep.Symlinks(args[1], args[2:])
	}
	return fmt.Errorf("step: unknown step %q", args[0])
}
