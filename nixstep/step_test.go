package nixstep

import (
	"context"
	"path"
	"reflect"
	"slices"
	"testing"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"
)

// stepExec marshals st and returns the exec op whose output it is.
func stepExec(t *testing.T, st llb.State) *pb.ExecOp {
	t.Helper()
	def, err := st.Marshal(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, dt := range def.Def {
		var op pb.Op
		if err := op.UnmarshalVT(dt); err != nil {
			t.Fatal(err)
		}
		if e := op.GetExec(); e != nil {
			return e
		}
	}
	t.Fatal("no exec op")
	return nil
}

// mountTargets are the paths an exec op mounts something at.
func mountTargets(e *pb.ExecOp) []string {
	var targets []string
	for _, m := range e.Mounts {
		targets = append(targets, m.Dest)
	}
	return targets
}

// TestStepContracts: the argv each step's LLB runs is its Args, names a
// step RunStep knows, and parses back into the same input inside the step;
// the paths the step reads and writes are mounted.
func TestStepContracts(t *testing.T) {
	tool, src := llb.Image("example.com/tool"), llb.Image("example.com/src")
	check := func(t *testing.T, st llb.State, args []string, mounts ...string) {
		t.Helper()
		e := stepExec(t, st)
		if !slices.Equal(e.Meta.Args, args) {
			t.Errorf("LLB runs %q, want Args %q", e.Meta.Args, args)
		}
		if len(args) < 3 || args[0] != ToolDir+ToolBinary || args[1] != "step" || steps[args[2]] == nil {
			t.Fatalf("argv %q does not run a step of the frontend binary", args)
		}
		for _, m := range append([]string{ToolDir}, mounts...) {
			if !slices.Contains(mountTargets(e), m) {
				t.Errorf("step %s: nothing mounted at %s (mounts %q)", args[2], m, mountTargets(e))
			}
		}
	}
	t.Run("prepare", func(t *testing.T) {
		for _, p := range []PrepareStep{
			{Marker: "default.nix", Source: "https://example.com/n.tar.gz", StoreName: "nixpkgs"},
			{Marker: "default.nix", Source: "ctx", NarHash: "sha256-x", Where: "f.yaml:3:4 (nixpkgs.narHash)", StoreName: "nixpkgs"},
		} {
			tree, _ := p.Run(tool, src)
			c, err := parsePrepare(p.Args()[3:])
			if err != nil {
				t.Fatal(err)
			}
			if c.step != p {
				t.Errorf("parsed %+v, want %+v", c.step, p)
			}
			check(t, tree, p.Args(), c.src, c.dst, path.Dir(c.meta))
		}
	})
	t.Run("realise", func(t *testing.T) {
		s := RealiseStep{Config: RealiseConfig{System: "x86_64-linux"}, Tool: tool, Release: src, Nixpkgs: src, NixpkgsMeta: src, Context: &src, ImageRelease: &src, CacheID: "c"}
		out, err := s.Run(nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := runRealise(context.Background(), []string{"extra"}); err == nil {
			t.Error("realise takes no arguments")
		}
		check(t, out, s.Args(), ReleaseDir, ImageReleaseDir, NixpkgsDir, path.Dir(NixpkgsMetaFile), path.Dir(ConfigFile), ContextDir, "/nix", OutDir)
	})
	t.Run("layer", func(t *testing.T) {
		s := LayerStep{Config: LayerConfig{Paths: []LayerPath{{Path: "/nix/store/a-b", NarHash: "sha256:x", NarSize: 1}}, Owner: &Owner{UID: 1, GID: 2}, Substituters: []string{"http://c"}}, Tool: tool, Release: src, CacheID: "c"}
		cfg, err := parseLayer(s.Args()[3:])
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(cfg, s.Config) {
			t.Errorf("parsed %+v, want %+v", cfg, s.Config)
		}
		check(t, s.Run(), s.Args(), ReleaseDir, CacheDir, OutDir)
	})
	t.Run("authorized-keys", func(t *testing.T) {
		s := AuthorizedKeysStep{Tool: tool}
		e := stepExec(t, s.Run())
		if !slices.ContainsFunc(e.Mounts, func(m *pb.Mount) bool {
			return m.Dest == AuthorizedKeysSecret && m.SecretOpt.GetID() == AuthorizedKeysSecretID
		}) {
			t.Errorf("the secret %s is not mounted at %s", AuthorizedKeysSecretID, AuthorizedKeysSecret)
		}
		if err := runAuthorizedKeys(context.Background(), []string{"extra"}); err == nil {
			t.Error("authorized-keys takes no arguments")
		}
		check(t, s.Run(), s.Args(), OutDir)
	})
	t.Run("symlinks", func(t *testing.T) {
		s := SymlinksStep{Tool: tool, Links: []Symlink{{Target: "/a", Link: "/etc/b"}}}
		check(t, s.Run(src), s.Args(), OutDir)
		if got, want := s.Args()[3:], []string{OutDir, "/a", "/etc/b"}; !slices.Equal(got, want) {
			t.Errorf("argv %q, want DIR TARGET LINK %q", got, want)
		}
	})
}

func TestRunStepUnknown(t *testing.T) {
	for _, args := range [][]string{nil, {"frobnicate"}} {
		if err := RunStep(context.Background(), args); err == nil {
			t.Errorf("RunStep(%q) succeeded", args)
		}
	}
}
