package nixstep

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"

	"golang.org/x/sync/errgroup"
)

const (
	storeDir   = "/nix/store"
	scratchDir = "/tmp/nix-image"
)

// Realise builds the profiles and the channel of an image on the
// bootstrap Nix, with /nix as the step's persistent cache, and writes the
// closure to out: out/closure.json, out/layers/<name>/nix/store/<name>
// for every store path and out/root/ (the Nix DB, profiles, gcroots and
// global links).
func Realise(ctx context.Context, cfg RealiseConfig, out string) error {
	r := &realiser{cfg: cfg, secrets: SecretsDir, scratch: scratchDir}
	if err := r.configure(); err != nil {
		return err
	}
	rel, err := installRelease(ReleaseDir, storeDir, releasesDir, cfg.ReleaseSource)
	if err != nil {
		return err
	}
	boot, err := findBootstrap(rel)
	if err != nil {
		return err
	}
	if err := r.checkBootstrapMachine(boot.nix); err != nil {
		return err
	}
	if err := registerRelease(ctx, r.env, boot.nix, rel); err != nil {
		return err
	}
	r.boot = boot
	r.bootRel = rel
	r.rel = rel
	r.releaseNix = boot.nix
	r.env = append(r.env, "PATH="+boot.nix+"/bin")
	if err := r.checkSystem(ctx); err != nil {
		return err
	}
	if err := r.prepareCross(ctx); err != nil {
		return err
	}
	ca, err := r.caBundle(boot.caBundle)
	if err != nil {
		return err
	}
	if ca != "" {
		r.env = append(r.env, "NIX_SSL_CERT_FILE="+ca, "SSL_CERT_FILE="+ca)
		// The substituter check below is this process's own HTTP client.
		os.Setenv("SSL_CERT_FILE", ca)
	}
	if err := r.checkSubstituters(ctx); err != nil {
		return err
	}
	roots, err := r.buildRoots(ctx)
	if err != nil {
		return err
	}
	if err := r.checkClosureMachines(ctx, roots); err != nil {
		return err
	}
	return r.writeOutput(ctx, roots, out)
}

type realiser struct {
	cfg  RealiseConfig
	boot bootstrap
	// rel is the image's release: the bootstrap's, or, on a builder of
	// another system, the one at ImageReleaseDir (installImageRelease).
	rel release
	// bootRel is the bootstrap's release (ReleaseDir), which the layer
	// steps can take paths from.
	bootRel release
	// releaseNix is the store path of rel's Nix.
	releaseNix string
	env        []string
	// secrets is the directory of the build secrets (SecretsDir).
	secrets string
	// netrc holds the logins of the build secret netrc, if any.
	netrc map[string]netrcLogin
	// pkgsConfig is the Nix expression of nixpkgs' config for every
	// evaluation (writeNixpkgsConfig).
	pkgsConfig string
	// scratch is the directory of the step's own files (scratchDir).
	scratch string
}

// scratchPath is the file or directory name in the step's scratch
// directory.
func (r *realiser) scratchPath(name ...string) string {
	return filepath.Join(append([]string{r.scratch}, name...)...)
}

// configure writes the nix.conf of the realising Nix and sets its
// environment (but PATH, known once the bootstrap Nix is installed), with
// the step's proxy variables. It builds as root without build users or
// sandbox: the step's container is the isolation.
func (r *realiser) configure() error {
	confDir := r.scratchPath("conf")
	home := r.scratchPath("home")
	for _, d := range []string{confDir, home} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("realise: %w", err)
		}
	}
	conf := []string{
		"build-users-group =",
		"sandbox = false",
		"filter-syscalls = false",
		"substituters = " + strings.Join(r.cfg.Substituters, " "),
		"trusted-public-keys = " + strings.Join(r.cfg.TrustedPublicKeys, " "),
		"connect-timeout = 15",
		// Before Nix 2.16 (max-substitution-jobs), substitutions wait
		// for a build slot: with the default of 1 they run one by one.
		"max-jobs = auto",
	}
	settings, err := r.buildSettings()
	if err != nil {
		return err
	}
	conf = append(conf, settings...)
	if err := os.WriteFile(filepath.Join(confDir, "nix.conf"), []byte(strings.Join(conf, "\n")+"\n"), 0o644); err != nil {
		return fmt.Errorf("realise: writing nix.conf: %w", err)
	}
	r.env = []string{
		"HOME=" + home,
		"USER=root",
		"TMPDIR=/tmp",
		"NIX_CONF_DIR=" + confDir,
		"NIX_REMOTE=",
		"NIX_PAGER=cat",
	}
	r.env = append(r.env, proxyEnv(os.Environ())...)
	return nil
}

