# The offline package set's stand-in for nixpkgs' pkgs/stdenv/generic/check-meta.nix:
# a derivation whose meta says it is unfree, insecure or broken refuses to
# evaluate (its drvPath and outPath throw) unless the nixpkgs config or the
# NIXPKGS_ALLOW_* environment variables allow it, with nixpkgs' wording and
# advice. The attribute itself, its name and its meta stay readable, as in
# nixpkgs.
{ config }:
let
  env = name: builtins.getEnv name == "1";
  allowUnfree = config.allowUnfree or false || env "NIXPKGS_ALLOW_UNFREE";
  allowBroken = config.allowBroken or false || env "NIXPKGS_ALLOW_BROKEN";
  allowInsecure = env "NIXPKGS_ALLOW_INSECURE";
  permittedInsecure = config.permittedInsecurePackages or [ ];
  toList = x: if builtins.isList x then x else [ x ];
  licenses = meta: toList (meta.license or [ ]);
  licenseName = l: l.shortName or l.spdxId or (if builtins.isString l then l else "unknown");

  unfreeAdvice = name: ''


    a) To temporarily allow unfree packages, you can use an environment variable
       for a single invocation of the nix tools.

         $ export NIXPKGS_ALLOW_UNFREE=1

    b) For `nixos-rebuild` you can set
      { nixpkgs.config.allowUnfree = true; }
    in configuration.nix to override this.

    Alternatively you can configure a predicate to allow specific packages:
      { nixpkgs.config.allowUnfreePredicate = pkg: builtins.elem (lib.getName pkg) [
          "${(builtins.parseDrvName name).name}"
        ];
      }

    c) For `nix-env`, `nix-build`, `nix-shell` or any other Nix command you can add
      { allowUnfree = true; }
    to ~/.config/nixpkgs/config.nix.
  '';
  insecureAdvice = name: ''


    You can install it anyway by allowing this package, using the
    following methods:

    a) To temporarily allow all insecure packages, you can use an environment
       variable for a single invocation of the nix tools:

         $ export NIXPKGS_ALLOW_INSECURE=1

    b) for `nixos-rebuild` you can add ‘${name}’ to
       `nixpkgs.config.permittedInsecurePackages` in the configuration.nix,
       like so:

         {
           nixpkgs.config.permittedInsecurePackages = [
             "${name}"
           ];
         }

    c) For `nix-env`, `nix-build`, `nix-shell` or any other Nix command you can add
    ‘${name}’ to `permittedInsecurePackages` in
    ~/.config/nixpkgs/config.nix, like so:

         {
           permittedInsecurePackages = [
             "${name}"
           ];
         }
  '';
  brokenAdvice = ''


    a) To temporarily allow broken packages, you can use an environment variable
       for a single invocation of the nix tools.

         $ export NIXPKGS_ALLOW_BROKEN=1

    b) For `nixos-rebuild` you can set
      { nixpkgs.config.allowBroken = true; }
    in configuration.nix to override this.

    c) For `nix-env`, `nix-build`, `nix-shell` or any other Nix command you can add
      { allowBroken = true; }
    to ~/.config/nixpkgs/config.nix.
  '';

  # The first reason attrs may not be evaluated, or null.
  problem = attrs:
    let
      meta = attrs.meta or { };
      name = attrs.name;
      unfree = builtins.filter (l: !(l.free or true)) (licenses meta);
      vulns = meta.knownVulnerabilities or [ ];
    in
    if unfree != [ ] && !allowUnfree then
      "Package ‘${name}’ has an unfree license (‘${builtins.concatStringsSep ", " (map licenseName unfree)}’), refusing to evaluate."
      + unfreeAdvice name
    else if vulns != [ ] && !allowInsecure && !builtins.elem name permittedInsecure then
      "Package ‘${name}’ is marked as insecure, refusing to evaluate.\n\n\nKnown issues:\n"
      + builtins.concatStringsSep "" (map (v: " - ${v}\n") vulns)
      + insecureAdvice name
    else if meta.broken or false && !allowBroken then
      "Package ‘${name}’ is marked as broken, refusing to evaluate." + brokenAdvice
    else null;
in
{
  # check attrs drv: drv with meta, whose store paths throw when attrs is
  # refused.
  check = attrs: drv:
    let
      p = problem attrs;
      valid = p == null || throw p;
      result = drv // {
        meta = attrs.meta or { };
        drvPath = assert valid; drv.drvPath;
        outPath = assert valid; drv.outPath;
        out = result;
      };
    in
    result;
}
