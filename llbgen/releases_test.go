package llbgen

import (
	"strings"
	"testing"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"
	"github.com/nix-image/nix-image/nixstep"
	"github.com/nix-image/nix-image/spec"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

const testBuildNixSHA = "3333333333333333333333333333333333333333333333333333333333333333"

var (
	amd64 = ocispecs.Platform{OS: "linux", Architecture: "amd64"}
	arm64 = ocispecs.Platform{OS: "linux", Architecture: "arm64"}
)

// onAmd64ForArm64 is a build of an arm64 image on an amd64 builder.
func onAmd64ForArm64(o *Options) {
	o.Platform, o.BuildPlatform = arm64, amd64
	o.BuildNixSHA256 = testBuildNixSHA
}

// specWithNix is testSpec with another nix: field (YAML lines).
func specWithNix(nix string) string {
	return strings.Replace(testSpec, "nix: 2.24.9\n", nix, 1)
}

// realiseExec returns the realise step of def and its mounts by target.
func realiseExec(t *testing.T, def *llb.Definition) (*pb.Op, map[string]*pb.Mount) {
	t.Helper()
	for _, op := range ops(t, def) {
		if e := op.GetExec(); e != nil && strings.Join(e.Meta.Args, " ") == nixstep.ToolDir+nixstep.ToolBinary+" step realise" {
			mounts := map[string]*pb.Mount{}
			for _, m := range e.Mounts {
				mounts[m.Dest] = m
			}
			return op, mounts
		}
	}
	t.Fatal("no realise step")
	return nil, nil
}

// TestCrossBuild: an image for another platform than the builder's is
// realised by steps on the builder's platform, with the builder's Nix
// release, and gets its own system's release, fetched and verified too.
func TestCrossBuild(t *testing.T) {
	perSystem := specWithNix("nix:\n  url: https://mirror.example/nix-{system}.tar.xz\n  sha256:\n    x86_64-linux: " + testBuildNixSHA + "\n    aarch64-linux: " + testNixSHA + "\n")
	contexts := func(o *Options) {
		o.NixSystemContexts = map[string]llb.State{"x86_64-linux": llb.Local("nix-x86_64-linux"), "aarch64-linux": llb.Local("nix-aarch64-linux")}
	}
	tests := []struct {
		name   string
		spec   string
		mutate func(*Options)
		// fetched are the release downloads (url -> checksum).
		fetched      map[string]string
		imageRelease bool
		cacheID      string
	}{
		{
			name:   "official releases",
			spec:   testSpec,
			mutate: onAmd64ForArm64,
			fetched: map[string]string{
				"https://releases.nixos.org/nix/nix-2.24.9/nix-2.24.9-x86_64-linux.tar.xz":  "sha256:" + testBuildNixSHA,
				"https://releases.nixos.org/nix/nix-2.24.9/nix-2.24.9-aarch64-linux.tar.xz": "sha256:" + testNixSHA,
			},
			imageRelease: true,
			cacheID:      "nix-image/nix/aarch64-linux/x86_64-linux/" + testBuildNixSHA,
		},
		{
			name:   "nix.url per system",
			spec:   perSystem,
			mutate: onAmd64ForArm64,
			fetched: map[string]string{
				"https://mirror.example/nix-x86_64-linux.tar.xz":  "sha256:" + testBuildNixSHA,
				"https://mirror.example/nix-aarch64-linux.tar.xz": "sha256:" + testNixSHA,
			},
			imageRelease: true,
			cacheID:      "nix-image/nix/aarch64-linux/x86_64-linux/" + testBuildNixSHA,
		},
		{
			name:         "named contexts per system",
			spec:         testSpec,
			mutate:       func(o *Options) { onAmd64ForArm64(o); contexts(o) },
			fetched:      map[string]string{},
			imageRelease: true,
			cacheID:      "nix-image/nix/aarch64-linux/x86_64-linux/context",
		},
		{
			name: "a context for the builder, the official release for the image",
			spec: testSpec,
			mutate: func(o *Options) {
				onAmd64ForArm64(o)
				o.NixSystemContexts = map[string]llb.State{"x86_64-linux": llb.Local("nix-x86_64-linux")}
			},
			fetched: map[string]string{
				"https://releases.nixos.org/nix/nix-2.24.9/nix-2.24.9-aarch64-linux.tar.xz": "sha256:" + testNixSHA,
			},
			imageRelease: true,
			cacheID:      "nix-image/nix/aarch64-linux/x86_64-linux/context",
		},
		{
			name:   "system.nix: nixpkgs needs only the builder's release",
			spec:   testSpec + "system:\n  nix: nixpkgs\n",
			mutate: onAmd64ForArm64,
			fetched: map[string]string{
				"https://releases.nixos.org/nix/nix-2.24.9/nix-2.24.9-x86_64-linux.tar.xz": "sha256:" + testBuildNixSHA,
			},
			cacheID: "nix-image/nix/aarch64-linux/x86_64-linux/" + testBuildNixSHA,
		},
		{
			name:   "the image's platform is the builder's",
			spec:   perSystem,
			mutate: func(o *Options) { o.BuildPlatform = amd64 },
			fetched: map[string]string{
				"https://mirror.example/nix-x86_64-linux.tar.xz": "sha256:" + testBuildNixSHA,
			},
			cacheID: "nix-image/nix/x86_64-linux/" + testBuildNixSHA,
		},
		{
			name: "an arm64 builder",
			spec: testSpec,
			mutate: func(o *Options) {
				o.Platform, o.BuildPlatform = arm64, arm64
			},
			fetched: map[string]string{
				"https://releases.nixos.org/nix/nix-2.24.9/nix-2.24.9-aarch64-linux.tar.xz": "sha256:" + testNixSHA,
			},
			cacheID: "nix-image/nix/aarch64-linux/" + testNixSHA,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var opt Options
			_, res, def := testBuildSpec(t, tc.spec, spec.TargetDefault, func(o *Options) {
				tc.mutate(o)
				opt = *o
			})
			fetched := map[string]string{}
			for _, op := range ops(t, def) {
				if src := op.GetSource(); src != nil && strings.HasPrefix(src.Identifier, "https://") && strings.Contains(src.Identifier, "/nix-") {
					fetched[src.Identifier] = src.Attrs[pb.AttrHTTPChecksum]
				}
				// Every step that runs a program runs on the builder.
				if e := op.GetExec(); e != nil {
					if p := op.Platform; p.Architecture != buildPlatform(opt).Architecture {
						t.Errorf("step %v runs on %s/%s, want the builder's %s", e.Meta.Args, p.OS, p.Architecture, buildPlatform(opt).Architecture)
					}
				}
			}
			if len(fetched) != len(tc.fetched) {
				t.Errorf("release downloads %v, want %v", fetched, tc.fetched)
			}
			for url, sum := range tc.fetched {
				if fetched[url] != sum {
					t.Errorf("download %s: checksum %q, want %q (all: %v)", url, fetched[url], sum, fetched)
				}
			}
			_, mounts := realiseExec(t, def)
			if m := mounts[nixstep.ReleaseDir]; m == nil || !m.Readonly {
				t.Errorf("%s: want a read-only mount, got %+v", nixstep.ReleaseDir, m)
			}
			if m := mounts[nixstep.ImageReleaseDir]; (m != nil) != tc.imageRelease || (m != nil && !m.Readonly) {
				t.Errorf("%s: mount %+v, want one: %v (read-only)", nixstep.ImageReleaseDir, m, tc.imageRelease)
			}
			if id := mounts["/nix"].CacheOpt.ID; id != tc.cacheID {
				t.Errorf("/nix cache id %s, want %s", id, tc.cacheID)
			}
			cfg := realiseConfig(t, def)
			image, build, _ := Systems(opt)
			if cfg.System != image || cfg.BuildSystem != build {
				t.Errorf("config: system %q, build system %q, want %q and %q", cfg.System, cfg.BuildSystem, image, build)
			}
			if (cfg.ImageReleaseSource != "") != tc.imageRelease {
				t.Errorf("config: image release %q, want one: %v", cfg.ImageReleaseSource, tc.imageRelease)
			}
			if res.Image.Architecture != opt.Platform.Architecture {
				t.Errorf("image architecture %s, want %s", res.Image.Architecture, opt.Platform.Architecture)
			}
		})
	}
}

