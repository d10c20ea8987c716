package nixstep

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path"
	"path/filepath"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"
)

// The prepare step (`step prepare`) unpacks a source (a tarball, or a
// tree as a named context gives it; see Prepare) into a store tree,
// OutDir/nix/store/<hash>-<StoreName>, and writes the store path's
// registration (SourcePath) to NixpkgsMetaFile, where the realise step
// finds it too. It reads the source at prepareIn and reaches no network.
const (
	prepareStep = "prepare"
	prepareIn   = "/in"
)

// PrepareStep is the input of a prepare step.
type PrepareStep struct {
	// Marker is the file at the root of the tree (default.nix for
	// nixpkgs): how the step finds the tree in the source.
	Marker string
	// Source names the source (its URL, or the named context) in errors.
	Source string
	// NarHash, when set, is the NAR hash (SRI) the unpacked tree must
	// have, given at Where (a spec field) for errors.
	NarHash, Where string
	// StoreName is the name of the store path the tree becomes.
	StoreName string
}

// Args is the step's argv.
func (p PrepareStep) Args() []string {
	args := stepCommand(prepareStep, "--marker", p.Marker, "--source", p.Source)
	if p.NarHash != "" {
		args = append(args, "--nar-hash", p.NarHash, "--where", p.Where)
	}
	return append(args, "--store-name", p.StoreName, "--meta", NixpkgsMetaFile, prepareIn, OutDir)
}

// Run returns the step on src, with the build's options opts, and its
// outputs: the store tree and the directory of NixpkgsMetaFile.
func (p PrepareStep) Run(tool, src llb.State, opts ...llb.RunOption) (tree, meta llb.State) {
	run := runStep([]llb.RunOption{
		llb.Args(p.Args()),
		toolMount(tool),
		llb.AddMount(prepareIn, src, llb.Readonly),
		llb.Network(pb.NetMode_NONE),
	}, opts)
	return run.AddMount(OutDir, llb.Scratch()), run.AddMount(path.Dir(NixpkgsMetaFile), llb.Scratch())
}

// prepareCommand is a parsed prepare argv: the step, the source it
// reads, the directory it writes the store tree to and the file of the
// registration.
type prepareCommand struct {
	step           PrepareStep
	src, dst, meta string
}

// parsePrepare parses the arguments of Args after the step's name.
func parsePrepare(args []string) (prepareCommand, error) {
	var c prepareCommand
	fs := flag.NewFlagSet(prepareStep, flag.ContinueOnError)
	fs.StringVar(&c.step.Marker, "marker", "", "file that marks the root of the tree")
	fs.StringVar(&c.step.Source, "source", "", "what SRC is (a URL, a named context), for errors")
	fs.StringVar(&c.step.NarHash, "nar-hash", "", "NAR hash (SRI) the unpacked tree must have")
	fs.StringVar(&c.step.Where, "where", "", "spec field of the NAR hash, for errors")
	fs.StringVar(&c.step.StoreName, "store-name", "", "lay the tree out as DST/nix/store/<hash>-NAME, a store path")
	fs.StringVar(&c.meta, "meta", "", "file for the store path's registration")
	if err := fs.Parse(args); err != nil {
		return c, fmt.Errorf("step prepare: %w", err)
	}
	if fs.NArg() != 2 || c.step.Marker == "" || c.step.StoreName == "" || c.meta == "" {
		return c, fmt.Errorf("step prepare: usage: prepare --marker FILE [--source DESCRIPTION] [--nar-hash SRI --where FIELD] --store-name NAME --meta FILE SRC DST")
	}
	c.src, c.dst = fs.Arg(0), fs.Arg(1)
	if c.step.Source == "" {
		c.step.Source = c.src
	}
	return c, nil
}

// runPrepare is the prepare step.
func runPrepare(_ context.Context, args []string) error {
	c, err := parsePrepare(args)
	if err != nil {
		return err
	}
	tree := filepath.Join(c.dst, ".nix-image-unpack")
	if err := os.Mkdir(tree, 0o755); err != nil {
		return fmt.Errorf("step prepare: %w", err)
	}
	if err := Prepare(c.src, tree, c.step.Marker, c.step.Source); err != nil {
		return err
	}
	return StoreSource(tree, c.dst, c.meta, c.step.StoreName, c.step.NarHash, c.step.Where)
}
