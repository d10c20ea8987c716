// Package testenv starts the real stack the integration tests run against: a
// registry (Debian's docker-registry) on a free loopback port and a buildkitd
// (bin/buildkitd, OCI worker, runc, overlayfs) on a unix socket, both in a
// fresh temporary directory, with the nix-image frontend image pushed to the
// registry so that specs can name it in their `# syntax=` line.
//
// Use it from TestMain, so that one `go test ./e2e/` run starts the stack once:
//
//	var env *testenv.Env
//
//	func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &env)) }
//
//	func TestX(t *testing.T) {
//		e := testenv.Need(t, env)
//		dir := e.SpecContext(t, spec, nil)
//		res, err := e.BuildSpec(ctx, dir, "--output", "type=oci,dest="+tar)
//		...
//		out, _, err := e.RunImage(ctx, tar, "nix", "--version")
//	}
//
// Main skips the stack (and Need skips the tests) when NIX_IMAGE_E2E=0.
//
// What an Env offers:
//   - Buildctl: bin/buildctl against the daemon.
//   - SpecContext, BuildSpec, Build: a context dir with nix-image.yaml
//     (`# syntax=FrontendRef` prepended) built through the Dockerfile
//     frontend with --progress=rawjson, parsed into a Progress (vertices,
//     logs, warnings). Progress.Executed lists the vertices reported
//     completed uncached; Progress.ExecutedSteps those that really ran
//     (Vertex.Ran: a source, which BuildKit re-checks on every build,
//     only when started twice), named or not, without what every build
//     runs (EveryBuild): a no-change rebuild must have no
//     ExecutedSteps(""). hack/bench counts with the same rule.
//   - Buildx, BuildxJSON: `docker buildx ...` (build, bake) with a
//     remote-driver builder for the daemon, in a Docker config dir of the
//     Env's own; BuildxJSON parses its rawjson progress like BuildSpec.
//   - RunImage, Run, StartImage: run a command in an exported image (OCI
//     tar or layout, or a rootfs dir) with runc, like `docker run --rm
//     --network host`; UnpackOCI unpacks once for many runs.
//   - PushFrontend: push the frontend image under another ref.
//   - RequireNoEmulation, EnableBinfmt (binfmt.go): an arm64 image is
//     built with no aarch64 emulator in reach (no binfmt_misc entry that
//     runs aarch64 ELF files, no qemu in buildkitd's PATH: checked when
//     the hold starts and when it ends), then run under qemu-user
//     (hack/qemu.sh's, registered in binfmt_misc only until disable or the
//     test's end). A machine-wide lock file keeps the two apart across
//     all test processes (see the example below).
//
// An arm64 image built without emulation, then run under qemu-user:
//
//	done := e.RequireNoEmulation(t)
//	res, err := e.BuildSpec(ctx, dir, "--opt", "platform=linux/amd64,linux/arm64", ...)
//	done()
//	disable := testenv.EnableBinfmt(t)
//	out, _, err := e.RunImage(ctx, arm64Tar, "nix", "--version")
//	disable()
//
// StartWith starts a stack of its own with Options, e.g. on another
// buildkitd (Options.Buildkitd: bin/buildkitd-v0.12.5, the oldest
// supported BuildKit); the test stops it with Stop.
//
// Requirements: root, the Debian packages of hack/install-deps.sh, and
// bin/buildkitd, bin/buildctl, bin/docker-buildx (make tools); Buildx also
// needs a docker client (only the client: there is no engine). Start builds
// bin/nix-image-frontend itself (go build is a no-op when `make frontend`
// already built it).
//
// Everything started is stopped by process group, also when a test fails or
// the run is interrupted (SIGINT, SIGTERM); if the test binary dies anyway
// (go test's -timeout panic, SIGKILL), the daemons get SIGTERM from the kernel
// (Pdeathsig) and the next Start removes the directories such runs left.
package testenv
