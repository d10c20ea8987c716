#!/usr/bin/env bash
# Generates the offline Nix world the tests use instead of releases.nixos.org,
# a nixpkgs tarball and cache.nixos.org (see "Offline Nix mirror" in
# hack/README.md):
#
#   hack/mirror.sh [OUTDIR]      (default: out/mirror in the repository)
#
# OUTDIR gets nix/nix-2.8.1/{install,nix-2.8.1-SYSTEM.tar.xz} for
# x86_64-linux and aarch64-linux, nixpkgs.tar.gz(.sha256) and
# nixpkgs-real.tar.gz(.sha256) (the same package set, the second padded to
# nixpkgs' real size), cache/ (signed binary cache), cache-key.pub,
# mirror.env and mirror.json. Work files (a chroot Nix store, rebuilt on
# every generation, the cache's signing key, made once, and the downloaded
# arm64 .debs) live in OUTDIR-work. A run whose inputs (generator files,
# versions of the Debian packages it relocates and of the real-size
# tarball's compressor) match the last generation's stamp returns at once.
# Needs the Go toolchain (hack/mirror/realsize).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
gen=$repo/hack/mirror
out=$(realpath -m "${1:-$repo/out/mirror}")
work=$out-work

# The release's Nix is the package set's (Debian's 2.8.0) relabelled 2.8.1
# (hack/mirror/release.nix): another store path and another version.
nix_version=2.8.1
system=x86_64-linux

log() { echo "mirror: [${SECONDS}s] $*" >&2; }

# Debian packages: the tools, and those whose files the package set relocates.
packages=(
	nix-bin busybox-static patchelf xz-utils python3 ca-certificates
	bash coreutils passwd login curl jq git grep sed tar gzip less findutils
	debianutils procps openssh-client openssh-server hello vim groff-base
	man-db bsdextrautils sqlite3 ncurses-bin ncurses-base ncurses-term libc6
	binutils
)

