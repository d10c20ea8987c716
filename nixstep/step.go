// Package nixstep is nix-image's build steps: the code that runs inside
// them, which unpacks release tarballs and realises the Nix closure of an
// image, and the contract of each step (see step.go), which llbgen and the
// frontend use to run them and read their outputs. The frontend binary
// runs a step as `nix-image-frontend step ...` in a container whose root
// is scratch, so the step may rely on nothing but its mounts.
package nixstep

import (
	"context"
	"fmt"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/frontend/gateway/client"
)

// Every build step of nix-image runs the frontend binary as
// `nix-image-frontend step NAME ARGS...` on scratch, with the frontend
// image mounted at ToolDir. Each step has a file of its own, step_*.go,
// that owns both sides of its contract: the LLB that runs it (its mounts, the
// argv built from its input), the parsing of that argv inside the step,
// and the reading of its output by the frontend. llbgen adds only what a
// build decides (the platform, the name, the cache and proxy policy).

// Mount points shared by several steps.
const (
	// ToolDir holds the frontend image, whose binary is ToolBinary.
	ToolDir = "/.nix-image/tool"
	// ToolBinary is the path of the frontend binary in the frontend image.
	ToolBinary = "/nix-image-frontend"
	// ReleaseDir holds the Nix release: its tarball, or the named
	// context `nix` (see Prepare for the shapes it may have).
	ReleaseDir = "/.nix-image/release"
	// OutDir is every step's output (the symlinks step's tree, which it
	// changes in place).
	OutDir = "/out"
	// tmpDir is a tmpfs in the steps that run Nix: its scratch space
	// and theirs (scratchDir).
	tmpDir = "/tmp"
)

// stepCommand is the argv of the step name: the frontend binary at its
// mount point, then args.
func stepCommand(name string, args ...string) []string {
	return append([]string{ToolDir + ToolBinary, "step", name}, args...)
}

// toolMount mounts the frontend image at ToolDir.
func toolMount(tool llb.State) llb.RunOption {
	return llb.AddMount(ToolDir, tool, llb.Readonly)
}

// runStep runs a step on scratch: its own options (argv, mounts), then
// the build's (opts).
func runStep(own []llb.RunOption, opts []llb.RunOption) llb.ExecState {
	return llb.Scratch().Run(append(own, opts...)...)
}

// Output is a solved step's output as the frontend reads it
// (client.Reference).
type Output interface {
	ReadFile(ctx context.Context, req client.ReadRequest) ([]byte, error)
}

// steps are the steps RunStep knows, by name: each parses its own argv
// (the arguments after the name) and runs.
var steps = map[string]func(ctx context.Context, args []string) error{
	prepareStep:        runPrepare,
	realiseStep:        runRealise,
	layerStep:          runLayer,
	authorizedKeysStep: runAuthorizedKeys,
	symlinksStep:       runSymlinks,
}

// RunStep runs `nix-image-frontend step NAME ARGS...` (args is NAME
// ARGS...) inside a build step.
func RunStep(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("step: missing step name")
	}
	run, ok := steps[args[0]]
	if !ok {
		return fmt.Errorf("step: unknown step %q", args[0])
	}
	return run(ctx, args[1:])
}
