# The offline package set: a stand-in for nixpkgs with the same entry point
# (`import <nixpkgs> {}`, `nix-env -f . -iA hello`). Every derivation copies
# files of the Debian machine that generated the mirror (hack/mirror.sh) and
# relocates them into the store. Built only there (sandboxed, with /usr and
# /lib bound in); anywhere else the same .drv files come out and Nix
# substitutes their outputs from the mirror's binary cache.
#
# Without a config argument it reads the user's, as nixpkgs does:
# $NIXPKGS_CONFIG, else ~/.config/nixpkgs/config.nix, else ~/.nixpkgs/config.nix.
{ system ? builtins.currentSystem
, config ? (
    let
      home = builtins.getEnv "HOME";
      files = builtins.filter (f: f != "" && builtins.pathExists f) [
        (builtins.getEnv "NIXPKGS_CONFIG")
        (if home == "" then "" else home + "/.config/nixpkgs/config.nix")
        (if home == "" then "" else home + "/.nixpkgs/config.nix")
      ];
    in
    if files == [ ] then { } else import (builtins.head files))
, overlays ? [ ]
, ...
}:
let
  # As nixpkgs' default.nix: refuse a Nix older than lib/minver.nix.
  minver = import ./lib/minver.nix;
  # One manifest per system (hack/mirror/gen.py), each made of Debian's
  # packages of that architecture.
  manifestFile = ./manifests + "/${system}.nix";
  systems = map (f: builtins.substring 0 (builtins.stringLength f - 4) f)
    (builtins.attrNames (builtins.readDir ./manifests));
  manifest = if builtins.compareVersions minver builtins.nixVersion == 1
    then abort "This version of Nixpkgs requires Nix >= ${minver}, please upgrade."
    else if builtins.pathExists manifestFile then import manifestFile
    else throw "the offline package set has no packages for system ${system} (it has ${builtins.concatStringsSep ", " systems})";
  checkMeta = import ./check-meta.nix { inherit config; };
  busybox = "${./bootstrap}/bin/busybox";

  mkDerivation = { pname, version, ... }@attrs:
    derivation ({
      name = "${pname}-${version}";
      inherit system;
      builder = busybox;
      args = [ "sh" "-e" ./builder.sh ];
      # The copy lists of big packages (vim's runtime) exceed an env var's limit.
      passAsFile = [ "copy" ];
    } // attrs);

  libDir = p: "${p}/lib";
  joinColon = builtins.concatStringsSep ":";

  glibc = mkDerivation {
    inherit (manifest.glibc) pname version;
    kind = "glibc";
    copy = builtins.concatStringsSep "\n"
      (map (s: "file ${manifest.glibc.dir}/${s} lib/${s}") manifest.glibc.sonames);
  };
  interpreter = "${glibc}/lib/${manifest.glibc.interpreter}";
  rpathOf = sonames: joinColon ([ (libDir glibc) ] ++ map (s: libDir libraries.${s}) sonames);

  libraries = builtins.mapAttrs (soname: l: mkDerivation {
    inherit (l) pname version;
    kind = "lib";
    copy = "elf ${l.src} lib/${soname}";
    rpath = rpathOf l.needs;
    inherit interpreter;
  }) manifest.libs;

  packages = builtins.mapAttrs (attr: p: withMeta attr (mkDerivation ({
    inherit (p) pname version copy;
    wrapArgs = p.args;
    kind = "package";
    rpath = rpathOf p.libs;
    inherit interpreter;
    needs = builtins.concatStringsSep " " p.needs;
    env = builtins.concatStringsSep "\n" p.env;
  } // builtins.listToAttrs (map (n: { name = n; value = packages.${n}; }) p.needs))))
    manifest.packages;

  # nixpkgs' meta of the packages the images install (license as in
  # lib.licenses, homepage), as the SBOM reads it. Not part of the
  # derivations: adding it changes no store path.
  licenses = {
    bsd2 = { spdxId = "BSD-2-Clause"; shortName = "bsd2"; };
    bsd3 = { spdxId = "BSD-3-Clause"; shortName = "bsd3"; };
    curl = { spdxId = "curl"; shortName = "curl"; };
    gpl2Only = { spdxId = "GPL-2.0-only"; shortName = "gpl2Only"; };
    gpl2Plus = { spdxId = "GPL-2.0-or-later"; shortName = "gpl2Plus"; };
    gpl3Plus = { spdxId = "GPL-3.0-or-later"; shortName = "gpl3Plus"; };
    lgpl21Plus = { spdxId = "LGPL-2.1-or-later"; shortName = "lgpl21Plus"; };
    mit = { spdxId = "MIT"; shortName = "mit"; };
    mpl20 = { spdxId = "MPL-2.0"; shortName = "mpl20"; };
    publicDomain = { shortName = "publicDomain"; fullName = "Public Domain"; };
    vim = { spdxId = "Vim"; shortName = "vim"; };
  };
  metas = with licenses; {
    bash = { license = gpl3Plus; homepage = "https://www.gnu.org/software/bash/"; };
    cacert = { license = mpl20; homepage = "https://curl.se/docs/caextract.html"; };
    coreutils = { license = gpl3Plus; homepage = "https://www.gnu.org/software/coreutils/"; };
    curl = { license = curl; homepage = "https://curl.se/"; };
    findutils = { license = gpl3Plus; homepage = "https://www.gnu.org/software/findutils/"; };
    git = { license = gpl2Only; homepage = "https://git-scm.com/"; };
    gnugrep = { license = gpl3Plus; homepage = "https://www.gnu.org/software/grep/"; };
    gnused = { license = gpl3Plus; homepage = "https://www.gnu.org/software/sed/"; };
    gnutar = { license = gpl3Plus; homepage = "https://www.gnu.org/software/tar/"; };
    gzip = { license = gpl3Plus; homepage = "https://www.gnu.org/software/gzip/"; };
    hello = { license = gpl3Plus; homepage = "https://www.gnu.org/software/hello/"; };
    jq = { license = mit; homepage = "https://jqlang.github.io/jq/"; };
    less = { license = gpl3Plus; homepage = "https://www.greenwoodsoftware.com/less/"; };
    man = { license = gpl2Plus; homepage = "https://man-db.nongnu.org/"; };
    nix = { license = lgpl21Plus; homepage = "https://nixos.org/"; };
    openssh = { license = bsd2; homepage = "https://www.openssh.com/"; };
    procps = { license = gpl2Plus; homepage = "https://gitlab.com/procps-ng/procps"; };
    shadow = { license = bsd3; homepage = "https://github.com/shadow-maint/shadow"; };
    sqlite = { license = publicDomain; homepage = "https://www.sqlite.org/"; };
    vim = { license = vim; homepage = "https://www.vim.org/"; };
    which = { license = gpl3Plus; homepage = "https://www.gnu.org/software/which/"; };
    xz = { license = [ gpl2Plus lgpl21Plus ]; homepage = "https://tukaani.org/xz/"; };
  };
  withMeta = attr: drv: if metas ? ${attr} then drv // { meta = metas.${attr}; } else drv;

  aliases = builtins.mapAttrs (_: target: packages.${target}) manifest.aliases;

  # A small stdenv made of the set's own programs (see stdenv-setup.sh).
  # Derivations made with it build anywhere, with no host files.
  initialPath = with packages; [ coreutils findutils gnugrep gnused gnutar gzip xz bash ];
  stdenv = derivation {
    name = "stdenv-offline-1";
    pname = "stdenv-offline";
    version = "1";
    inherit system;
    builder = busybox;
    args = [ "sh" "-ec" ''"$builder" mkdir "$out"; "$builder" sed -e "s|@initialPath@|$initialPath|" -e "s|@shell@|$shell|" "$setup" >"$out/setup"'' ];
    setup = ./stdenv-setup.sh;
    shell = "${packages.bash}/bin/bash";
    inherit initialPath;
  } // {
    mkDerivation = { name ? "${attrs.pname}-${attrs.version}", ... }@attrs:
      checkMeta.check (attrs // { inherit name; }) (derivation ({
        inherit system stdenv;
        builder = "${packages.bash}/bin/bash";
        args = [ "-ec" "source $stdenv/setup; genericBuild" ];
      } // removeAttrs attrs [ "pname" "version" "meta" "passthru" ] // { inherit name; }));
  };
  runCommand = name: env: buildCommand: stdenv.mkDerivation ({ inherit name buildCommand; } // env);
  writeText = name: text: runCommand name { inherit text; passAsFile = [ "text" ]; } ''cp "$textPath" "$out"'';

  # Packages nixpkgs' config must allow (see check-meta.nix): tiny programs
  # made with the set's stdenv.mkDerivation. hello-unfree is named after
  # nixpkgs' own. Their builder is the bootstrap busybox, as for the set's
  # other packages, so that the generator makes them for every system
  # without running a program of that system.
  hello-variant = pname: meta: stdenv.mkDerivation {
    inherit pname meta;
    version = "1.0";
    builder = busybox;
    args = [ "sh" "-ec" ''"$builder" mkdir -p "$out/bin"; "$builder" printf '#!%s\necho "Hello from ${pname}!"\n' "$bash" >"$out/bin/${pname}"; "$builder" chmod 0555 "$out/bin/${pname}"'' ];
    bash = "${packages.bash}/bin/bash";
  };
  restricted = {
    hello-unfree = hello-variant "hello-unfree" {
      license = { shortName = "unfree"; fullName = "Unfree"; free = false; redistributable = false; };
    };
    hello-insecure = hello-variant "hello-insecure" {
      knownVulnerabilities = [ "CVE-0000-0000: a stand-in vulnerability of the offline package set" ];
    };
    hello-broken = hello-variant "hello-broken" { broken = true; };
  };

  pkgs = packages // aliases // restricted // {
    inherit glibc libraries system stdenv runCommand writeText pkgs;
    runCommandLocal = runCommand;
    # nix-shell -p uses runCommandCC when there is one; there is no compiler.
    runCommandCC = runCommand;
  };
in
pkgs
