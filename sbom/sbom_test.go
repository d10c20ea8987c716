package sbom

import (
	"bytes"
	"path/filepath"
	"testing"
	"time"

	"github.com/nix-image/nix-image/internal/golden"
	"github.com/nix-image/nix-image/nixstep"
)

func TestSplitName(t *testing.T) {
	tests := []struct{ in, name, version string }{
		{"hello-2.12.1", "hello", "2.12.1"},
		{"bash-interactive-5.2-p15", "bash-interactive", "5.2-p15"},
		{"nix-2.33.3-man", "nix", "2.33.3-man"},
		{"user-environment", "user-environment", ""},
		{"source", "source", ""},
		{"libfoo-_x", "libfoo", "_x"},
		{"trailing-", "trailing-", ""},
	}
	for _, tc := range tests {
		if n, v := SplitName(tc.in); n != tc.name || v != tc.version {
			t.Errorf("SplitName(%q) = %q, %q; want %q, %q", tc.in, n, v, tc.name, tc.version)
		}
	}
}

// closure is a small image: a system profile with bash, a requested
// package with two licenses (one without SPDX id), a derivation-less
// source path, a channel.
func closure() (*nixstep.Closure, *nixstep.Meta) {
	c := &nixstep.Closure{
		Roots: nixstep.Roots{
			System:  "/nix/store/s0000000000000000000000000000000-user-environment",
			Profile: "/nix/store/p0000000000000000000000000000000-user-environment",
			Channel: "/nix/store/c0000000000000000000000000000000-nixpkgs-channel",
			Nixpkgs: "/nix/store/n0000000000000000000000000000000-nixpkgs",
		},
		Paths: []nixstep.PathInfo{
			{Path: "/nix/store/b0000000000000000000000000000000-bash-5.2-p15", NarHash: "sha256:1b3r7v8k3wxc4nk8s9yh8mddlkjzlrmhxyvbswqvl25dfm9jwkk5", NarSize: 10,
				Deriver: "/nix/store/d0000000000000000000000000000000-bash-5.2-p15.drv", References: []string{"/nix/store/b0000000000000000000000000000000-bash-5.2-p15"}},
			{Path: "/nix/store/c0000000000000000000000000000000-nixpkgs-channel", NarHash: "2222222222222222222222222222222222222222222222222222222222222222",
				References: []string{"/nix/store/n0000000000000000000000000000000-nixpkgs"}},
			{Path: "/nix/store/n0000000000000000000000000000000-nixpkgs", NarHash: "sha256-MzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzM=", References: []string{}},
			{Path: "/nix/store/p0000000000000000000000000000000-user-environment", NarHash: "4444444444444444444444444444444444444444444444444444444444444444",
				References: []string{"/nix/store/x0000000000000000000000000000000-xz-5.4.1"}},
			{Path: "/nix/store/s0000000000000000000000000000000-user-environment", NarHash: "5555555555555555555555555555555555555555555555555555555555555555",
				References: []string{"/nix/store/b0000000000000000000000000000000-bash-5.2-p15"}},
			{Path: "/nix/store/x0000000000000000000000000000000-xz-5.4.1", NarHash: "6666666666666666666666666666666666666666666666666666666666666666",
				References: []string{"/nix/store/b0000000000000000000000000000000-bash-5.2-p15"}},
		},
	}
	m := &nixstep.Meta{
		Packages: []nixstep.PackageMeta{
			{Attr: "bashInteractive", Name: "bash-interactive-5.2-p15", Pname: "bash-interactive", Version: "5.2-p15",
				Outputs:  []string{"/nix/store/b0000000000000000000000000000000-bash-5.2-p15"},
				Licenses: []nixstep.License{{SPDXID: "GPL-3.0-or-later", ShortName: "gpl3Plus"}}, Homepage: "https://www.gnu.org/software/bash/"},
			{Attr: "xz", Pname: "xz", Version: "5.4.1", Outputs: []string{"/nix/store/x0000000000000000000000000000000-xz-5.4.1"},
				Licenses: []nixstep.License{{SPDXID: "GPL-2.0-or-later"}, {ShortName: "public Domain"}}, Description: "A compressor"},
		},
		Derivations: map[string]nixstep.DrvInfo{
			"/nix/store/b0000000000000000000000000000000-bash-5.2-p15": {Name: "bash-5.2-p15", Pname: "bash", Version: "5.2-p15",
				URLs: []string{"mirror://gnu/bash/bash-5.2.tar.gz", "https://ftp.gnu.org/gnu/bash/bash-5.2.tar.gz"}},
			"/nix/store/s0000000000000000000000000000000-user-environment": {Name: "user-environment"},
		},
	}
	return c, m
}

func TestDocumentGolden(t *testing.T) {
	c, m := closure()
	doc, err := Document(c, m, Options{Name: "nix-image default linux/amd64", Created: time.Unix(1700000000, 0)})
	if err != nil {
		t.Fatal(err)
	}
	got, err := Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("testdata", "closure.spdx.json"), got)
	// The same closure gives the same bytes; another closure another
	// namespace.
	again, _ := Document(c, m, Options{Name: "nix-image default linux/amd64", Created: time.Unix(1700000000, 0)})
	if b, _ := Marshal(again); !bytes.Equal(b, got) {
		t.Error("two documents of the same closure differ")
	}
	c.Paths[1].NarHash = "7777777777777777777777777777777777777777777777777777777777777777"
	other, _ := Document(c, m, Options{Name: "nix-image default linux/amd64", Created: time.Unix(1700000000, 0)})
	if other.DocumentNamespace == doc.DocumentNamespace {
		t.Error("another closure has the same document namespace")
	}
}

func TestDocumentErrors(t *testing.T) {
	tests := []struct {
		name   string
		change func(*nixstep.Closure)
	}{
		{"bad nar hash", func(c *nixstep.Closure) { c.Paths[0].NarHash = "md5:abc" }},
		{"dangling reference", func(c *nixstep.Closure) {
			c.Paths[1].References = append(c.Paths[1].References, "/nix/store/z0000000000000000000000000000000-gone")
		}},
		{"root not in the closure", func(c *nixstep.Closure) { c.Roots.Profile = "/nix/store/z0000000000000000000000000000000-gone" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, m := closure()
			tc.change(c)
			if _, err := Document(c, m, Options{}); err == nil {
				t.Error("no error")
			}
		})
	}
}
