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
  manifest = if builtins.compareVersions minver builtins.nixVersion == 1
    then abort "This version of Nixpkgs requires Nix >= ${minver}, please upgrade."
    else import ./manifest.nix;
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
  interpreter = "${glibc}/lib/ld-linux-x86-64.so.2";
  rpathOf = sonames: joinColon ([ (libDir glibc) ] ++ map (s: libDir libraries.${s}) sonames);

  libraries = builtins.mapAttrs (soname: l: mkDerivation {
    inherit (l) pname version;
    kind = "lib";
    copy = "elf ${l.src} lib/${soname}";
    rpath = rpathOf l.needs;
    inherit interpreter;
  }) manifest.libs;

  packages = builtins.mapAttrs (attr: p: mkDerivation ({
    inherit (p) pname version copy;
    wrapArgs = p.args;
    kind = "package";
    rpath = rpathOf p.libs;
    inherit interpreter;
    needs = builtins.concatStringsSep " " p.needs;
    env = builtins.concatStringsSep "\n" p.env;
  } // builtins.listToAttrs (map (n: { name = n; value = packages.${n}; }) p.needs)))
    manifest.packages;

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
  # made with the set's stdenv. hello-unfree is named after nixpkgs' own.
  hello-variant = pname: meta: stdenv.mkDerivation {
    inherit pname meta;
    version = "1.0";
    buildCommand = ''
      mkdir -p $out/bin
      printf '#!%s\necho "Hello from ${pname}!"\n' ${packages.bash}/bin/bash > $out/bin/${pname}
      chmod +x $out/bin/${pname}
    '';
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
