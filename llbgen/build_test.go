package llbgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"
	"github.com/nix-image/nix-image/nixstep"
	"github.com/nix-image/nix-image/spec"
	"github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

const (
	testNixSHA     = "1111111111111111111111111111111111111111111111111111111111111111"
	testNixpkgsSHA = "2222222222222222222222222222222222222222222222222222222222222222"
)

const testSpec = `nix: 2.24.9
nixpkgs:
  url: https://example.com/nixpkgs.tar.gz
  sha256: ` + testNixpkgsSHA + `
packages: [hello, sqlite]
substituters: [http://127.0.0.1:1234]
trustedPublicKeys: ["k-1:` + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" + `"]
config:
  env: {FOO: bar, PATH: /custom/bin}
  labels: {org.example: yes}
images:
  ssh:
    authorizedKeys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPj0mJ1ymW4tU4Rc7Sm5wvZD7jAwWdh6vRFFdFXd+9pj me@host"]
`

// testClosure is a small closure as the realise step describes it.
var testClosure = &nixstep.Closure{Paths: []nixstep.PathInfo{
	{Path: "/nix/store/aaa-glibc", References: []string{"/nix/store/aaa-glibc"}, Origin: nixstep.Fetched},
	{Path: "/nix/store/bbb-bash", References: []string{"/nix/store/aaa-glibc"}, Origin: nixstep.Fetched},
	{Path: "/nix/store/ccc-hello", References: []string{"/nix/store/aaa-glibc"}, Origin: nixstep.Fetched},
	{Path: "/nix/store/ddd-user-environment", References: []string{"/nix/store/bbb-bash", "/nix/store/ccc-hello"}, Origin: nixstep.Built},
	{Path: "/nix/store/eee-nixpkgs", References: []string{}, Origin: nixstep.Source},
}}

func testBuild(t *testing.T, target string, mutate func(*Options)) (*spec.Spec, *Result, *llb.Definition) {
	t.Helper()
	return testBuildSpec(t, testSpec, target, mutate)
}

// testBuildSpec is testBuild of another spec.
func testBuildSpec(t *testing.T, src, target string, mutate func(*Options)) (*spec.Spec, *Result, *llb.Definition) {
	t.Helper()
	s, err := spec.Parse("nix-image.yaml", []byte(src))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	r, err := s.Resolve(target)
	if err != nil {
		t.Fatalf("resolve: %v", err)
	}
	opt := Options{
		Filename:   "nix-image.yaml",
		Platform:   ocispecs.Platform{OS: "linux", Architecture: "amd64"},
		Tool:       llb.Image("example.com/nix-image/frontend:test"),
		NixSHA256:  testNixSHA,
		Epoch:      time.Unix(0, 0),
		UseMergeOp: true,
	}
	if mutate != nil {
		mutate(&opt)
	}
	realised, err := Realise(r, opt)
	if err != nil {
		t.Fatalf("realise: %v", err)
	}
	res, err := Image(r, opt, realised, testClosure)
	if err != nil {
		t.Fatalf("image: %v", err)
	}
	def, err := res.State.Marshal(context.Background(), llb.Platform(opt.Platform))
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return s, res, def
}

// ops decodes every op of a definition.
func ops(t *testing.T, def *llb.Definition) []*pb.Op {
	t.Helper()
	var out []*pb.Op
	for _, dt := range def.Def {
		var op pb.Op
		if err := op.UnmarshalVT(dt); err != nil {
			t.Fatalf("unmarshal op: %v", err)
		}
		out = append(out, &op)
	}
	return out
}

func TestBuildIsDeterministic(t *testing.T) {
	// The build's --label labels too: the image config is final here.
	labels := func(o *Options) { o.Labels = map[string]string{"b": "2", "a": "1", "org.example": "label", "c": "3"} }
	for _, target := range []string{"default", "ssh"} {
		t.Run(target, func(t *testing.T) {
			_, first, def := testBuild(t, target, labels)
			want := bytes.Join(def.Def, []byte{0})
			wantImg, _ := json.Marshal(first.Image)
			for i := 0; i < 20; i++ {
				_, res, def := testBuild(t, target, labels)
				if got := bytes.Join(def.Def, []byte{0}); !bytes.Equal(got, want) {
					t.Fatalf("run %d: LLB differs from the first run", i)
				}
				if img, _ := json.Marshal(res.Image); !bytes.Equal(img, wantImg) {
					t.Fatalf("run %d: image config differs from the first run", i)
				}
			}
		})
	}
}

func TestBuildSources(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Options)
		wantURL map[string]string // url -> checksum
		wantNo  []string
	}{
		{
			name: "downloads",
			wantURL: map[string]string{
				"https://releases.nixos.org/nix/nix-2.24.9/nix-2.24.9-x86_64-linux.tar.xz": "sha256:" + testNixSHA,
				"https://example.com/nixpkgs.tar.gz":                                       "sha256:" + testNixpkgsSHA,
			},
		},
		{
			name: "named contexts",
			mutate: func(o *Options) {
				nix, pkgs := llb.Local("nix"), llb.Local("nixpkgs")
				o.NixContext, o.NixpkgsContext = &nix, &pkgs
			},
			wantNo: []string{"https://releases.nixos.org", "https://example.com/nixpkgs.tar.gz"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, def := testBuild(t, "default", tc.mutate)
			got := map[string]string{}
			for _, op := range ops(t, def) {
				if src := op.GetSource(); src != nil && strings.HasPrefix(src.Identifier, "http") {
					got[src.Identifier] = src.Attrs[pb.AttrHTTPChecksum]
				}
			}
			for url, sum := range tc.wantURL {
				if got[url] != sum {
					t.Errorf("source %s: checksum %q, want %q (sources: %v)", url, got[url], sum, got)
				}
			}
			for _, url := range tc.wantNo {
				for g := range got {
					if strings.HasPrefix(g, url) {
						t.Errorf("unexpected download %s", g)
					}
				}
			}
		})
	}
}

func TestRealiseStep(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Options)
		cacheID string
	}{
		{"plain", nil, "nix-image/nix/x86_64-linux/" + testNixSHA},
		{"namespaced", func(o *Options) { o.CacheNamespace = "team" }, "team/nix-image/nix/x86_64-linux/" + testNixSHA},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, def := testBuild(t, "default", tc.mutate)
			var realise *pb.ExecOp
			for _, op := range ops(t, def) {
				if e := op.GetExec(); e != nil && strings.Join(e.Meta.Args, " ") == nixstep.ToolDir+nixstep.ToolBinary+" step realise" {
					realise = e
				}
			}
			if realise == nil {
				t.Fatal("no realise step")
			}
			mounts := map[string]*pb.Mount{}
			for _, m := range realise.Mounts {
				mounts[m.Dest] = m
			}
			nix := mounts["/nix"]
			if nix == nil || nix.MountType != pb.MountType_CACHE || nix.CacheOpt.ID != tc.cacheID || nix.CacheOpt.Sharing != pb.CacheSharingOpt_LOCKED {
				t.Errorf("/nix mount = %+v, want a locked cache mount with id %s", nix, tc.cacheID)
			}
			for _, ro := range []string{nixstep.ToolDir, nixstep.ReleaseDir, nixstep.NixpkgsDir} {
				if m := mounts[ro]; m == nil || !m.Readonly {
					t.Errorf("%s: want a read-only mount, got %+v", ro, m)
				}
			}
			if m := mounts[nixstep.OutDir]; m == nil || m.Output < 0 {
				t.Errorf("%s: want the step's output, got %+v", nixstep.OutDir, m)
			}
		})
	}
}

// realiseConfig returns the realise step's config in def.
func realiseConfig(t *testing.T, def *llb.Definition) nixstep.RealiseConfig {
	t.Helper()
	var cfg nixstep.RealiseConfig
	for _, op := range ops(t, def) {
		f := op.GetFile()
		if f == nil {
			continue
		}
		for _, a := range f.Actions {
			if mk := a.GetMkfile(); mk != nil && mk.Path == "/realise.json" {
				if err := json.Unmarshal(mk.Data, &cfg); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	return cfg
}

func TestRealiseConfig(t *testing.T) {
	_, _, def := testBuild(t, "default", nil)
	cfg := realiseConfig(t, def)
	if cfg.System != "x86_64-linux" {
		t.Errorf("system = %q", cfg.System)
	}
	var attrs, wheres []string
	for _, p := range cfg.Packages {
		attrs = append(attrs, p.Attr)
		wheres = append(wheres, p.Where)
	}
	if got := strings.Join(attrs, " "); !strings.HasSuffix(got, "hello sqlite") {
		t.Errorf("packages = %q, want the default ones then hello sqlite", got)
	}
	if w := wheres[len(wheres)-2]; w != "nix-image.yaml:5:12 (packages[0])" {
		t.Errorf("where of hello = %q", w)
	}
	if cfg.NixpkgsWhere != "nix-image.yaml:3:8 (nixpkgs.url)" {
		t.Errorf("nixpkgs where = %q", cfg.NixpkgsWhere)
	}
	if strings.Join(cfg.Substituters, " ") != "http://127.0.0.1:1234" {
		t.Errorf("substituters = %v", cfg.Substituters)
	}
	if want := "https://releases.nixos.org/nix/nix-2.24.9/nix-2.24.9-x86_64-linux.tar.xz, given at nix-image.yaml:1:6 (nix.version)"; cfg.ReleaseSource != want {
		t.Errorf("release source = %q, want %q", cfg.ReleaseSource, want)
	}
}

// TestPrepareSource: the unpack step names its source (the URL) for its
// errors.
func TestPrepareSource(t *testing.T) {
	_, _, def := testBuild(t, "default", nil)
	var args []string
	for _, op := range ops(t, def) {
		if e := op.GetExec(); e != nil && slices.Contains(e.Meta.Args, "prepare") {
			args = e.Meta.Args
		}
	}
	i := slices.Index(args, "--source")
	if i < 0 || i+1 >= len(args) || !strings.HasPrefix(args[i+1], "https://") || !strings.HasSuffix(args[i+1], ".tar.gz") {
		t.Errorf("prepare args = %q, want --source URL", args)
	}
}

// TestSystemNix: the system profile's Nix is the release's unless
// system.nix asks for nixpkgs' nix attribute; the label says which.
func TestSystemNix(t *testing.T) {
	tests := []struct {
		name, src   string
		releaseNix  bool
		system      string
		nixWhere    string
		description string
	}{
		{"release", testSpec, true, "bashInteractive coreutils cacert shadow", "",
			"Nix 2.24.9 with nixpkgs https://example.com/nixpkgs.tar.gz"},
		{"nixpkgs", testSpec + "system:\n  nix: nixpkgs\n", false, "nix bashInteractive coreutils cacert shadow", "nix-image.yaml:15:8 (system.nix)",
			"Nix of nixpkgs https://example.com/nixpkgs.tar.gz (realised with Nix 2.24.9)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, res, def := testBuildSpec(t, tt.src, "default", nil)
			cfg := realiseConfig(t, def)
			var attrs []string
			for _, p := range cfg.SystemPackages {
				attrs = append(attrs, p.Attr)
				if p.Attr == "nix" && p.Where != tt.nixWhere {
					t.Errorf("nix comes from %q, want %q", p.Where, tt.nixWhere)
				}
			}
			if got := strings.Join(attrs, " "); got != tt.system || cfg.ReleaseNix != tt.releaseNix {
				t.Errorf("system packages %q, releaseNix %v; want %q, %v", got, cfg.ReleaseNix, tt.system, tt.releaseNix)
			}
			if got := res.Image.Config.Labels["org.opencontainers.image.description"]; got != tt.description {
				t.Errorf("description = %q, want %q", got, tt.description)
			}
		})
	}
}

func TestImageConfig(t *testing.T) {
	_, def, _ := testBuild(t, "default", func(o *Options) { o.Epoch = time.Unix(1700000000, 0) })
	_, ssh, _ := testBuild(t, "ssh", nil)
	img := def.Image
	env := strings.Join(img.Config.Env, "\n")
	for _, want := range []string{"PATH=/custom/bin", "NIX_PATH=nixpkgs=/root/.nix-defexpr/channels/nixpkgs", "FOO=bar", "NIX_SSL_CERT_FILE=/etc/ssl/certs/ca-bundle.crt"} {
		if !strings.Contains(env, want) {
			t.Errorf("env lacks %s:\n%s", want, env)
		}
	}
	if img.Config.Labels["org.example"] != "yes" {
		t.Errorf("labels = %v", img.Config.Labels)
	}
	// --label sets labels over the spec's and nix-image's own.
	_, labelled, _ := testBuild(t, "default", func(o *Options) {
		o.Labels = map[string]string{"org.example": "label", "org.opencontainers.image.title": "mine", "new": "x"}
	})
	for k, want := range map[string]string{"org.example": "label", "org.opencontainers.image.title": "mine", "new": "x"} {
		if got := labelled.Image.Config.Labels[k]; got != want {
			t.Errorf("with --label %s=%s: label %s = %q (labels %v)", k, want, k, got, labelled.Image.Config.Labels)
		}
	}
	if img.Created == nil || img.Created.Unix() != 1700000000 {
		t.Errorf("created = %v", img.Created)
	}
	if img.Platform.Architecture != "amd64" || img.Platform.OS != "linux" {
		t.Errorf("platform = %+v", img.Platform)
	}
	if _, ok := ssh.Image.Config.ExposedPorts["22/tcp"]; !ok {
		t.Errorf("ssh image exposes %v, want 22/tcp", ssh.Image.Config.ExposedPorts)
	}
	_, ports, _ := testBuildSpec(t, testSpec+"  default:\n    config:\n      exposedPorts: [\"8080\", 53/udp]\n", "default", nil)
	if got, want := ports.Image.Config.ExposedPorts, map[string]struct{}{"8080/tcp": {}, "53/udp": {}}; !reflect.DeepEqual(got, want) {
		t.Errorf("exposedPorts [8080, 53/udp] give %v, want %v", got, want)
	}
}

func TestStoreLayers(t *testing.T) {
	tests := []struct {
		name    string
		mergeOp bool
		noCache bool
		want    string // the source paths of each copy, layer by layer
	}{
		{"merge", true, false, storeLayersWant},
		{"copies", false, false, storeLayersWant},
		// --no-cache: the steps' /nix cache mounts are empty, the
		// realise step writes the fetched paths' trees too.
		{"no-cache", true, true, storeLayersNoCacheWant},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, res, def := testBuild(t, "default", func(o *Options) { o.UseMergeOp, o.IgnoreCache = tc.mergeOp, tc.noCache })
			if cfg := realiseConfig(t, def); cfg.FetchedTrees != tc.noCache {
				t.Errorf("realise config fetchedTrees = %v, want %v", cfg.FetchedTrees, tc.noCache)
			}
			merges := 0
			for _, op := range ops(t, def) {
				if op.GetMerge() != nil {
					merges++
				}
			}
			if got := strings.Join(layerSources(t, def), " | "); got != tc.want {
				t.Errorf("layers = %s\nwant %s", got, tc.want)
			}
			if (merges == 1) != tc.mergeOp {
				t.Errorf("%d merge ops, MergeOp=%v", merges, tc.mergeOp)
			}
			// One history entry per layer: 5 store paths, /etc, system tree.
			if n := len(res.Image.History); n != 7 {
				t.Errorf("%d history entries, want 7", n)
			}
		})
	}
}

// storeLayersWant is what layerSources says of testClosure's image: the
// fetched paths written by layer steps, the built one copied out of the
// realise step's output, the nixpkgs source from its unpack step, /etc and
// the system tree.
const storeLayersWant = "step aaa-glibc | step bbb-bash | step ccc-hello | copy /layers/ddd-user-environment | unpack nixpkgs | /etc | copy /root"

// storeLayersNoCacheWant is storeLayersWant with --no-cache: every store
// path but nixpkgs is copied out of the realise step's output.
const storeLayersNoCacheWant = "copy /layers/aaa-glibc | copy /layers/bbb-bash | copy /layers/ccc-hello | copy /layers/ddd-user-environment | unpack nixpkgs | /etc | copy /root"

// layerSources describes, in layer order as the image stacks them, where
// each layer comes from: "step NAMES" (the layer step of those store
// paths), "unpack nixpkgs", "copy SRCS" (copies out of another state) or
// "/etc".
func layerSources(t *testing.T, def *llb.Definition) []string {
	t.Helper()
	var srcs []string
	for _, l := range imageLayers(t, def).layers {
		srcs = append(srcs, describeLayer(t, l))
	}
	return srcs
}

// layerOps is a definition's ops by digest and the ops of its image's
// layers, in the order the image stacks them.
type layerOps struct {
	byDigest map[digest.Digest]*pb.Op
	layers   []*pb.Op
}

// imageLayers finds the ops of the image's layers: the merge op's inputs
// in order, or the chain of copies without MergeOp.
func imageLayers(t *testing.T, def *llb.Definition) layerOps {
	t.Helper()
	byDigest := map[digest.Digest]*pb.Op{}
	var last *pb.Op
	for _, dt := range def.Def {
		var op pb.Op
		if err := op.UnmarshalVT(dt); err != nil {
			t.Fatal(err)
		}
		byDigest[digest.FromBytes(dt)] = &op
		last = &op
	}
	// The last op of a definition is the terminal one: its input is the
	// image's root state.
	top := byDigest[digest.Digest(last.Inputs[0].Digest)]
	var layers []*pb.Op
	if m := top.GetMerge(); m != nil {
		for _, in := range top.Inputs {
			layers = append(layers, byDigest[digest.Digest(in.Digest)])
		}
	} else {
		// Each copy puts one layer (input 1) onto the stack so far
		// (input 0), down to the first layer.
		for op := top; ; {
			var cp *pb.FileActionCopy
			if f := op.GetFile(); f != nil {
				cp = f.GetActions()[0].GetCopy()
			}
			if cp == nil || cp.Src != "/" || len(op.Inputs) != 2 {
				layers = append([]*pb.Op{op}, layers...)
				break
			}
			layers = append([]*pb.Op{byDigest[digest.Digest(op.Inputs[1].Digest)]}, layers...)
			op = byDigest[digest.Digest(op.Inputs[0].Digest)]
		}
	}
	return layerOps{byDigest: byDigest, layers: layers}
}

// layerStepNames is the names of the store paths a layer step writes, and
// whether the exec op is a layer step.
func layerStepNames(t *testing.T, e *pb.ExecOp) ([]string, bool) {
	t.Helper()
	args := e.GetMeta().GetArgs()
	if len(args) != 4 || args[2] != "layer" {
		return nil, false
	}
	var cfg nixstep.LayerConfig
	if err := json.Unmarshal([]byte(args[3]), &cfg); err != nil {
		t.Fatalf("layer step config: %v", err)
	}
	var names []string
	for _, p := range cfg.Paths {
		names = append(names, path.Base(p.Path))
	}
	return names, true
}

// isUnpackStep says whether the exec op is the step that unpacks nixpkgs.
func isUnpackStep(e *pb.ExecOp) bool {
	args := e.GetMeta().GetArgs()
	return len(args) > 2 && args[2] == "prepare"
}

// describeLayer is layerSources' description of one layer's op.
func describeLayer(t *testing.T, op *pb.Op) string {
	t.Helper()
	if e := op.GetExec(); e != nil {
		if names, ok := layerStepNames(t, e); ok {
			return "step " + strings.Join(names, ",")
		}
		if isUnpackStep(e) {
			return "unpack nixpkgs"
		}
		return "exec " + strings.Join(e.GetMeta().GetArgs(), " ")
	}
	var copies []string
	for _, a := range op.GetFile().GetActions() {
		if c := a.GetCopy(); c != nil && c.Src != "/" {
			copies = append(copies, strings.TrimSuffix(c.Src, "/"))
		}
	}
	if len(copies) == 0 {
		return "/etc"
	}
	return "copy " + strings.Join(copies, ",")
}

// TestLayersAreOneSnapshot: over budget, a shared layer holding fetched
// and built paths is still one snapshot on scratch (one file op copying
// the layer step's output and the built paths), so that the image has
// one layer per group, as many as its history entries.
func TestLayersAreOneSnapshot(t *testing.T) {
	for _, mergeOp := range []bool{true, false} {
		_, res, def := testBuildSpec(t, testSpec+"layers: 4\n", "default", func(o *Options) { o.UseMergeOp = mergeOp })
		got := strings.Join(layerSources(t, def), " | ")
		want := "unpack nixpkgs | copy /layers/ddd-user-environment | /etc | copy /root"
		if got != want {
			t.Errorf("MergeOp=%v: layers = %s\nwant %s", mergeOp, got, want)
		}
		if n := len(res.Image.History); n != 4 {
			t.Errorf("MergeOp=%v: %d history entries, want 4", mergeOp, n)
		}
		shared := 0
		for _, op := range ops(t, def) {
			f := op.GetFile()
			if f == nil || len(f.Actions) != 2 || f.Actions[1].GetCopy().GetSrc() != "/layers/ddd-user-environment" {
				continue
			}
			shared++
			// The layer step's output onto scratch, then the built path
			// onto that (the first action's output, numbered after the
			// op's inputs).
			if c := f.Actions[0].GetCopy(); c == nil || c.Src != "/" || f.Actions[0].Input != -1 || f.Actions[1].Input != int64(len(op.Inputs)) {
				t.Errorf("MergeOp=%v: the shared layer is not one snapshot on scratch: %v", mergeOp, f.Actions)
			}
		}
		if shared != 1 {
			t.Errorf("MergeOp=%v: %d shared layers with the built path, want 1", mergeOp, shared)
		}
	}
}

// TestSmallestBudgetKeepsEveryPath: an ssh image of the smallest budget
// has room for one layer of store paths; it holds them all, the nixpkgs
// source copied in with the others.
func TestSmallestBudgetKeepsEveryPath(t *testing.T) {
	for _, mergeOp := range []bool{true, false} {
		_, res, def := testBuildSpec(t, testSpec+"layers: 4\n", "ssh", func(o *Options) { o.UseMergeOp = mergeOp })
		// The layer step's output for the fetched paths, the built one,
		// the source (TestLayersAreOneSnapshot); /etc, the system tree,
		// the sshd files.
		got := strings.Join(layerSources(t, def), " | ")
		if want := "copy /layers/ddd-user-environment | /etc | copy /root | /etc"; got != want {
			t.Errorf("MergeOp=%v: layers = %s\nwant %s", mergeOp, got, want)
		}
		if n := len(res.Image.History); n != 4 {
			t.Errorf("MergeOp=%v: %d history entries, want 4", mergeOp, n)
		}
		copies := 0
		for _, op := range ops(t, def) {
			if f := op.GetFile(); f != nil && len(f.Actions) == 3 && f.Actions[1].GetCopy().GetSrc() == "/layers/ddd-user-environment" {
				copies++
			}
		}
		if copies != 1 {
			t.Errorf("MergeOp=%v: %d layers copying the fetched, built and source paths, want 1", mergeOp, copies)
		}
	}
}

// TestEveryBudgetKeepsEveryPath: whatever the budget, and whether the
// layers are merged or copied, the image's layers hold every store path of
// the closure, each once.
func TestEveryBudgetKeepsEveryPath(t *testing.T) {
	var want []string
	for _, p := range testClosure.Paths {
		want = append(want, path.Base(p.Path))
	}
	slices.Sort(want)
	for _, target := range []string{"default", "ssh"} {
		// Up to a layer for every path and more: the image has at most
		// 3 layers that are not store paths (/etc, the system tree, the
		// sshd files).
		for budget := spec.MinLayers; budget <= len(testClosure.Paths)+4; budget++ {
			for _, mergeOp := range []bool{true, false} {
				src := fmt.Sprintf("%slayers: %d\n", testSpec, budget)
				_, _, def := testBuildSpec(t, src, target, func(o *Options) { o.UseMergeOp = mergeOp })
				l := imageLayers(t, def)
				var got []string
				for _, op := range l.layers {
					got = append(got, l.storeNames(t, op)...)
				}
				slices.Sort(got)
				if !slices.Equal(got, want) {
					t.Errorf("%s, layers: %d, MergeOp=%v: the layers hold %v, want %v", target, budget, mergeOp, got, want)
				}
			}
		}
	}
}

// storeNames are the names of the store paths a layer's op puts in the
// image: a layer step's paths, the unpack step's source, the paths a file
// op copies out of the realise step's output, and those of the layer ops
// it copies whole.
func (l layerOps) storeNames(t *testing.T, op *pb.Op) []string {
	t.Helper()
	if e := op.GetExec(); e != nil {
		if names, ok := layerStepNames(t, e); ok {
			return names
		}
		if isUnpackStep(e) {
			for _, p := range testClosure.Paths {
				if p.Origin == nixstep.Source {
					return []string{path.Base(p.Path)}
				}
			}
		}
		return nil
	}
	var names []string
	for _, a := range op.GetFile().GetActions() {
		c := a.GetCopy()
		switch {
		case c == nil:
		case strings.HasPrefix(c.Src, "/layers/"):
			names = append(names, path.Base(c.Src))
		case c.Src == "/" && a.SecondaryInput >= 0 && int(a.SecondaryInput) < len(op.Inputs):
			names = append(names, l.storeNames(t, l.byDigest[digest.Digest(op.Inputs[a.SecondaryInput].Digest)])...)
		}
	}
	return names
}
