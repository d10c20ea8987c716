# $stdenv/setup of the offline package set: a small stand-in for nixpkgs'
# stdenv, enough for runCommand, stdenv.mkDerivation (buildCommand, or
# buildPhase and installPhase) and `nix-shell -p PKG`. It puts the bin/
# directories of the inputs and of the base tools in PATH. (It leaves $p
# alone: nix-shell keeps the caller's PATH there.)
# shellcheck shell=bash disable=SC2154
path=
for input in ${nativeBuildInputs:-} ${buildInputs:-} ${propagatedBuildInputs:-} @initialPath@; do
	if [ -d "$input/bin" ]; then path=${path:+$path:}$input/bin; fi
done
export PATH=$path
unset input path
export SHELL=@shell@

runHook() { :; }

genericBuild() {
	if [ -n "${buildCommand:-}" ]; then
		eval "$buildCommand"
		return
	fi
	eval "${buildPhase:-}"
	eval "${installPhase:-}"
}