install_packages() {
	local missing=() p status
	declare -A have=()
	while read -r p status; do
		[[ $status == installed ]] && have[$p]=1
	done < <(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${packages[@]}" 2>/dev/null || true)
	for p in "${packages[@]}"; do
		[[ -n ${have[$p]:-} ]] || missing+=("$p")
	done
	((${#missing[@]} == 0)) && return 0
	log "installing ${missing[*]}"
	# openssh-server would start a daemon: keep apt from starting services
	# (only when the machine has no policy of its own).
	local policy=/usr/sbin/policy-rc.d added=
	if [[ ! -e $policy ]]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod 0755 "$policy"
		added=1
	fi
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 || {
		[[ -n $added ]] && rm -f "$policy"
		return 1
	}
	[[ -n $added ]] && rm -f "$policy"
	return 0
}

# The stamp covers the generator, the versions of what it copies and those
# of the compressor of the real-size tarball (hack/mirror/realsize).
stamp() {
	{
		(cd "$repo" && find hack/mirror.sh hack/mirror -type f ! -name verify.sh ! -name '*_test.go' | LC_ALL=C sort | xargs sha256sum)
		awk '$1 ~ /^github\.com\/klauspost\/(pgzip|compress)$/ { print $1, $2 }' "$repo/go.mod"
		dpkg-query -W -f='${Package} ${Version}\n' "${packages[@]}" | LC_ALL=C sort
		foreign_versions
	} | sha256sum | cut -d' ' -f1
}

# Deterministic tar: sorted, fixed owners and times.
det_tar() {
	tar --sort=name --mtime=@1 --owner=0 --group=0 --numeric-owner --format=gnu "$@"
}

# --- Other systems (aarch64-linux): the package set, cache paths and release
# made of Debian's arm64 packages (downloaded and unpacked, never installed or
# run), built on this x86_64 machine without emulation: their derivations'
# builder is the host's busybox, and Nix builds them here because
# `extra-platforms` lists their system (see hack/README.md). ---

# Nix system -> Debian architecture, for the systems besides the host's.
declare -A foreign_arch=([aarch64-linux]=arm64)
systems=("$system" "${!foreign_arch[@]}")

# apt knows the other architectures' packages (dpkg --add-architecture,
# apt-get update); nothing of them is installed.
foreign_apt() {
	local a update=
	for a in "${foreign_arch[@]}"; do
		if [[ " $(dpkg --print-foreign-architectures | tr '\n' ' ') " != *" $a "* ]]; then
			log "adding the dpkg architecture $a"
			dpkg --add-architecture "$a"
			update=1
		elif ! compgen -G "/var/lib/apt/lists/*_binary-${a}_Packages*" >/dev/null; then
			update=1
		fi
	done
	if [[ -n $update ]]; then apt-get update -qq; fi
}

# apt's package lists of the other architectures, for the stamp: the .debs
# debroot.sh takes are their candidates. (apt-cache would say the candidates
# exactly, but Debian's container images keep apt from saving its cache,
# which makes a call take seconds.)
foreign_versions() {
	local a
	for a in "${foreign_arch[@]}"; do
		sha256sum /var/lib/apt/lists/*_binary-"${a}"_Packages*
	done
}

# gen_manifest SYSTEM: the package set's manifests/SYSTEM.nix (gen.py), of
# the host's files for the host's system; for another one, of a tree of its
# architecture's .debs of the packages the host's set copies (debroot.sh).
# Writes $work/sandbox-paths-SYSTEM and $work/debs-SYSTEM.
gen_manifest() {
	local s=$1 root=/ sroot=
	if [[ $s != "$system" ]]; then
		root=$work/root-$s
		sroot=/debian/$s
		"$gen/debroot.sh" "${foreign_arch[$s]}" "$work/debs-$system" "$work/deb-cache-${foreign_arch[$s]}" "$root"
	fi
	/usr/bin/python3 "$gen/gen.py" "$s" "$root" "$sroot" "$stage/nixpkgs/manifests/$s.nix" "$work/sandbox-paths-$s" "$work/debs-$s"
	chmod 0644 "$stage/nixpkgs/manifests/$s.nix"
}

# mirror.env's keys of every system: NIX_SYSTEMS, and per system (S is
# the system in upper case, `-` as `_`: X86_64_LINUX, AARCH64_LINUX)
# NIX_TARBALL_S, NIX_SHA256_S, NIX_STORE_PATH_S, NIXPKGS_NIX_STORE_PATH_S.
systems_env() {
	local s u
	echo "NIX_SYSTEMS='${systems[*]}'"
	for s in "${systems[@]}"; do
		u=${s^^}
		u=${u//-/_}
		echo "NIX_TARBALL_$u=${sys_tarball[$s]}"
		echo "NIX_SHA256_$u=${sys_sha256[$s]}"
		echo "NIX_STORE_PATH_$u=${sys_nix[$s]}"
		echo "NIXPKGS_NIX_STORE_PATH_$u=${sys_pkgs_nix[$s]}"
	done
}

# mirror.json's "systems": per system its nixTarball, nixSha256,
# nixStorePath, nixpkgsNixStorePath and outPaths (attribute -> out path).
systems_json() {
	local s args=()
	for s in "${systems[@]}"; do
		args+=("$s" "${sys_tarball[$s]}" "${sys_sha256[$s]}" "${sys_nix[$s]}" "${sys_pkgs_nix[$s]}" "$work/out-paths-$s")
	done
	/usr/bin/python3 - "$1" "${args[@]}" <<'PY'
import json, sys
path, rest = sys.argv[1], sys.argv[2:]
with open(path) as f:
    doc = json.load(f)
doc["systems"] = {}
for i in range(0, len(rest), 6):
    s, tarball, sha, nix, pkgs_nix, outs = rest[i:i + 6]
    with open(outs) as f:
        out_paths = dict(l.rstrip("\n").split("=", 1) for l in f if l.strip())
    doc["systems"][s] = {"nixTarball": tarball, "nixSha256": sha, "nixStorePath": nix,
                         "nixpkgsNixStorePath": pkgs_nix, "outPaths": out_paths}
with open(path, "w") as f:
    json.dump(doc, f, indent=2, sort_keys=True)
    f.write("\n")
PY
}
# --- end of other systems ---

install_packages
foreign_apt
# One generation at a time per OUTDIR (tests may start several at once); a
# run that waited sees the stamp the other one wrote.
mkdir -p "$work"
# The work directory holds unpacked Debian trees with Go sources in them:
# a module of its own keeps them out of this module's ./... (go vet, tests).
[[ -f $work/go.mod ]] || printf 'module nix-image.invalid/mirror-work\n' >"$work/go.mod"
exec 9>"$work/lock"
flock 9
want=$(stamp)
if [[ -f $out/.stamp && $(cat "$out/.stamp") == "$want" && -f $out/mirror.env ]]; then
	log "up to date: $out"
	exit 0
fi

log "generating into $out"
store=$work/store
chmod -R u+w "$store" 2>/dev/null || true
rm -rf "$store" "$work/stage" "$work/out"
stage=$work/stage
new=$work/out
mkdir -p "$stage/nixpkgs/bootstrap/bin" "$new/nix/nix-$nix_version" "$new/cache"
# Nix flags for the private chroot store; no state outside $work is used.
nixs=(--store "$store" --option substituters '' --option build-users-group '')
# The other systems' derivations build here (their builder is the host's).
nixs+=(--option extra-platforms "${!foreign_arch[*]}")

# Signing key: made once and kept, so the cache's signatures stay the same.
if [[ ! -f $work/cache-key.sec ]]; then
	nix-store --generate-binary-cache-key nix-image-mirror-1 "$work/cache-key.sec" "$work/cache-key.pub"
fi

# 1. The package set: our expressions, the generated manifest, busybox.
install -m 0644 "$gen/nixpkgs/default.nix" "$gen/nixpkgs/builder.sh" "$gen/nixpkgs/stdenv-setup.sh" "$stage/nixpkgs/"
install -m 0644 "$gen/nixpkgs/check-meta.nix" "$stage/nixpkgs/"
install -D -m 0644 "$gen/nixpkgs/lib/minver.nix" "$stage/nixpkgs/lib/minver.nix"
# The cache holds the unfree, insecure and broken packages too: the
# generator's own evaluations allow them all.
allow_all='{ allowUnfree = true; allowBroken = true; permittedInsecurePackages = [ "hello-insecure-1.0" ]; }'
install -m 0755 /bin/busybox "$stage/nixpkgs/bootstrap/bin/busybox"
mkdir -p "$stage/nixpkgs/manifests"
for s in "${systems[@]}"; do gen_manifest "$s"; done
LC_ALL=C sort -u "$work"/sandbox-paths-* >"$work/sandbox-paths"
# attribute=out path, one a line (the top-level derivations of the set), per
# system in $work/out-paths-SYSTEM; the host's in out_paths.
declare -A sys_outs=() sys_pkgs_nix=() sys_nix=() sys_tarball=() sys_sha256=()
for s in "${systems[@]}"; do
	nix-instantiate "${nixs[@]}" --eval --strict --json --readonly-mode -E "
		let pkgs = import $stage/nixpkgs { system = \"$s\"; config = $allow_all; }; in
		map (n: n + \"=\" + pkgs.\${n}.outPath)
			(builtins.filter (n: n != \"glibc\" && (pkgs.\${n}.type or null) == \"derivation\") (builtins.attrNames pkgs))" |
		/usr/bin/python3 -c 'import json, sys; print("\n".join(json.load(sys.stdin)))' >"$work/out-paths-$s"
	sys_outs[$s]=$(sed 's/^[^=]*=//' "$work/out-paths-$s" | tr '\n' ' ')
	sys_pkgs_nix[$s]=$(sed -n 's/^nix=//p' "$work/out-paths-$s")
	if ! cmp -s <(sed 's/=.*//' "$work/out-paths-$system") <(sed 's/=.*//' "$work/out-paths-$s"); then
		echo "mirror: the package set for $s has other attributes than for $system" >&2
		exit 1
	fi
done
mapfile -t out_paths <"$work/out-paths-$system"
attrs=("${out_paths[@]%%=*}")
pkgs_nix_path=${sys_pkgs_nix[$system]}
pkgs_nix_version=$(nix-instantiate "${nixs[@]}" --eval --readonly-mode -E "(import $stage/nixpkgs { }).nix.version" | tr -d '"')

# 2. Build every package in the chroot store, sandboxed with the host
# directories the builders copy from.
log "building ${#attrs[@]} packages for ${systems[*]}"
nix-build "${nixs[@]}" --no-out-link -E "builtins.concatLists (map (s:
		let pkgs = import $stage/nixpkgs { system = s; config = $allow_all; }; in
		map (n: pkgs.\${n}) [ $(printf '"%s" ' "${attrs[@]}")]) [ $(printf '"%s" ' "${systems[@]}")])" \
	--option sandbox true --option extra-sandbox-paths "$(tr '\n' ' ' <"$work/sandbox-paths")" \
	--max-jobs "$(nproc)" --quiet >/dev/null
# The release's Nix of each system, built from the package set's.
for s in "${systems[@]}"; do
	sys_nix[$s]=$(nix-build "${nixs[@]}" "$gen/release.nix" --arg nixpkgs "$stage/nixpkgs" --argstr version "$nix_version" \
		--argstr system "$s" --no-out-link --option sandbox true --option extra-sandbox-paths "$(tr '\n' ' ' <"$work/sandbox-paths")" --quiet)
	if [[ ${sys_nix[$s]} == "${sys_pkgs_nix[$s]}" || $nix_version == "$pkgs_nix_version" ]]; then
		echo "mirror: the release's Nix for $s (${sys_nix[$s]}, $nix_version) must differ from the package set's (${sys_pkgs_nix[$s]}, $pkgs_nix_version)" >&2
		exit 1
	fi
done
nix_path=${sys_nix[$system]}
# The cache holds the release's closure too, as cache.nixos.org holds the
# official releases' store paths.
# shellcheck disable=SC2086 # sys_outs are space-separated store paths
mapfile -t closure < <(for s in "${systems[@]}"; do printf '%s\n' ${sys_outs[$s]} "${sys_nix[$s]}"; done | xargs nix-store "${nixs[@]}" -qR)
# No store path of one system is another's: the closures are disjoint.
for s in "${!foreign_arch[@]}"; do
	# shellcheck disable=SC2086
	shared=$(comm -12 <(nix-store "${nixs[@]}" -qR ${sys_outs[$system]} "$nix_path" | LC_ALL=C sort) \
		<(nix-store "${nixs[@]}" -qR ${sys_outs[$s]} "${sys_nix[$s]}" | LC_ALL=C sort))
	if [[ -n $shared ]]; then
		echo "mirror: store paths of both $system and $s: $shared" >&2
		exit 1
	fi
done

# 3. Binary cache of every out path (the Nix closure is part of it). xz level
# 3: half the CPU time of the default 6 for 10% more bytes.
log "writing the binary cache (${#closure[@]} paths)"
if ! nix "${nixs[@]}" --extra-experimental-features nix-command copy \
	--to "file://$new/cache?secret-key=$work/cache-key.sec&parallel-compression=true&compression-level=3" "${closure[@]}" \
	>"$work/copy.log" 2>&1; then
	cat "$work/copy.log" >&2
	exit 1
fi
cp "$work/cache-key.pub" "$new/cache-key.pub"

# 4. Installer tarball in the official layout, with the official tarball's
# modes (u+rw: the installer, not the tarball, makes the store read-only).
# One tarball per system; the install script names each one's hash.
install_subst=()
for s in "${systems[@]}"; do
	mapfile -t nix_closure < <(nix-store "${nixs[@]}" -qR "${sys_nix[$s]}")
	log "writing the installer tarball for $s (${#nix_closure[@]} paths)"
	tdir=$stage/nix-$nix_version-$s
	mkdir -p "$tdir/store"
	for p in "${nix_closure[@]}"; do
		cp -a "$store$p" "$tdir/store/"
	done
	nix-store "${nixs[@]}" --dump-db "${nix_closure[@]}" >"$tdir/.reginfo"
	sed -e "s|@nix@|${sys_nix[$s]}|g" -e "s|@version@|$nix_version|g" "$gen/tarball-install.sh" >"$tdir/install"
	chmod 0755 "$tdir/install"
	sys_tarball[$s]=nix/nix-$nix_version/nix-$nix_version-$s.tar.xz
	det_tar --mode=u+rw,uga+r -C "$stage" -cf - "nix-$nix_version-$s" | xz -T2 -3 >"$new/${sys_tarball[$s]}"
	sys_sha256[$s]=$(sha256sum "$new/${sys_tarball[$s]}" | cut -d' ' -f1)
	install_subst+=(-e "s|@hash_$s@|${sys_sha256[$s]}|g")
done
tarball=${sys_tarball[$system]}
nix_sha256=${sys_sha256[$system]}
sed "${install_subst[@]}" -e "s|@version@|$nix_version|g" "$gen/install.sh" >"$new/nix/nix-$nix_version/install"
chmod 0755 "$new/nix/nix-$nix_version/install"

# 5. The package set tarball.
det_tar -C "$stage" -cf - nixpkgs | gzip -n -9 >"$new/nixpkgs.tar.gz"
nixpkgs_sha256=$(sha256sum "$new/nixpkgs.tar.gz" | cut -d' ' -f1)
echo "$nixpkgs_sha256" >"$new/nixpkgs.tar.gz.sha256"
# The NAR hash of the unpacked tree (a flake.lock narHash), as Nix computes it
# from the tarball itself.
rm -rf "$work/unpacked" && mkdir "$work/unpacked"
tar -xzf "$new/nixpkgs.tar.gz" -C "$work/unpacked"
nixpkgs_nar_hash=$(nix --extra-experimental-features nix-command hash path --type sha256 --sri "$work/unpacked/nixpkgs")
rm -rf "$work/unpacked"
nixpkgs_files=$(find "$stage/nixpkgs" -type f | wc -l)
nixpkgs_bytes=$(find "$stage/nixpkgs" -type f -printf '%s\n' | awk '{n += $1} END {print n}')

# 5b. The same package set at nixpkgs' real size: the same tree plus
# about 44,000 generated files that nothing evaluates (a pkgs/ and nixos/
# tree, hack/mirror/realsize), so the same derivations and closures. The
# generator writes the tarball in memory on every core and prints the
# tree's file count, bytes and NAR hash (verify.sh checks the hash with
# Nix).
log "writing the real-size package set"
real=$(cd "$repo" && go run ./hack/mirror/realsize -src "$stage/nixpkgs" -out "$new/nixpkgs-real.tar.gz")
read -r real_files real_bytes real_nar_hash <<<"$real"
if ((real_files < 40000 || real_bytes < 200000000)); then
	echo "mirror: the real-size package set has $real_files files, $real_bytes bytes: want at least 40000 and 200 MB" >&2
	exit 1
fi
real_sha256=$(sha256sum "$new/nixpkgs-real.tar.gz" | cut -d' ' -f1)
echo "$real_sha256" >"$new/nixpkgs-real.tar.gz.sha256"

# 6. What the frontend and the tests read.
public_key=$(cat "$work/cache-key.pub")
cat >"$new/mirror.env" <<EOF
# Generated by hack/mirror.sh; paths are relative to this directory.
NIX_VERSION=$nix_version
NIX_SYSTEM=$system
NIX_TARBALL=$tarball
NIX_SHA256=$nix_sha256
NIX_STORE_PATH=$nix_path
NIXPKGS_NIX_VERSION=$pkgs_nix_version
NIXPKGS_NIX_STORE_PATH=$pkgs_nix_path
NIXPKGS_TARBALL=nixpkgs.tar.gz
NIXPKGS_SHA256=$nixpkgs_sha256
NIXPKGS_NAR_HASH=$nixpkgs_nar_hash
NIXPKGS_FILES=$nixpkgs_files
NIXPKGS_BYTES=$nixpkgs_bytes
NIXPKGS_REAL_TARBALL=nixpkgs-real.tar.gz
NIXPKGS_REAL_SHA256=$real_sha256
NIXPKGS_REAL_NAR_HASH=$real_nar_hash
NIXPKGS_REAL_FILES=$real_files
NIXPKGS_REAL_BYTES=$real_bytes
CACHE_DIR=cache
CACHE_PUBLIC_KEY='$public_key'
NIXPKGS_ATTRS='${attrs[*]}'
EOF
systems_env >>"$new/mirror.env"
/usr/bin/python3 - "$new/mirror.json" "${out_paths[@]}" <<EOF
import json, sys
out_paths = dict(a.split("=", 1) for a in sys.argv[2:])
doc = {
    "nixVersion": "$nix_version",
    "nixSystem": "$system",
    "nixTarball": "$tarball",
    "nixSha256": "$nix_sha256",
    "nixStorePath": "$nix_path",
    "nixpkgsNixVersion": "$pkgs_nix_version",
    "nixpkgsNixStorePath": "$pkgs_nix_path",
    "nixpkgsTarball": "nixpkgs.tar.gz",
    "nixpkgsSha256": "$nixpkgs_sha256",
    "nixpkgsNarHash": "$nixpkgs_nar_hash",
    "nixpkgsFiles": $nixpkgs_files,
    "nixpkgsBytes": $nixpkgs_bytes,
    "nixpkgsRealTarball": "nixpkgs-real.tar.gz",
    "nixpkgsRealSha256": "$real_sha256",
    "nixpkgsRealNarHash": "$real_nar_hash",
    "nixpkgsRealFiles": $real_files,
    "nixpkgsRealBytes": $real_bytes,
    "cacheDir": "cache",
    "cachePublicKey": "$public_key",
    "attributes": sorted(out_paths),
    "outPaths": out_paths,
}
with open(sys.argv[1], "w") as f:
    json.dump(doc, f, indent=2, sort_keys=True)
    f.write("\n")
EOF
systems_json "$new/mirror.json"

echo "$want" >"$new/.stamp"
rm -rf "$out"
mv "$new" "$out"
rm -rf "$stage"
log "done: $out"
