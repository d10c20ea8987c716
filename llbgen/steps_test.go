package llbgen

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"
	"github.com/nix-image/nix-image/nixstep"
	"github.com/nix-image/nix-image/spec"
	digest "github.com/opencontainers/go-digest"
	"google.golang.org/protobuf/proto"
)

// ourOp reports whether an op is one nix-image makes, rather than one it
// consumes (the frontend image, a named context) or the definition's
// final op, which only names the result.
func ourOp(op *pb.Op) bool {
	if src := op.GetSource(); src != nil {
		return strings.HasPrefix(src.Identifier, "https://")
	}
	return op.Op != nil
}

// TestIgnoreCache: with Options.IgnoreCache (--no-cache) every op of ours
// carries IgnoreCache, and none does without it, on every shape of build.
func TestIgnoreCache(t *testing.T) {
	contexts := func(o *Options) {
		nix, pkgs := llb.Local("nix"), llb.Local("nixpkgs")
		o.NixContext, o.NixpkgsContext = &nix, &pkgs
	}
	shapes := []struct {
		name   string
		target string
		mutate func(*Options)
	}{
		{"default", spec.TargetDefault, nil},
		{"ssh", spec.TargetSSH, func(o *Options) { o.AuthorizedKeys = []byte("ssh-ed25519 AAAA k\n") }},
		{"copies instead of MergeOp", spec.TargetDefault, func(o *Options) { o.UseMergeOp = false }},
		{"named contexts", spec.TargetDefault, contexts},
	}
	for _, shape := range shapes {
		for _, ignore := range []bool{false, true} {
			name := shape.name + "/cached"
			if ignore {
				name = shape.name + "/no-cache"
			}
			t.Run(name, func(t *testing.T) {
				_, _, def := testBuild(t, shape.target, func(o *Options) {
					if shape.mutate != nil {
						shape.mutate(o)
					}
					o.IgnoreCache = ignore
				})
				kinds := map[string]int{}
				for _, dt := range def.Def {
					var op pb.Op
					if err := op.UnmarshalVT(dt); err != nil {
						t.Fatal(err)
					}
					md := def.Metadata[digest.FromBytes(dt)]
					name := md.Description["llb.customname"]
					if !ourOp(&op) {
						if md.IgnoreCache {
							t.Errorf("op %s (%s) is not ours but carries IgnoreCache", name, op.String())
						}
						continue
					}
					kinds[opKind(&op)]++
					if md.IgnoreCache != ignore {
						t.Errorf("op %q (%s): IgnoreCache = %v, want %v", name, opKind(&op), md.IgnoreCache, ignore)
					}
				}
				// The test must see every kind of step: run, file, merge or copy, fetch.
				want := []string{"exec", "file"}
				if shape.name != "named contexts" {
					want = append(want, "source")
				}
				if shape.name != "copies instead of MergeOp" {
					want = append(want, "merge")
				}
				for _, k := range want {
					if kinds[k] == 0 {
						t.Errorf("no %s op of ours in the build (%v)", k, kinds)
					}
				}
			})
		}
	}
	t.Run("install script", func(t *testing.T) {
		for _, ignore := range []bool{false, true} {
			def, err := InstallScript(spec.Nix{Version: "2.33.3", Releases: spec.DefaultNixReleases}, Options{IgnoreCache: ignore}).Marshal(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, dt := range def.Def {
				var op pb.Op
				if err := op.UnmarshalVT(dt); err != nil {
					t.Fatal(err)
				}
				if op.GetSource() != nil {
					n++
					if got := def.Metadata[digest.FromBytes(dt)].IgnoreCache; got != ignore {
						t.Errorf("install script fetch: IgnoreCache = %v, want %v", got, ignore)
					}
				}
			}
			if n != 1 {
				t.Errorf("%d sources, want the install script", n)
			}
		}
	})
}

func opKind(op *pb.Op) string {
	switch op.Op.(type) {
	case *pb.Op_Exec:
		return "exec"
	case *pb.Op_File:
		return "file"
	case *pb.Op_Merge:
		return "merge"
	case *pb.Op_Source:
		return "source"
	}
	return "other"
}

// TestProxy: the proxy build args reach the steps that use the network
// (the realise step, and the layer steps, which substitute what the /nix
// cache lacks), and no other; and they are in no op's cache key:
// without the exec ops' proxy field, which BuildKit leaves out of the
// key, the definition is the one built without a proxy.
func TestProxy(t *testing.T) {
	proxy := &llb.ProxyEnv{HTTPProxy: "http://user:secret@proxy.corp:3128", HTTPSProxy: "http://proxy.corp:3129", NoProxy: ".corp", AllProxy: "socks5://s:1080"}
	want := &pb.ProxyEnv{HttpProxy: proxy.HTTPProxy, HttpsProxy: proxy.HTTPSProxy, NoProxy: proxy.NoProxy, AllProxy: proxy.AllProxy}
	for _, target := range []string{spec.TargetDefault, spec.TargetSSH} {
		t.Run(target, func(t *testing.T) {
			_, _, plain := testBuild(t, target, nil)
			_, _, proxied := testBuild(t, target, func(o *Options) { o.Proxy = proxy })
			plainOps, plainProxies := withoutProxy(t, plain)
			proxiedOps, proxies := withoutProxy(t, proxied)
			if len(plainProxies) != 0 {
				t.Errorf("without proxy build args, steps %q have a proxy", slices.Collect(maps.Keys(plainProxies)))
			}
			realise := nixstep.ToolDir + nixstep.ToolBinary + " step realise"
			layers := 0
			for step, p := range proxies {
				if strings.HasPrefix(step, nixstep.ToolDir+nixstep.ToolBinary+" step layer ") && p.EqualVT(want) {
					layers++
				}
			}
			if !proxies[realise].EqualVT(want) || layers != 3 || len(proxies) != 4 {
				t.Errorf("steps with a proxy: %v, want %q and the 3 layer steps with %v", proxies, realise, want)
			}
			if !slices.Equal(plainOps, proxiedOps) {
				t.Errorf("the definitions differ beyond the proxy field:\n%s\n%s", strings.Join(plainOps, "\n"), strings.Join(proxiedOps, "\n"))
			}
			for _, op := range proxiedOps {
				if strings.Contains(op, "proxy.corp") {
					t.Errorf("op holds the proxy outside the proxy field: %s", op)
				}
			}
		})
	}
}

// withoutProxy returns the ops of def with their exec ops' proxy field
// cleared, as BuildKit does for the cache key (inputs renamed to match),
// sorted, and the proxies it cleared by step command line.
func withoutProxy(t *testing.T, def *llb.Definition) ([]string, map[string]*pb.ProxyEnv) {
	t.Helper()
	renamed := map[string]string{}
	proxies := map[string]*pb.ProxyEnv{}
	var out []string
	for _, dt := range def.Def {
		var op pb.Op
		if err := op.UnmarshalVT(dt); err != nil {
			t.Fatal(err)
		}
		if e := op.GetExec(); e != nil && e.Meta.ProxyEnv != nil {
			proxies[strings.Join(e.Meta.Args, " ")] = e.Meta.ProxyEnv
			e.Meta.ProxyEnv = nil
		}
		for _, in := range op.Inputs {
			in.Digest = renamed[in.Digest]
		}
		norm, err := proto.MarshalOptions{Deterministic: true}.Marshal(&op)
		if err != nil {
			t.Fatal(err)
		}
		renamed[string(digest.FromBytes(dt))] = string(digest.FromBytes(norm))
		out = append(out, op.String())
	}
	slices.Sort(out)
	return out, proxies
}

func TestOrigin(t *testing.T) {
	s, err := spec.Parse("nix-image.yaml", []byte(testSpec))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ApplyBuildArgs(map[string]string{"SUBSTITUTERS": "http://mirror:5000"}); err != nil {
		t.Fatal(err)
	}
	r, err := s.Resolve(spec.TargetDefault)
	if err != nil {
		t.Fatal(err)
	}
	opt := Options{Filename: "nix-image.yaml"}
	tests := map[string]string{
		"nixpkgs.url":       "nix-image.yaml:3:8 (nixpkgs.url)",
		"substituters":      "build-arg:SUBSTITUTERS",
		"trustedPublicKeys": "nix-image.yaml:7:1 (trustedPublicKeys)",
		"nix.releases":      "the default nix.releases",
	}
	for path, want := range tests {
		if got := origin(r, opt, path); got != want {
			t.Errorf("origin(%s) = %q, want %q", path, got, want)
		}
	}
}
