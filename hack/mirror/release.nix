# The offline mirror's Nix release (hack/mirror.sh): the package set's
# `nix` with its own copies of Nix's libraries, the version string in
# libnixstore.so replaced by `version` (same length), so that the release is
# another store path with another `nix --version` than the package set's
# `nix` attribute, as a real Nix release is. Built only by hack/mirror.sh
# (sandboxed with the host's /usr bound in, for patchelf); not part of the
# package set.
#
# `system` is the release's: the build machine's (the default) or another
# one. The tools that make it are the build machine's, as nixpkgs'
# buildPackages, so an aarch64-linux release is made on x86_64-linux without
# running any aarch64 program; only the build machine's own release is run
# here (`nix --version`), the others are run by hack/mirror/verify.sh.
{ nixpkgs, version, system ? builtins.currentSystem }:
let
  pkgs = import nixpkgs { };
  inherit (import nixpkgs { inherit system; }) nix;
  versionCheck = if system == pkgs.system then
    "got=$(\"$out/bin/nix\" --version)\n[ \"$got\" = \"nix (Nix) $releaseVersion\" ] || { echo \"release.nix: nix --version says $got\" >&2; exit 1; }"
  else
    "grep -q -a -F \"$releaseVersion\" \"$out/lib/libnixstore.so\"";
in
pkgs.runCommand "nix-${version}" {
  inherit nix system;
  releaseVersion = version;
  oldVersion = nix.version;
} ''
  [ ''${#releaseVersion} = ''${#oldVersion} ] || { echo "release.nix: $releaseVersion and $oldVersion differ in length" >&2; exit 1; }
  patchelf=/usr/bin/patchelf
  cp -r "$nix" "$out"
  chmod -R u+w "$out"
  # The wrappers name the package's own store path: name ours.
  for f in "$out"/bin/*; do
    sed -i "s|$nix|$out|g" "$f"
  done
  # Nix's libraries (from the RUNPATH of the nix binary) move into $out/lib;
  # every RUNPATH then looks there first and no more in their old paths.
  exe=$out/libexec/nix/nix
  mkdir "$out/lib"
  isNixLib() { for l in "$1"/libnix*.so; do [ -e "$l" ] && return 0; done; return 1; }
  for d in $($patchelf --print-rpath "$exe" | tr : ' '); do
    if isNixLib "$d"; then cp "$d"/libnix*.so "$out/lib/"; fi
  done
  chmod u+w "$out"/lib/*
  for f in "$exe" "$out"/lib/*; do
    rpath=
    for d in $($patchelf --print-rpath "$f" | tr : ' '); do
      isNixLib "$d" || rpath=$rpath:$d
    done
    $patchelf --set-rpath "$out/lib$rpath" "$f"
  done
  n=$(grep -c -a -F "$oldVersion" "$out/lib/libnixstore.so" || true)
  [ "$n" = 1 ] || { echo "release.nix: libnixstore.so holds $oldVersion $n times, expected once" >&2; exit 1; }
  sed -i "s/$(printf %s "$oldVersion" | sed 's/[.]/[.]/g')/$releaseVersion/" "$out/lib/libnixstore.so"
  ${versionCheck}
  if grep -r -l -F "$nix" "$out"; then echo "release.nix: the files above still name $nix" >&2; exit 1; fi
''