// TestCrossBuildErrors: a spec or context that cannot give both releases
// of a cross build fails, naming both systems.
func TestCrossBuildErrors(t *testing.T) {
	tests := []struct {
		name   string
		spec   string
		mutate func(*Options)
		want   []string
	}{
		{
			name:   "a nix.url of one system",
			spec:   specWithNix("nix:\n  url: https://mirror.example/nix-2.24.9-x86_64-linux.tar.xz\n  sha256: " + testNixSHA + "\n"),
			mutate: onAmd64ForArm64,
			want: []string{"nix.url (nix-image.yaml:2:8 (nix.url)) gives one Nix release, but this build needs two",
				"the x86_64-linux one, whose Nix realises the image on the builder (platform linux/amd64)",
				"the aarch64-linux one, which the image holds (platform linux/arm64)", "nix-x86_64-linux and nix-aarch64-linux"},
		},
		{
			name: "the named context nix",
			spec: testSpec,
			mutate: func(o *Options) {
				onAmd64ForArm64(o)
				nix := llb.Local("nix")
				o.NixContext = &nix
			},
			want: []string{`the named context "nix" gives one Nix release, but this build needs two`, "x86_64-linux", "aarch64-linux"},
		},
		{
			name:   "nix.sha256 lacks the image's system",
			spec:   specWithNix("nix:\n  url: https://mirror.example/nix-{system}.tar.xz\n  sha256:\n    x86_64-linux: " + testBuildNixSHA + "\n"),
			mutate: onAmd64ForArm64,
			want: []string{"nix.sha256 (nix-image.yaml:3:3 (nix.sha256)) has no sha256 for aarch64-linux, the image's system (platform linux/arm64)",
				"add aarch64-linux: <sha256 of https://mirror.example/nix-aarch64-linux.tar.xz>"},
		},
		{
			name:   "nix.sha256 lacks the builder's system",
			spec:   specWithNix("nix:\n  url: https://mirror.example/nix-{system}.tar.xz\n  sha256:\n    aarch64-linux: " + testNixSHA + "\n"),
			mutate: onAmd64ForArm64,
			want:   []string{"has no sha256 for x86_64-linux, the builder's, whose Nix realises the image (platform linux/amd64)"},
		},
		{
			name:   "no sha256 of the builder's official release",
			spec:   testSpec,
			mutate: func(o *Options) { onAmd64ForArm64(o); o.BuildNixSHA256 = "" },
			want:   []string{"no sha256 for the Nix 2.24.9 tarball of x86_64-linux"},
		},
		{
			name:   "a builder without a Nix system",
			spec:   testSpec,
			mutate: func(o *Options) { o.BuildPlatform = ocispecs.Platform{OS: "linux", Architecture: "mips64"} },
			want:   []string{"the builder: platform linux/mips64 has no Nix system type"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := spec.Parse("nix-image.yaml", []byte(tc.spec))
			if err != nil {
				t.Fatal(err)
			}
			r, err := s.Resolve(spec.TargetDefault)
			if err != nil {
				t.Fatal(err)
			}
			opt := Options{Filename: "nix-image.yaml", Platform: amd64, Tool: llb.Image("example.com/nix-image/frontend:test"), NixSHA256: testNixSHA}
			tc.mutate(&opt)
			_, err = Realise(r, opt)
			if err == nil {
				t.Fatal("Realise succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}
