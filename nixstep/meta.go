package nixstep

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// MetaFile describes where the closure's store paths come from (Meta,
// JSON), for the SBOM. It sits next to ClosureFile in the realise step's
// output and never enters the image.
const MetaFile = "sbom-meta.json"

// Meta is what the realise step knows about the closure beyond its
// registration: the nixpkgs meta of the requested packages and the
// derivations of the store paths whose .drv files are in the store.
type Meta struct {
	// Packages are the requested attributes (system packages, then root's
	// packages, in spec order) with their nixpkgs meta.
	Packages []PackageMeta `json:"packages"`
	// Derivations maps a store path to what its derivation says, for the
	// paths whose derivation could be read. Paths substituted without
	// their .drv (or added as sources) are missing.
	Derivations map[string]DrvInfo `json:"derivations"`
}

// PackageMeta is one requested attribute, as nixpkgs evaluates it.
type PackageMeta struct {
	Attr    string `json:"attr"`
	Name    string `json:"name,omitempty"`
	Pname   string `json:"pname,omitempty"`
	Version string `json:"version,omitempty"`
	// Outputs are the store paths of the package's outputs.
	Outputs []string `json:"outputs,omitempty"`
	// DrvPath is the package's derivation, which the evaluation wrote
	// to the store with those of all its inputs.
	DrvPath string `json:"drvPath,omitempty"`
	// Licenses are meta.license, one entry per license.
	Licenses    []License `json:"licenses,omitempty"`
	Homepage    string    `json:"homepage,omitempty"`
	Description string    `json:"description,omitempty"`
	// Source says where a package that is no nixpkgs attribute (Attr "")
	// comes from: the Nix release of the system profile.
	Source string `json:"source,omitempty"`
}

// License is one nixpkgs license: its SPDX id when it has one, and its
// short name (nixpkgs' own id, e.g. "unfree").
type License struct {
	SPDXID    string `json:"spdxId,omitempty"`
	ShortName string `json:"shortName,omitempty"`
}

// DrvInfo is what a derivation says about its outputs.
type DrvInfo struct {
	Name    string `json:"name,omitempty"`
	Pname   string `json:"pname,omitempty"`
	Version string `json:"version,omitempty"`
	// URLs are where the derivation's `src` was fetched from (the `urls`
	// or `url` of the fixed-output derivation that made it).
	URLs []string `json:"urls,omitempty"`
}

// metaExpr evaluates, for every attribute path of a JSON file, the meta
// the SBOM needs, under the spec's nixpkgs config (as every evaluation of
// the build). A package whose evaluation throws yields null instead of
// failing the build.
const metaExpr = `let
  pkgs = import %s { config = %s; overlays = []; system = %q; };
  get = set: p: if p == [] then set else get (builtins.getAttr (builtins.head p) set) (builtins.tail p);
  str = v: if builtins.isString v then v else if builtins.isList v && v != [] && builtins.isString (builtins.head v) then builtins.head v else "";
  lic = l: if builtins.isList l then builtins.concatMap lic l
    else if builtins.isAttrs l then [ { spdxId = str (l.spdxId or ""); shortName = str (l.shortName or ""); } ]
    else if builtins.isString l then [ { spdxId = ""; shortName = l; } ]
    else [];
  info = p: let d = get pkgs p; m = d.meta or {}; in {
    name = str (d.name or "");
    pname = str (d.pname or "");
    version = str (d.version or "");
    outputs = map (o: d.${o}.outPath) (d.outputs or [ "out" ]);
    drvPath = d.drvPath or "";
    licenses = lic (m.license or []);
    homepage = str (m.homepage or "");
    description = str (m.description or "");
  };
  try = p: let v = info p; r = builtins.tryEval (builtins.deepSeq v v); in if r.success then r.value else null;
in map try (builtins.fromJSON (builtins.readFile %s))`

// packageMeta evaluates the nixpkgs meta of the requested packages, in
// one evaluation.
func (r *realiser) packageMeta(ctx context.Context, src string) ([]PackageMeta, error) {
	all, file, err := r.writeRequested()
	if err != nil {
		return nil, err
	}
	out, err := r.nixOutput(ctx, nil, "nix-instantiate", "--eval", "--strict", "--json", "-E", fmt.Sprintf(metaExpr, src, r.pkgsConfig, r.cfg.System, file))
	if err != nil {
		return nil, fmt.Errorf("evaluating the meta of the packages: %w", err)
	}
	var metas []*PackageMeta
	if err := json.Unmarshal([]byte(out), &metas); err != nil || len(metas) != len(all) {
		return nil, fmt.Errorf("evaluating the meta of the packages: unexpected answer %.200q", out)
	}
	pkgs := make([]PackageMeta, len(all))
	for i, m := range metas {
		if m != nil {
			pkgs[i] = *m
		}
		pkgs[i].Attr = all[i].Attr
	}
	return pkgs, nil
}

