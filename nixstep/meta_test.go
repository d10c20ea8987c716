package nixstep

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestPackageMeta evaluates the meta expression with the host's Nix
// (nix-bin, installed by make deps) on a stand-in for nixpkgs: licenses
// as one attrset, a list and a string, homepages as a string and a list,
// a package without meta, one whose evaluation throws (null: no meta,
// not a failed build), multiple outputs and a nested attribute path.
func TestPackageMeta(t *testing.T) {
	bin, err := exec.LookPath("nix-instantiate")
	if err != nil {
		t.Fatalf("nix-instantiate (Debian's nix-bin, make deps): %v", err)
	}
	src, err := filepath.Abs("testdata/meta-nixpkgs")
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	r := &realiser{
		cfg: RealiseConfig{
			System:         "aarch64-linux",
			SystemPackages: []Package{{Attr: "hello"}, {Attr: "multi"}},
			Packages:       []Package{{Attr: "plain"}, {Attr: "str"}, {Attr: "bad"}, {Attr: "nested.pkg"}},
		},
		// The dummy store evaluates without touching /nix.
		env:        []string{"HOME=" + home, "NIX_REMOTE=dummy://", "NIX_STATE_DIR=" + home, "NIX_CONF_DIR=" + home},
		boot:       bootstrap{nix: filepath.Dir(filepath.Dir(bin))},
		pkgsConfig: "{}",
		scratch:    t.TempDir(),
	}
	got, err := r.packageMeta(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	want := []PackageMeta{
		{Attr: "hello", Name: "hello-2.12", Pname: "hello", Version: "2.12",
			Outputs: []string{"hello-2.12"}, DrvPath: "hello-2.12.drv",
			Licenses: []License{{SPDXID: "GPL-3.0-or-later", ShortName: "gpl3Plus"}}, Homepage: "https://www.gnu.org/software/hello/", Description: "Says hello"},
		{Attr: "multi", Name: "multi-1.0",
			Outputs: []string{"multi-1.0", "multi-1.0-man"}, DrvPath: "multi-1.0.drv",
			Licenses: []License{{SPDXID: "MIT"}, {ShortName: "unfree"}}, Homepage: "https://a.example"},
		{Attr: "plain", Name: "plain", Outputs: []string{"plain"}, DrvPath: "plain.drv"},
		{Attr: "str", Name: "str-1", Outputs: []string{"str-1"}, DrvPath: "str-1.drv", Licenses: []License{{ShortName: "bsd"}}},
		{Attr: "bad"},
		{Attr: "nested.pkg", Name: "nested-1", Outputs: []string{"nested-1"}, DrvPath: "nested-1.drv"},
	}
	// Store paths by name: their hashes are Nix's business.
	for i := range got {
		if d := got[i].DrvPath; d != "" {
			if !strings.HasPrefix(d, "/nix/store/") || len(filepath.Base(d)) < 34 {
				t.Errorf("%s: derivation %q is no store path", got[i].Attr, d)
			} else {
				got[i].DrvPath = filepath.Base(d)[33:]
			}
		}
		for j, o := range got[i].Outputs {
			if !strings.HasPrefix(o, "/nix/store/") || len(filepath.Base(o)) < 34 {
				t.Errorf("%s: output %q is no store path", got[i].Attr, o)
				continue
			}
			got[i].Outputs[j] = filepath.Base(o)[33:]
		}
	}
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if string(g) != string(w) {
		t.Errorf("packageMeta =\n%s\nwant\n%s", g, w)
	}
}