// checkSystem refuses a bootstrap Nix whose system is not the builder's
// (checkBootstrapMachine has checked its programs): it would build what
// Nix builds here for that system.
func (r *realiser) checkSystem(ctx context.Context) error {
	out, err := r.nixOutput(ctx, nil, "nix-instantiate", "--eval", "--json", "-E", "builtins.currentSystem")
	if err != nil {
		return fmt.Errorf("asking the Nix release (%s) for its system: %w", r.cfg.ReleaseSource, err)
	}
	var system string
	if err := json.Unmarshal([]byte(out), &system); err != nil {
		return fmt.Errorf("asking the Nix release (%s) for its system: unexpected answer %q", r.cfg.ReleaseSource, out)
	}
	if want := r.buildSystem(); system != want {
		return fmt.Errorf("the Nix release (%s) is built for %s, but it realises the image on the builder, whose system is %s: "+
			"give the release of %s there (nix.version, a nix.url with {system} and nix.sha256 per system, or the named context nix-%s)",
			r.cfg.ReleaseSource, system, want, want, want)
	}
	return nil
}

// checkSubstituters fails early, naming the substituter, when a binary
// cache does not answer: Nix would only warn and then try to build every
// package from source.
func (r *realiser) checkSubstituters(ctx context.Context) error {
	client, proxy := substituterClient()
	for _, sub := range r.substituters() {
		s, where := sub.url, sub.where
		u, ok, err := cacheInfoURL(s)
		if err != nil {
			return fmt.Errorf("substituter %s (%s): %w", s, where, err)
		}
		if !ok {
			continue
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return fmt.Errorf("substituter %s (%s): %w", s, where, err)
		}
		login, hasLogin := loginFor(r.netrc, req.URL.Hostname())
		if hasLogin {
			req.SetBasicAuth(login.login, login.password)
		}
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("substituter %s (%s) is unreachable%s: %w%s", s, where, throughProxy(proxy, req), err, caHint(err))
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			return refused(s, where, u.Redacted(), resp.Status, req.URL.Hostname(), hasLogin)
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("substituter %s (%s) is not a binary cache: GET %s answered %s%s", s, where, u.Redacted(), resp.Status, throughProxy(proxy, req))
		}
	}
	return nil
}

// nix runs a command of the bootstrap Nix; its output goes to the build log.
func (r *realiser) nix(ctx context.Context, name string, args ...string) error {
	_, err := r.nixOutput(ctx, nil, name, args...)
	return err
}

// nixOutput runs a command of the bootstrap Nix and returns its stdout.
func (r *realiser) nixOutput(ctx context.Context, stdin []byte, name string, args ...string) (string, error) {
	return run(ctx, r.env, stdin, filepath.Join(r.boot.nix, "bin", name), args...)
}

func run(ctx context.Context, env []string, stdin []byte, prog string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Env = env
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = os.Stderr
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	if err := cmd.Run(); err != nil {
		if errors.Is(err, syscall.ENOEXEC) {
			return "", fmt.Errorf("cannot run %s: it is built for another CPU than this builder's "+
				"(nix-image runs only the builder's own programs: give the Nix release of the builder's system): %w", prog, err)
		}
		return "", fmt.Errorf("%s %s: %w", path.Base(prog), strings.Join(args, " "), err)
	}
	return stdout.String(), nil
}