// writeMeta writes MetaFile: the requested packages' meta and the
// derivations of the closure that are in the store.
func (r *realiser) writeMeta(ctx context.Context, roots Roots, infos []PathInfo, out string) error {
	pkgs, err := r.packageMeta(ctx, filepath.Join(NixpkgsDir, roots.Nixpkgs))
	if err != nil {
		return err
	}
	if r.cfg.ReleaseNix {
		pkgs = append(pkgs, releaseMeta(r.releaseNix, r.releaseSource()))
	}
	// The derivations are read from the requested packages' down, which
	// this build's own evaluation wrote: not from the paths' registered
	// derivers, whose .drv files are in the store or not depending on
	// what earlier builds on the same /nix cache evaluated, so that the
	// same spec gives the same SBOM on any cache.
	var drvs []string
	for _, p := range pkgs {
		if p.DrvPath != "" {
			drvs = append(drvs, p.DrvPath)
		}
	}
	inClosure := make(map[string]bool, len(infos))
	for _, info := range infos {
		inClosure[info.Path] = true
	}
	m := Meta{Packages: pkgs, Derivations: readDerivations(os.DirFS("/"), drvs, inClosure)}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("realise: %w", err)
	}
	if err := os.WriteFile(filepath.Join(out, MetaFile), append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("realise: %w", err)
	}
	return nil
}

// readDerivations reads the .drv files named by drvs that exist in fsys
// (the root file system, in the realise step), and their input
// derivations, and returns what they say about the store paths in want. A
// deriver that is not in the store (substituted paths often come without
// theirs) is skipped: the SBOM falls back to the path's name.
func readDerivations(fsys fs.FS, drvs []string, want map[string]bool) map[string]DrvInfo {
	out := map[string]DrvInfo{}
	seen := map[string]bool{}
	parsed := map[string]*derivation{}
	read := func(p string) *derivation {
		if d, ok := parsed[p]; ok {
			return d
		}
		data, err := fs.ReadFile(fsys, strings.TrimPrefix(p, "/"))
		var d *derivation
		if err == nil {
			d, _ = parseDerivation(string(data))
		}
		parsed[p] = d
		return d
	}
	queue := append([]string(nil), drvs...)
	sort.Strings(queue)
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if seen[p] {
			continue
		}
		seen[p] = true
		d := read(p)
		if d == nil {
			continue
		}
		for _, o := range d.outputs {
			if !want[o] {
				continue
			}
			if _, done := out[o]; done {
				continue
			}
			out[o] = DrvInfo{
				Name:    d.env["name"],
				Pname:   d.env["pname"],
				Version: d.env["version"],
				URLs:    sourceURLs(d, read),
			}
		}
		queue = append(queue, d.inputDrvs...)
	}
	return out
}

// sourceURLs returns where the derivation's src came from: the URLs of
// the input derivation whose output is src.
func sourceURLs(d *derivation, read func(string) *derivation) []string {
	src := d.env["src"]
	if src == "" {
		return nil
	}
	for _, in := range d.inputDrvs {
		f := read(in)
		if f == nil || !slices.Contains(f.outputs, src) {
			continue
		}
		urls := strings.Fields(f.env["urls"])
		if len(urls) == 0 {
			urls = strings.Fields(f.env["url"])
		}
		return urls
	}
	return nil
}

// releaseMeta describes the Nix of the release in the system profile
// (system.nix: release), which no nixpkgs attribute made: its store path
// is named nix-<version>, and Nix is licensed LGPL-2.1-or-later.
func releaseMeta(nix, source string) PackageMeta {
	name := filepath.Base(nix)
	if len(name) > 33 {
		name = name[33:]
	}
	_, version, _ := strings.Cut(name, "-")
	return PackageMeta{
		Name: name, Pname: "nix", Version: version,
		Outputs:     []string{nix},
		Licenses:    []License{{SPDXID: "LGPL-2.1-or-later", ShortName: "lgpl21Plus"}},
		Homepage:    "https://nixos.org/",
		Description: "Powerful package manager that makes package management reliable and reproducible",
		Source:      "the Nix release " + source,
	}
}
