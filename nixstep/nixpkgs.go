package nixstep

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// writeNixpkgsConfig writes the spec's nixpkgs config as JSON to a file
// of the step and returns the Nix expression that every import of nixpkgs
// passes as its config. Nix reads it with builtins.fromJSON, so no spec
// value is ever parsed as Nix code.
func (r *realiser) writeNixpkgsConfig() (string, error) {
	nixpkgsConfigFile := r.scratchPath("nixpkgs-config.json")
	data := []byte(r.cfg.NixpkgsConfig)
	if len(data) == 0 {
		data = []byte("{}")
	}
	if err := os.WriteFile(nixpkgsConfigFile, data, 0o644); err != nil {
		return "", fmt.Errorf("realise: writing the nixpkgs config: %w", err)
	}
	return "builtins.fromJSON (builtins.readFile " + nixpkgsConfigFile + ")", nil
}

// nixpkgsOptions are the config options the realise step's messages know
// about; nixpkgs itself gets the whole config.
type nixpkgsOptions struct {
	AllowUnfree               bool     `json:"allowUnfree"`
	AllowBroken               bool     `json:"allowBroken"`
	PermittedInsecurePackages []string `json:"permittedInsecurePackages"`
}

// attrStatus is what checkAttrs learns about one requested attribute.
type attrStatus struct {
	Found bool `json:"found"`
	// Refused: nixpkgs' meta check refuses to evaluate it.
	Refused bool     `json:"refused"`
	Name    string   `json:"name"`
	Unfree  []string `json:"unfree"`
	Vulns   []string `json:"vulns"`
	Broken  bool     `json:"broken"`
}

// attrStatusExpr evaluates, for each attribute path in the JSON file
// attrsFile, an attrStatus. Only packages whose meta says unfree, insecure
// or broken have their derivation instantiated (which is where nixpkgs'
// check-meta throws), so the check stays as cheap as an attribute lookup
// for the others.
const attrStatusExpr = `let
  pkgs = import %s { config = %s; overlays = []; system = %q; };
  get = set: p: if p == [] then { found = true; value = set; }
    else if builtins.isAttrs set && builtins.hasAttr (builtins.head p) set
    then get (builtins.getAttr (builtins.head p) set) (builtins.tail p)
    else { found = false; };
  toList = x: if builtins.isList x then x else [ x ];
  status = p: let
      r = get pkgs p;
      v = r.value;
      meta = if builtins.isAttrs v && builtins.isAttrs (v.meta or null) then v.meta else { };
      unfree = map (l: l.shortName or l.spdxId or l.fullName or "unfree")
        (builtins.filter (l: builtins.isAttrs l && !(l.free or true)) (toList (meta.license or [ ])));
      vulns = map toString (meta.knownVulnerabilities or [ ]);
      broken = meta.broken or false == true;
      flagged = unfree != [ ] || vulns != [ ] || broken;
    in if !r.found then { found = false; refused = false; name = ""; unfree = [ ]; vulns = [ ]; broken = false; } else {
      found = true;
      refused = flagged && v ? drvPath && !(builtins.tryEval v.drvPath).success;
      name = if builtins.isAttrs v then toString (v.name or "") else "";
      inherit unfree vulns broken;
    };
in map status (builtins.fromJSON (builtins.readFile %s))`

// refusal explains why nixpkgs refuses pkg, naming the nixpkgs.config
// field that allows it, or "" when the config already allows every reason
// its meta gives (nixpkgs' own error then shows when the profile is built).
func (r *realiser) refusal(pkg Package, st attrStatus) string {
	var opts nixpkgsOptions
	if len(r.cfg.NixpkgsConfig) > 0 {
		// llbgen wrote it from the spec's typed config: it decodes.
		_ = json.Unmarshal(r.cfg.NixpkgsConfig, &opts)
	}
	what := fmt.Sprintf("%s: package %q (%s)", pkg.Where, pkg.Attr, st.Name)
	in := ""
	if r.cfg.NixpkgsConfigWhere != "" {
		in = " (" + r.cfg.NixpkgsConfigWhere + ")"
	}
	switch {
	case len(st.Unfree) > 0 && !opts.AllowUnfree:
		return fmt.Sprintf("%s has an unfree license (%s): set nixpkgs.config.allowUnfree: true in the spec%s to build it",
			what, strings.Join(st.Unfree, ", "), in)
	case len(st.Vulns) > 0 && !slices.Contains(opts.PermittedInsecurePackages, st.Name):
		return fmt.Sprintf("%s is marked as insecure (known issues: %s): add %q to nixpkgs.config.permittedInsecurePackages in the spec%s to build it anyway",
			what, strings.Join(st.Vulns, "; "), st.Name, in)
	case st.Broken && !opts.AllowBroken:
		return fmt.Sprintf("%s is marked as broken: set nixpkgs.config.allowBroken: true in the spec%s to try to build it anyway", what, in)
	}
	return ""
}

// minverFile is where nixpkgs says which Nix it needs at least.
const minverFile = "lib/minver.nix"