// buildRoots realises the system profile, root's profile and the channel.
func (r *realiser) buildRoots(ctx context.Context) (Roots, error) {
	var roots Roots
	src, err := r.addNixpkgs(ctx)
	if err != nil {
		return roots, err
	}
	roots.Nixpkgs = src
	// Nix evaluates the unpack step's tree, not the path in the /nix
	// cache (a link to it, or an older nix-image's copy, which a build
	// hashes no more: a copy changed there reaches neither an evaluation
	// nor the image, whose layer is that tree too).
	pkgs := filepath.Join(NixpkgsDir, src)
	if err := r.checkMinVersion(ctx, pkgs); err != nil {
		return roots, err
	}
	pkgsConfig, err := r.writeNixpkgsConfig()
	if err != nil {
		return roots, err
	}
	r.pkgsConfig = pkgsConfig
	if roots.Packages, err = r.checkAttrs(ctx, pkgs); err != nil {
		return roots, err
	}
	if r.cfg.ReleaseNix {
		// The release's Nix takes the place of nixpkgs' nix, the first
		// system package.
		roots.Packages = append([]string{StoreName(r.releaseNix)}, roots.Packages...)
	}
	profiles := r.scratchPath("profiles")
	if err := os.MkdirAll(profiles, 0o755); err != nil {
		return roots, fmt.Errorf("realise: %w", err)
	}
	// The two profiles are built at once: their substitutions overlap.
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		if roots.System, err = r.profile(gctx, pkgs, filepath.Join(profiles, "system"), r.cfg.SystemPackages); err != nil {
			return fmt.Errorf("building the system profile: %w", err)
		}
		if r.cfg.ReleaseNix {
			if roots.System, err = r.addStorePath(gctx, filepath.Join(profiles, "system"), r.releaseNix); err != nil {
				return fmt.Errorf("adding the Nix release to the system profile: %w", err)
			}
		}
		return nil
	})
	if len(r.cfg.Packages) > 0 || len(r.cfg.Expressions) > 0 || r.cfg.Flake != nil {
		g.Go(func() (err error) {
			profile := filepath.Join(profiles, "default")
			if roots.Profile, err = r.profile(gctx, pkgs, profile, r.cfg.Packages); err != nil {
				return fmt.Errorf("building root's profile: %w", err)
			}
			if len(r.cfg.Expressions) > 0 {
				if roots.Profile, err = r.installExpressions(gctx, pkgs, profile); err != nil {
					return err
				}
			}
			if r.cfg.Flake != nil {
				roots.Profile, err = r.installFlake(gctx, profile)
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return roots, err
	}
	if roots.Shell, err = profileTarget(roots.System, "bin/bash"); err != nil {
		return roots, fmt.Errorf("system.packages must provide bin/bash (bashInteractive): %w", err)
	}
	if roots.EnvBinary, err = profileTarget(roots.System, "bin/env"); err != nil {
		return roots, fmt.Errorf("system.packages must provide bin/env (coreutils): %w", err)
	}
	if roots.Channel, err = r.channel(ctx, roots); err != nil {
		return roots, fmt.Errorf("building the nixpkgs channel: %w", err)
	}
	if r.cfg.ReleaseNix {
		if roots.Release, err = r.releaseTops(); err != nil {
			return roots, err
		}
	}
	// Also without the release's Nix: store paths of the release (glibc,
	// libraries) may be in nixpkgs' closure too.
	var all []string
	for _, name := range r.rel.names {
		all = append(all, filepath.Join(storeDir, name))
	}
	r.copySigs(ctx, all)
	return roots, nil
}

// releaseTops returns the release's store paths that none of its others
// refers to (its Nix, and the CA bundle of the official releases): their
// closure is the whole release.
func (r *realiser) releaseTops() ([]string, error) {
	reg, err := os.ReadFile(filepath.Join(r.rel.dir, ".reginfo"))
	if err != nil {
		return nil, fmt.Errorf("reading the Nix release's registration: %w", err)
	}
	infos, err := ParseRegistration(string(reg))
	if err != nil {
		return nil, fmt.Errorf("reading the Nix release's registration: %w", err)
	}
	referred := map[string]bool{}
	for _, info := range infos {
		for _, ref := range info.References {
			if ref != info.Path {
				referred[ref] = true
			}
		}
	}
	var tops []string
	for _, info := range infos {
		if !referred[info.Path] {
			tops = append(tops, info.Path)
		}
	}
	return tops, nil
}

// addStorePath installs a store path into a profile built by profile, as
// the official installer installs its Nix (`nix-env -i <store path>`),
// and returns the new generation. -P keeps an element of the same name
// installed, so that a clash is an error rather than a silent swap.
func (r *realiser) addStorePath(ctx context.Context, profile, storePath string) (string, error) {
	if err := r.profileNixEnv(ctx, profile, "-p", profile, "-P", "-i", storePath); err != nil {
		return "", err
	}
	gen, err := filepath.EvalSymlinks(profile)
	if err != nil {
		return "", fmt.Errorf("reading profile %s: %w", profile, err)
	}
	return gen, nil
}

// copySigs gives the release's store paths, registered from its tarball
// without signatures, the signatures the substituters hold for the same
// contents (Nix checks that the NAR hash, size and references match), so
// that the image's Nix can verify them as it does substituted paths.
// Paths no substituter has stay unsigned, as the official installer
// leaves them; so do all of them with a Nix too old for `nix store
// copy-sigs` (before 2.4), which is only warned about.
func (r *realiser) copySigs(ctx context.Context, paths []string) {
	if len(r.cfg.Substituters) == 0 || len(paths) == 0 {
		return
	}
	args := []string{"--extra-experimental-features", "nix-command", "store", "copy-sigs"}
	for _, s := range r.cfg.Substituters {
		args = append(args, "-s", s)
	}
	if err := r.nix(ctx, "nix", append(args, paths...)...); err != nil {
		fmt.Fprintf(os.Stderr, "warning: the Nix release's store paths stay unsigned in the image "+
			"(copying their signatures from the substituters, %s, failed: %v)\n", r.cfg.SubstitutersWhere, err)
	}
}

// writeRequested writes the attribute paths of the requested packages
// (system packages, then root's, in spec order) as a JSON list of lists
// for an expression to read with builtins.fromJSON, and returns the
// packages in that order and the file.
func (r *realiser) writeRequested() ([]Package, string, error) {
	var all []Package
	all = append(all, r.cfg.SystemPackages...)
	all = append(all, r.cfg.Packages...)
	attrs := make([][]string, len(all))
	for i, p := range all {
		attrs[i] = strings.Split(p.Attr, ".")
	}
	data, err := json.Marshal(attrs)
	if err != nil {
		return nil, "", fmt.Errorf("realise: %w", err)
	}
	file := r.scratchPath("attrs.json")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		return nil, "", fmt.Errorf("realise: %w", err)
	}
	return all, file, nil
}

// checkAttrs evaluates nixpkgs once and reports every requested attribute
// it lacks or refuses to evaluate (unfree, insecure, broken), with the
// spec line that asked for it and the nixpkgs.config field that allows it.
// It returns the requested packages' names (Roots.Packages).
func (r *realiser) checkAttrs(ctx context.Context, src string) ([]string, error) {
	all, file, err := r.writeRequested()
	if err != nil {
		return nil, err
	}
	expr := fmt.Sprintf(attrStatusExpr, src, r.pkgsConfig, r.cfg.System, file)
	outText, err := r.nixOutput(ctx, nil, "nix-instantiate", "--eval", "--strict", "--json", "-E", expr)
	if err != nil {
		return nil, fmt.Errorf("nixpkgs (%s) does not evaluate: %w", r.cfg.NixpkgsWhere, err)
	}
	var status []attrStatus
	if err := json.Unmarshal([]byte(outText), &status); err != nil || len(status) != len(all) {
		return nil, fmt.Errorf("checking package attributes: unexpected answer %q", outText)
	}
	var missing, refused []string
	for i, st := range status {
		switch {
		case !st.Found:
			missing = append(missing, fmt.Sprintf("  %s: package attribute %q is not in nixpkgs", all[i].Where, all[i].Attr))
		case st.Refused:
			if why := r.refusal(all[i], st); why != "" {
				refused = append(refused, "  "+why)
			}
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("unknown package attributes:\n%s", strings.Join(missing, "\n"))
	}
	if len(refused) > 0 {
		return nil, fmt.Errorf("nixpkgs refuses to evaluate these packages:\n%s", strings.Join(refused, "\n"))
	}
	names := make([]string, len(status))
	for i, st := range status {
		names[i] = st.Name
	}
	return names, nil
}

// profile installs pkgs into a fresh profile with nix-env (which builds
// the user environment with Nix's built-in buildenv, so it needs nothing
// from nixpkgs) and returns the generation's store path.
func (r *realiser) profile(ctx context.Context, src, profile string, pkgs []Package) (string, error) {
	if err := removeProfile(profile); err != nil {
		return "", err
	}
	if len(pkgs) == 0 {
		return "", nil
	}
	args := []string{"-p", profile, "-f", src, "--arg", "config", r.pkgsConfig, "--arg", "overlays", "[]", "--argstr", "system", r.cfg.System, "-iA"}
	for _, p := range pkgs {
		args = append(args, p.Attr)
	}
	if err := r.profileNixEnv(ctx, profile, args...); err != nil {
		return "", r.explainBuild(ctx, profile, args, pkgs, err)
	}
	gen, err := filepath.EvalSymlinks(profile)
	if err != nil {
		return "", fmt.Errorf("reading profile %s: %w", profile, err)
	}
	return gen, nil
}

// profileNixEnv runs nix-env for one profile. The profiles are built at
// once, and each nix-env gets a narinfo cache of its own
// (XDG_CACHE_HOME/nix/binary-cache-v6.sqlite): two Nix processes writing
// the same one at once fail with "constraint failed" (seen with Nix 2.8).
func (r *realiser) profileNixEnv(ctx context.Context, profile string, args ...string) error {
	_, err := run(ctx, r.profileEnv(profile), nil, filepath.Join(r.boot.nix, "bin", "nix-env"), args...)
	return err
}

func (r *realiser) profileEnv(profile string) []string {
	return append(slices.Clone(r.env), "XDG_CACHE_HOME="+r.scratchPath("cache", filepath.Base(profile)))
}

// explainBuild adds to the error of a failed nix-env what Nix had to
// build, asking it again with --dry-run: the store paths none of the
// substituters has. nix-image expects the closure in a binary cache, and
// a failed build is most often a path the caches lack (a pin the cache
// never built, a package nixpkgs.config changed, a private package), so
// the error names those paths and the caches asked.
func (r *realiser) explainBuild(ctx context.Context, profile string, args []string, pkgs []Package, err error) error {
	cmd := exec.CommandContext(ctx, filepath.Join(r.boot.nix, "bin", "nix-env"), append(slices.Clone(args), "--dry-run")...)
	cmd.Env = r.profileEnv(profile)
	out, _ := cmd.CombinedOutput()
	built := toBuild(string(out))
	if len(built) == 0 {
		return err
	}
	var subs []string
	for _, s := range r.substituters() {
		subs = append(subs, s.url)
	}
	if r.cross() {
		return fmt.Errorf("%w\n%s", err, r.foreignBuildHelp(subs, built, pkgs))
	}
	return fmt.Errorf("%w\nnone of the substituters (%s) has these store paths, so Nix tried to build them, and failed:\n  %s",
		err, strings.Join(subs, ", "), strings.Join(built, "\n  "))
}

// toBuild returns the derivations that the output of a Nix --dry-run says
// "will be built", but nix-env's user environment.
func toBuild(dryRun string) []string {
	var drvs []string
	in := false
	for _, line := range strings.Split(dryRun, "\n") {
		switch {
		case strings.Contains(line, "will be built:"):
			in = true
		case in && strings.HasPrefix(line, "  "+storeDir+"/"):
			// nix-env's own user environment is always built.
			if d := strings.TrimSpace(line); !strings.HasSuffix(d, "-user-environment.drv") {
				drvs = append(drvs, d)
			}
		default:
			in = false
		}
	}
	return drvs
}

// removeProfile deletes a profile and its generation links left by an
// earlier build in the same scratch directory.
func removeProfile(profile string) error {
	links, err := filepath.Glob(profile + "*")
	if err != nil {
		return err
	}
	for _, l := range links {
		if err := os.Remove(l); err != nil {
			return fmt.Errorf("removing old profile link: %w", err)
		}
	}
	return nil
}

// profileTarget returns what a file of a user environment points to: the
// same file in the package that provides it.
func profileTarget(gen, file string) (string, error) {
	p := filepath.Join(gen, file)
	for i := 0; i < 40; i++ {
		if storeRoot(p) != gen {
			if _, err := os.Stat(p); err != nil {
				return "", err
			}
			return p, nil
		}
		next, err := resolveFirstLink(p)
		if err != nil {
			return "", err
		}
		p = next
	}
	return "", fmt.Errorf("too many links resolving %s", file)
}

// resolveFirstLink replaces the first symlink component of p by its target.
func resolveFirstLink(p string) (string, error) {
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	cur := "/"
	for i, part := range parts {
		cur = filepath.Join(cur, part)
		fi, err := os.Lstat(cur)
		if err != nil {
			return "", err
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			continue
		}
		target, err := os.Readlink(cur)
		if err != nil {
			return "", err
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(cur), target)
		}
		return filepath.Join(append([]string{target}, parts[i+1:]...)...), nil
	}
	return "", fmt.Errorf("%s is not provided by any package", p)
}

// storeRoot returns the store path that p is in, or "".
func storeRoot(p string) string {
	rest, ok := strings.CutPrefix(filepath.Clean(p), storeDir+"/")
	if !ok {
		return ""
	}
	base, _, _ := strings.Cut(rest, "/")
	return storeDir + "/" + base
}

// closure lists every store path the roots need, with its registration.
func (r *realiser) closure(ctx context.Context, roots Roots) ([]PathInfo, string, error) {
	paths, err := r.closurePaths(ctx, roots)
	if err != nil {
		return nil, "", err
	}
	reg, err := r.nixOutput(ctx, nil, "nix-store", append([]string{"--dump-db"}, paths...)...)
	if err != nil {
		return nil, "", fmt.Errorf("dumping the registration: %w", err)
	}
	infos, err := ParseRegistration(reg)
	if err != nil {
		return nil, "", err
	}
	return infos, reg, nil
}

// closurePaths lists every store path the roots need, sorted.
func (r *realiser) closurePaths(ctx context.Context, roots Roots) ([]string, error) {
	args := []string{"-qR"}
	for _, p := range append([]string{roots.System, roots.Profile, roots.Channel, roots.Nixpkgs}, roots.Release...) {
		if p != "" {
			args = append(args, p)
		}
	}
	list, err := r.nixOutput(ctx, nil, "nix-store", args...)
	if err != nil {
		return nil, fmt.Errorf("computing the closure: %w", err)
	}
	paths := strings.Fields(list)
	sort.Strings(paths)
	return paths, nil
}

// ParseRegistration reads the output of `nix-store --dump-db` (the format
// of an installer's .reginfo): per path its name, nar hash, nar size,
// deriver, reference count and references, one per line.
func ParseRegistration(reg string) ([]PathInfo, error) {
	sc := bufio.NewScanner(strings.NewReader(reg))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	next := func() (string, bool) {
		if !sc.Scan() {
			return "", false
		}
		return sc.Text(), true
	}
	var infos []PathInfo
	for {
		p, ok := next()
		if !ok {
			break
		}
		if p == "" {
			continue
		}
		var info PathInfo
		info.Path = p
		hash, ok1 := next()
		size, ok2 := next()
		deriver, ok3 := next()
		count, ok4 := next()
		if !(ok1 && ok2 && ok3 && ok4) {
			return nil, fmt.Errorf("registration of %s is truncated", p)
		}
		info.NarHash = hash
		info.Deriver = deriver
		if _, err := fmt.Sscan(size, &info.NarSize); err != nil {
			return nil, fmt.Errorf("registration of %s: nar size %q: %w", p, size, err)
		}
		var n int
		if _, err := fmt.Sscan(count, &n); err != nil {
			return nil, fmt.Errorf("registration of %s: reference count %q: %w", p, count, err)
		}
		info.References = []string{}
		for i := 0; i < n; i++ {
			ref, ok := next()
			if !ok {
				return nil, fmt.Errorf("registration of %s is truncated", p)
			}
			info.References = append(info.References, ref)
		}
		sort.Strings(info.References)
		infos = append(infos, info)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	sort.Slice(infos, func(i, j int) bool { return infos[i].Path < infos[j].Path })
	return infos, nil
}
