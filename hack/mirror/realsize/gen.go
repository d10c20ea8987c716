package main

import (
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// rng is splitmix64: small, fast and the same everywhere (math/rand's
// derived methods are not promised to stay the same across Go releases).
type rng struct{ state uint64 }

func (r *rng) next() uint64 {
	r.state += 0x9e3779b97f4a7c15
	z := r.state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// intn is uniform in [0, n).
func (r *rng) intn(n int) int { return int(r.next() % uint64(n)) }

// between is uniform in [lo, hi].
func (r *rng) between(lo, hi int) int { return lo + r.intn(hi-lo+1) }

// percent is true p times in 100.
func (r *rng) percent(p int) bool { return r.intn(100) < p }

func pick[T any](r *rng, xs []T) T { return xs[r.intn(len(xs))] }

// sizeBuckets is the size distribution of the ordinary files (package
// expressions, modules, patches): weights in per mille of files, sizes in
// bytes, drawn uniformly within a bucket. Median about 2 KB, mean about
// 4.7 KB; the few generated package sets (hugeFiles) add a tenth of the
// bytes, as in nixpkgs.
var sizeBuckets = []struct{ weight, lo, hi int }{
	{60, 150, 500},
	{160, 500, 1000},
	{300, 1000, 2000},
	{240, 2000, 4000},
	{140, 4000, 8000},
	{60, 8000, 20000},
	{30, 20000, 40000},
	{10, 40000, 120000},
}

func (r *rng) size() int {
	n := r.intn(1000)
	b := sizeBuckets[len(sizeBuckets)-1]
	for _, c := range sizeBuckets {
		if n < c.weight {
			b = c
			break
		}
		n -= c.weight
	}
	return r.between(b.lo, b.hi)
}

// gen generates the files.
type gen struct {
	rng
	files map[string]file
	used  map[string]bool
	// pnames are the generated packages, referenced from other files.
	pnames []string
	// shellLines and codeLines are the lines that recur, as boilerplate
	// does (see common).
	shellLines, codeLines []string
}

// commonLines is how many lines of each kind recur.
const commonLines = 64

// common returns, 85 times in 100, one of the recurring lines of pool, else
// a new line.
func (g *gen) common(pool []string, line func() string) string {
	if g.percent(15) {
		return line()
	}
	return pool[g.intn(len(pool))]
}

// counts are how many of each kind of file there are.
type counts struct {
	byName   int // pkgs/by-name/xx/NAME/package.nix
	category int // pkgs/CATEGORY/SUB/NAME/default.nix
	modules  int // nixos/modules/CATEGORY/SUB/NAME.nix
	tests    int // nixos/tests/NAME.nix
	// hugeDiv divides the entries of the hugeFiles.
	hugeDiv int
}

// realCounts are about nixpkgs' own, with the extra files of package
// directories (patches, update scripts, lock files): 45,000 files.
var realCounts = counts{byName: 17500, category: 11000, modules: 4800, tests: 1200, hugeDiv: 1}

// generate returns the generated files (path -> file) of counts c. The same
// counts give the same files.
func generate(c counts) map[string]file {
	g := &gen{rng: rng{state: 0x6e69782d696d6167}, used: map[string]bool{}}
	g.layout(c)
	return g.files
}

// The generated package sets: one file each, large and repetitive, as
// hackage-packages.nix, node-packages.nix and the like are.
var hugeFiles = []struct {
	path    string
	entries int
}{
	{"pkgs/development/haskell-modules/hackage-packages.nix", 17000},
	{"pkgs/development/node-packages/node-packages.nix", 9000},
	{"pkgs/development/r-modules/cran-packages.nix", 11000},
	{"pkgs/development/lua-modules/generated-packages.nix", 1200},
	{"pkgs/misc/vim-plugins/generated.nix", 4500},
	{"pkgs/applications/editors/emacs/elisp-packages/elpa-generated.nix", 2400},
	{"pkgs/development/python-modules/python-packages-generated.nix", 3000},
}

var categories = map[string][]string{
	"applications": {"audio", "editors", "graphics", "misc", "networking", "office", "science", "version-management", "video", "window-managers", "terminal-emulators", "blockchains"},
	"development":  {"compilers", "interpreters", "libraries", "python-modules", "tools", "ocaml-modules", "perl-modules", "php-packages", "ruby-modules", "rust", "go-modules", "embedded"},
	"tools":        {"admin", "archivers", "backup", "filesystems", "graphics", "misc", "networking", "package-management", "security", "system", "text", "virtualization"},
	"servers":      {"http", "sql", "mail", "monitoring", "dns", "web-apps", "home-automation", "search"},
	"os-specific":  {"linux", "darwin", "bsd", "windows"},
	"misc":         {"drivers", "emulators", "screensavers", "themes", "tmux-plugins"},
	"data":         {"fonts", "icons", "themes", "misc", "documentation"},
	"desktops":     {"gnome", "plasma-5", "xfce", "lxqt", "mate", "pantheon"},
	"games":        {""},
	"shells":       {"bash", "fish", "zsh", "nushell"},
}

var moduleCategories = []string{"services/networking", "services/web-servers", "services/databases", "services/monitoring", "services/misc", "services/x11", "programs", "hardware", "system/boot", "virtualisation", "security", "config", "tasks", "i18n/input-method"}

// layout decides every file and its content.
func (g *gen) layout(c counts) {
	g.files = map[string]file{}
	for len(g.pnames) < c.byName+c.category {
		g.pnames = append(g.pnames, g.pname())
	}
	for i := 0; i < commonLines; i++ {
		g.shellLines = append(g.shellLines, g.shellLine())
		g.codeLines = append(g.codeLines, g.codeLine())
	}
	cats := sortedKeys(categories)
	var callPackage strings.Builder
	callPackage.WriteString(allPackagesHeader)
	for i, p := range g.pnames {
		var dir, main string
		if i < c.byName {
			dir = "pkgs/by-name/" + p[:2] + "/" + p
			main = dir + "/package.nix"
		} else {
			c := pick(&g.rng, cats)
			sub := pick(&g.rng, categories[c])
			dir = filepath.Join("pkgs", c, sub, p)
			main = dir + "/default.nix"
			fmt.Fprintf(&callPackage, "  %s = callPackage ../%s { };\n", p, strings.TrimPrefix(dir, "pkgs/"))
			if g.percent(8) {
				fmt.Fprintf(&callPackage, "  %s_%d = callPackage ../%s { %s = %s_%d; };\n", p, g.between(1, 9), strings.TrimPrefix(dir, "pkgs/"), pick(&g.rng, g.pnames[:i+1]), pick(&g.rng, g.pnames[:i+1]), g.between(1, 30))
			}
		}
		g.add(main, g.packageExpr(p, g.size()), false)
		// Extra files of a package directory: patches, update scripts,
		// lock files.
		if g.percent(14) {
			for n := g.between(1, 3); n > 0; n-- {
				g.add(fmt.Sprintf("%s/%s.patch", dir, g.words(g.between(1, 4), "-")), g.patch(g.size()), false)
			}
		}
		if g.percent(5) {
			g.add(dir+"/update.sh", g.updateScript(p), true)
		}
		if g.percent(3) {
			g.add(dir+"/deps.json", g.lockFile(g.size()), false)
		}
	}
	g.add("pkgs/top-level/all-packages.nix", []byte(callPackage.String()+"}\n"), false)
	for i := 0; i < c.modules; i++ {
		name := g.pname()
		g.add(fmt.Sprintf("nixos/modules/%s/%s.nix", pick(&g.rng, moduleCategories), name), g.module(name, g.size()), false)
	}
	for i := 0; i < c.tests; i++ {
		name := g.pname()
		g.add("nixos/tests/"+name+".nix", g.nixosTest(name, g.size()/2+300), false)
	}
	for _, h := range hugeFiles {
		g.add(h.path, g.generatedSet(h.entries/c.hugeDiv), false)
	}
}

func sortedKeys(m map[string][]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (g *gen) add(path string, data []byte, exec bool) {
	if _, ok := g.files[path]; ok {
		return
	}
	g.files[path] = file{data: data, exec: exec}
}

// pname is a new package name of two or three syllables (plus, now and
// then, a suffix), never used before.
func (g *gen) pname() string {
	for {
		n := pick(&g.rng, syllables) + pick(&g.rng, syllables)
		if g.percent(45) {
			n += pick(&g.rng, syllables)
		}
		if g.percent(20) {
			n += "-" + pick(&g.rng, suffixes)
		}
		if !g.used[n] {
			g.used[n] = true
			return n
		}
	}
}

// word picks a word of the vocabulary, the first ones most often (as in
// any text: about a Zipf distribution), which is what makes nixpkgs
// compress about 6 to 1.
func (g *gen) word() string { return vocabulary[g.intn(g.intn(g.intn(g.intn(len(vocabulary))+1)+1)+1)] }

func (g *gen) words(n int, sep string) string {
	ws := make([]string, n)
	for i := range ws {
		ws[i] = g.word()
	}
	return strings.Join(ws, sep)
}

func (g *gen) sentence() string {
	s := g.words(g.between(3, 12), " ")
	return strings.ToUpper(s[:1]) + s[1:]
}

func (g *gen) version() string {
	switch g.intn(4) {
	case 0:
		return fmt.Sprintf("%d.%d", g.between(0, 9), g.between(0, 30))
	case 1:
		return fmt.Sprintf("%d.%d.%d", g.between(0, 5), g.between(0, 40), g.between(0, 20))
	case 2:
		return fmt.Sprintf("%d", g.between(2015, 2025)) + fmt.Sprintf("-%02d-%02d", g.between(1, 12), g.between(1, 28))
	default:
		return fmt.Sprintf("%d.%d.%d", g.between(1, 30), g.between(0, 9), g.between(0, 200))
	}
}

const (
	base32Chars = "0123456789abcdfghijklmnpqrsvwxyz"
	base64Chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	hexChars    = "0123456789abcdef"
)

func (g *gen) chars(alphabet string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[g.intn(len(alphabet))]
	}
	return string(b)
}

// sri is a sha256 in SRI form, as the by-name packages carry.
func (g *gen) sri() string { return "sha256-" + g.chars(base64Chars, 43) + "=" }

// deps are n inputs, the common ones commonPercent times in 100, else
// generated packages.
func (g *gen) deps(n, commonPercent int) []string {
	out := make([]string, n)
	for i := range out {
		if g.percent(commonPercent) {
			out[i] = pick(&g.rng, commonDeps)
		} else {
			out[i] = pick(&g.rng, g.pnames)
		}
	}
	return out
}

// packageExpr is a package's expression of about size bytes: the
// function header, src, inputs, phases grown to the size, meta.
func (g *gen) packageExpr(pname string, size int) []byte {
	var b strings.Builder
	b.Grow(size + 1024)
	inputs := g.deps(g.between(1, 9), 70)
	native := g.deps(g.between(0, 4), 70)
	fetcher := pick(&g.rng, fetchers)
	owner := g.words(1, "")
	b.WriteString("{ lib\n, stdenv\n, " + fetcher + "\n")
	for _, d := range slices.Concat(native, inputs) {
		b.WriteString(", " + d + "\n")
	}
	b.WriteString("}:\n\nstdenv.mkDerivation (finalAttrs: {\n")
	fmt.Fprintf(&b, "  pname = %q;\n  version = %q;\n\n", pname, g.version())
	switch fetcher {
	case "fetchFromGitHub", "fetchFromGitLab":
		fmt.Fprintf(&b, "  src = %s {\n    owner = %q;\n    repo = %q;\n    rev = \"v${finalAttrs.version}\";\n    hash = %q;\n  };\n\n", fetcher, owner, pname, g.sri())
	default:
		fmt.Fprintf(&b, "  src = %s {\n    url = \"https://%s.org/releases/%s-${finalAttrs.version}.tar.gz\";\n    hash = %q;\n  };\n\n", fetcher, owner, pname, g.sri())
	}
	if len(native) > 0 {
		b.WriteString("  nativeBuildInputs = [ " + strings.Join(native, " ") + " ];\n\n")
	}
	b.WriteString("  buildInputs = [\n")
	for _, d := range inputs {
		b.WriteString("    " + d + "\n")
	}
	b.WriteString("  ];\n\n")
	for b.Len() < size-400 {
		g.phase(&b)
	}
	fmt.Fprintf(&b, "  meta = {\n    description = %q;\n    homepage = \"https://github.com/%s/%s\";\n", g.sentence(), owner, pname)
	fmt.Fprintf(&b, "    license = lib.licenses.%s;\n    maintainers = with lib.maintainers; [ %s ];\n", pick(&g.rng, licenses), strings.Join(g.maintainers(), " "))
	fmt.Fprintf(&b, "    platforms = lib.platforms.%s;\n    mainProgram = %q;\n  };\n})\n", pick(&g.rng, platforms), pname)
	return []byte(b.String())
}

func (g *gen) maintainers() []string {
	ms := make([]string, g.between(0, 3))
	for i := range ms {
		ms[i] = pick(&g.rng, syllables) + pick(&g.rng, syllables)
	}
	return ms
}

// phase appends a build phase or an attribute block of shell and Nix.
func (g *gen) phase(b *strings.Builder) {
	switch g.intn(5) {
	case 0, 1:
		ph := pick(&g.rng, phases)
		hook := strings.TrimSuffix(ph, "Phase")
		hook = strings.ToUpper(hook[:1]) + hook[1:]
		fmt.Fprintf(b, "  %s = ''\n    runHook pre%s\n\n", ph, hook)
		for n := g.between(2, 10); n > 0; n-- {
			b.WriteString("    " + g.common(g.shellLines, g.shellLine) + "\n")
		}
		fmt.Fprintf(b, "\n    runHook post%s\n  '';\n\n", hook)
	case 2:
		b.WriteString("  " + pick(&g.rng, flagAttrs) + " = [\n")
		for n := g.between(2, 8); n > 0; n-- {
			fmt.Fprintf(b, "    \"-D%s=%s\"\n", strings.ToUpper(g.words(g.between(1, 3), "_")), pick(&g.rng, []string{"ON", "OFF", "1", "0", "${placeholder \"out\"}/share"}))
		}
		b.WriteString("  ];\n\n")
	case 3:
		fmt.Fprintf(b, "  # %s\n  # %s.\n", g.sentence(), g.sentence())
		fmt.Fprintf(b, "  %s = %s;\n\n", pick(&g.rng, boolAttrs), pick(&g.rng, []string{"true", "false", "stdenv.hostPlatform.isLinux", "!stdenv.hostPlatform.isDarwin"}))
	default:
		fmt.Fprintf(b, "  passthru.tests = {\n    %s = callPackage ./tests/%s.nix { };\n    version = testers.testVersion { package = finalAttrs.finalPackage; };\n  };\n\n", g.words(1, ""), g.words(1, ""))
	}
}

func (g *gen) shellLine() string {
	switch g.intn(6) {
	case 0:
		return fmt.Sprintf("substituteInPlace %s/%s.%s --replace-fail '%s' '%s'", g.words(1, ""), g.words(1, "_"), pick(&g.rng, exts), g.words(g.between(1, 3), " "), g.words(g.between(1, 3), " "))
	case 1:
		return fmt.Sprintf("install -Dm644 %s $out/share/%s/%s", g.words(g.between(1, 2), "/"), g.words(1, ""), g.words(1, "."))
	case 2:
		return fmt.Sprintf("wrapProgram $out/bin/%s --prefix PATH : ${lib.makeBinPath [ %s ]}", g.words(1, ""), strings.Join(g.deps(g.between(1, 3), 70), " "))
	case 3:
		return fmt.Sprintf("mkdir -p $out/{bin,share/%s,lib/%s}", g.words(1, ""), g.words(1, ""))
	case 4:
		return fmt.Sprintf("make -C %s %s PREFIX=$out %s=%d", g.words(1, ""), g.words(1, ""), strings.ToUpper(g.words(1, "")), g.between(0, 64))
	default:
		return fmt.Sprintf("cp -r %s $out/%s  # %s", g.words(g.between(1, 3), "/"), g.words(1, ""), g.words(g.between(2, 6), " "))
	}
}

// patch is a unified diff of about size bytes.
func (g *gen) patch(size int) []byte {
	var b strings.Builder
	f := g.words(g.between(1, 3), "/") + "." + pick(&g.rng, exts)
	fmt.Fprintf(&b, "From %s Mon Sep 17 00:00:00 2001\nSubject: [PATCH] %s\n\n---\n", g.chars(hexChars, 40), g.sentence())
	fmt.Fprintf(&b, "diff --git a/%s b/%s\nindex %s..%s 100644\n--- a/%s\n+++ b/%s\n", f, f, g.chars(hexChars, 7), g.chars(hexChars, 7), f, f)
	for b.Len() < size {
		fmt.Fprintf(&b, "@@ -%d,%d +%d,%d @@\n", g.between(1, 900), g.between(3, 9), g.between(1, 900), g.between(3, 9))
		for n := g.between(3, 12); n > 0; n-- {
			b.WriteString(pick(&g.rng, []string{" ", " ", " ", "-", "+"}) + g.common(g.codeLines, g.codeLine) + "\n")
		}
	}
	return []byte(b.String())
}

func (g *gen) codeLine() string {
	indent := strings.Repeat("  ", g.intn(4))
	switch g.intn(4) {
	case 0:
		return fmt.Sprintf("%sif (%s_%s(%s) < %d) {", indent, g.words(1, ""), g.words(1, ""), g.words(1, ""), g.between(0, 4096))
	case 1:
		return fmt.Sprintf("%s%s = %s(%s, %s);", indent, g.words(1, "_"), g.words(2, "_"), g.words(1, ""), g.words(1, ""))
	case 2:
		return fmt.Sprintf("%s/* %s */", indent, g.sentence())
	default:
		return fmt.Sprintf("%sreturn %s->%s;", indent, g.words(1, ""), g.words(1, "_"))
	}
}

func (g *gen) updateScript(pname string) []byte {
	return []byte(fmt.Sprintf("#!/usr/bin/env nix-shell\n#!nix-shell -i bash -p curl jq common-updater-scripts\nset -euo pipefail\n\nversion=$(curl -s https://api.github.com/repos/%s/%s/releases/latest | jq -r .tag_name)\nupdate-source-version %s \"${version#v}\"\n", g.words(1, ""), pname, pname))
}

// lockFile is a JSON lock file of about size bytes: names, versions and
// hashes (little repetition, as real lock files).
func (g *gen) lockFile(size int) []byte {
	var b strings.Builder
	b.WriteString("{\n")
	for first := true; b.Len() < size; first = false {
		if !first {
			b.WriteString(",\n")
		}
		fmt.Fprintf(&b, "  \"%s\": {\n    \"version\": %q,\n    \"integrity\": \"sha512-%s==\",\n    \"resolved\": \"https://registry.example.org/%s/-/%s.tgz\"\n  }", g.words(g.between(1, 2), "-"), g.version(), g.chars(base64Chars, 86), g.words(1, ""), g.words(1, ""))
	}
	b.WriteString("\n}\n")
	return []byte(b.String())
}

// module is a NixOS module of about size bytes: options and config.
func (g *gen) module(name string, size int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "{ config, lib, pkgs, ... }:\n\nlet\n  cfg = config.services.%s;\nin\n{\n  options.services.%s = {\n    enable = lib.mkEnableOption %q;\n\n    package = lib.mkPackageOption pkgs %q { };\n\n", name, name, g.sentence(), pick(&g.rng, g.pnames))
	for b.Len() < size-300 {
		fmt.Fprintf(&b, "    %s = lib.mkOption {\n      type = lib.types.%s;\n      default = %s;\n      example = %s;\n      description = ''\n        %s.\n        %s.\n      '';\n    };\n\n",
			g.words(g.between(1, 2), ""), pick(&g.rng, optionTypes), pick(&g.rng, []string{"null", "true", "false", "[ ]", "{ }", "\"\"", fmt.Sprint(g.between(1, 65535))}), fmt.Sprintf("%q", g.words(g.between(1, 3), "-")), g.sentence(), g.sentence())
	}
	fmt.Fprintf(&b, "  };\n\n  config = lib.mkIf cfg.enable {\n    systemd.services.%s = {\n      wantedBy = [ \"multi-user.target\" ];\n      serviceConfig.ExecStart = \"${lib.getExe cfg.package} --%s\";\n    };\n  };\n}\n", name, g.words(1, "-"))
	return []byte(b.String())
}

func (g *gen) nixosTest(name string, size int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "import ./make-test-python.nix ({ pkgs, lib, ... }: {\n  name = %q;\n  nodes.machine = { ... }: {\n    services.%s.enable = true;\n  };\n\n  testScript = ''\n    machine.wait_for_unit(\"%s.service\")\n", name, name, name)
	for b.Len() < size {
		fmt.Fprintf(&b, "    machine.succeed(\"%s --%s %s\")\n", pick(&g.rng, g.pnames), g.words(1, "-"), g.words(g.between(1, 3), " "))
	}
	b.WriteString("  '';\n})\n")
	return []byte(b.String())
}

