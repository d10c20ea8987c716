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
	"fmt"
	"io"
	"os"

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
		if err := nixstep.RunStep(appcontext.Context(), args[1:]); err != nil {
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