// checkMinVersion fails, before anything evaluates nixpkgs, when the
// pinned nixpkgs needs a newer Nix than the one that realises the image
// (nixpkgs would abort deep in the evaluation, or fail on a builtin it
// expects).
func (r *realiser) checkMinVersion(ctx context.Context, src string) error {
	data, err := os.ReadFile(filepath.Join(src, minverFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading nixpkgs' %s: %w", minverFile, err)
	}
	need, ok := parseMinver(string(data))
	if !ok {
		// Not the one-string file nixpkgs has: leave it to nixpkgs.
		return nil
	}
	have, err := r.nixVersion(ctx)
	if err != nil {
		return err
	}
	if compareVersions(need, have) > 0 {
		return fmt.Errorf("nixpkgs (%s) needs Nix %s or newer (its %s), but the build uses Nix %s, chosen by %s: pick a Nix release of at least %s there",
			r.cfg.NixpkgsWhere, need, minverFile, have, r.cfg.NixWhere, need)
	}
	return nil
}

var (
	nixComment     = regexp.MustCompile(`(?s)/\*.*?\*/|#[^\n]*`)
	minverContents = regexp.MustCompile(`^"([0-9][0-9A-Za-z.+-]*)"$`)
)

// parseMinver reads nixpkgs' lib/minver.nix: a comment, then a string.
func parseMinver(src string) (string, bool) {
	m := minverContents.FindStringSubmatch(strings.TrimSpace(nixComment.ReplaceAllString(src, "")))
	if m == nil {
		return "", false
	}
	return m[1], true
}

// compareVersions orders versions as Nix's builtins.compareVersions:
// components are runs of digits or of other characters, split at . and -;
// numbers compare as numbers, "pre" sorts before anything, a missing
// component before a number, and a word before a number.
func compareVersions(a, b string) int {
	for a != "" || b != "" {
		var ca, cb string
		ca, a = nextVersionComponent(a)
		cb, b = nextVersionComponent(b)
		if componentLess(ca, cb) {
			return -1
		}
		if componentLess(cb, ca) {
			return 1
		}
	}
	return 0
}

func nextVersionComponent(s string) (string, string) {
	s = strings.TrimLeft(s, ".-")
	if s == "" {
		return "", ""
	}
	isDigit := func(c byte) bool { return c >= '0' && c <= '9' }
	digits := isDigit(s[0])
	i := 0
	for i < len(s) && s[i] != '.' && s[i] != '-' && isDigit(s[i]) == digits {
		i++
	}
	return s[:i], s[i:]
}

func componentLess(a, b string) bool {
	na, errA := strconv.ParseUint(a, 10, 64)
	nb, errB := strconv.ParseUint(b, 10, 64)
	switch {
	case errA == nil && errB == nil:
		return na < nb
	case a == "" && errB == nil:
		return true
	case a == "pre" && b != "pre":
		return true
	case b == "pre":
		return false
	case errB == nil:
		return true
	case errA == nil:
		return false
	}
	return a < b
}

// writeUserFiles writes root's nixpkgs config and channel list into the
// image's system tree: ~/.config/nixpkgs/config.nix holds the spec's
// nixpkgs.config (when it sets anything), so `nix-env -iA nixpkgs.<pkg>`
// in the image accepts what the build accepted; ~/.nix-channels names the
// pinned tarball as the channel nixpkgs, which `nix-channel --list` shows
// and `nix-channel --update` fetches again (a URL ending in .tar.gz,
// .tar.xz or .tar.bz2 is downloaded and unpacked as the channel itself).
func (r *realiser) writeUserFiles(root string) error {
	return r.writeHomeFiles(root, "/root")
}

// writeHomeFiles writes the nixpkgs config and channel list of the user
// whose home is home (see writeUserFiles).
func (r *realiser) writeHomeFiles(root, home string) error {
	dir := filepath.Join(root, home)
	if r.cfg.NixpkgsURL != "" {
		line := r.cfg.NixpkgsURL + " nixpkgs\n"
		if err := os.WriteFile(filepath.Join(dir, ".nix-channels"), []byte(line), 0o644); err != nil {
			return fmt.Errorf("writing %s/.nix-channels: %w", home, err)
		}
	}
	text, err := nixpkgsConfigNix(r.cfg.NixpkgsConfig)
	if err != nil || text == "" {
		return err
	}
	cfgDir := filepath.Join(dir, ".config", "nixpkgs")
	if err := os.MkdirAll(cfgDir, 0o755); err != nil {
		return fmt.Errorf("writing the nixpkgs config of %s: %w", home, err)
	}
	if err := os.WriteFile(filepath.Join(cfgDir, "config.nix"), []byte(text), 0o644); err != nil {
		return fmt.Errorf("writing the nixpkgs config of %s: %w", home, err)
	}
	return nil
}

// nixpkgsConfigNix renders the JSON config as config.nix, or "" for none.
func nixpkgsConfigNix(raw json.RawMessage) (string, error) {
	if len(raw) == 0 {
		return "", nil
	}
	var v map[string]any
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", fmt.Errorf("realise: the nixpkgs config: %w", err)
	}
	if len(v) == 0 {
		return "", nil
	}
	return "# Written by nix-image from nixpkgs.config in nix-image.yaml: the config\n" +
		"# the image was built with, for nix-env, nix-build and nix-shell in it.\n" +
		nixValue(v, "") + "\n", nil
}

var nixIdent = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_'-]*$`)

// nixValue writes a JSON value as a Nix expression; strings are quoted
// and escaped, so that no value can become code.
func nixValue(v any, indent string) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(v)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case string:
		return nixString(v)
	case []any:
		if len(v) == 0 {
			return "[ ]"
		}
		var b strings.Builder
		b.WriteString("[\n")
		for _, e := range v {
			b.WriteString(indent + "  " + nixValue(e, indent+"  ") + "\n")
		}
		b.WriteString(indent + "]")
		return b.String()
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		b.WriteString("{\n")
		for _, k := range keys {
			name := k
			if !nixIdent.MatchString(k) {
				name = nixString(k)
			}
			b.WriteString(indent + "  " + name + " = " + nixValue(v[k], indent+"  ") + ";\n")
		}
		b.WriteString(indent + "}")
		return b.String()
	}
	panic(fmt.Sprintf("nixValue: %T is not a JSON value", v))
}

func nixString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "${", `\${`, "\n", `\n`, "\r", `\r`, "\t", `\t`).Replace(s) + `"`
}