// generatedSet is a generated package set of n entries (a hackage- or
// node-packages.nix): the same shape over and over, each with a name,
// version, hash and dependencies.
func (g *gen) generatedSet(n int) []byte {
	var b strings.Builder
	b.WriteString("/* This file was generated. Do not edit! */\n\n{ pkgs, lib, callPackage }:\n\nself: {\n\n")
	for i := 0; i < n; i++ {
		p := g.pname()
		deps := g.deps(g.between(1, 12), 85)
		fmt.Fprintf(&b, "  %q = callPackage\n    ({ mkDerivation, %s }:\n     mkDerivation {\n       pname = %q;\n       version = %q;\n       sha256 = %q;\n", p, strings.Join(deps, ", "), p, g.version(), g.chars(base32Chars, 52))
		fmt.Fprintf(&b, "       libraryHaskellDepends = [\n         %s\n       ];\n", strings.Join(deps, " "))
		if g.percent(40) {
			fmt.Fprintf(&b, "       testHaskellDepends = [ %s ];\n", strings.Join(g.deps(g.between(1, 5), 85), " "))
		}
		fmt.Fprintf(&b, "       description = %q;\n       license = lib.licenses.%s;\n     }) {};\n\n", g.words(g.between(2, 6), " "), pick(&g.rng, licenses))
	}
	b.WriteString("}\n")
	return []byte(b.String())
}

const allPackagesHeader = `/* The top-level package collection of nixpkgs.
 * Packages in pkgs/by-name are added automatically; the others are here.
 */
{ lib, noSysDirs, config, overlays }:
res: pkgs: super:

with pkgs;

{
`
