#!/usr/bin/env bash
# Generates the offline Nix world the tests use instead of releases.nixos.org,
# a nixpkgs tarball and cache.nixos.org (see "Offline Nix mirror" in
# hack/README.md):
#
#   hack/mirror.sh [OUTDIR]      (default: out/mirror in the repository)
#
# OUTDIR gets nix/nix-2.8.1/{install,nix-2.8.1-x86_64-linux.tar.xz},
# nixpkgs.tar.gz(.sha256) and nixpkgs-real.tar.gz(.sha256) (the same
# package set, the second padded to nixpkgs' real size), cache/ (signed
# binary cache), cache-key.pub, mirror.env and mirror.json. Work files (a
# chroot Nix store, rebuilt on every generation, and the cache's signing
# key, made once) live in OUTDIR-work. A run whose inputs (generator files,
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
	} | sha256sum | cut -d' ' -f1
}

# Deterministic tar: sorted, fixed owners and times.
det_tar() {
	tar --sort=name --mtime=@1 --owner=0 --group=0 --numeric-owner --format=gnu "$@"
}

install_packages
# One generation at a time per OUTDIR (tests may start several at once); a
# run that waited sees the stamp the other one wrote.
mkdir -p "$work"
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
/usr/bin/python3 "$gen/gen.py" "$stage/nixpkgs/manifest.nix" "$work/sandbox-paths"
chmod 0644 "$stage/nixpkgs/manifest.nix"
# attribute=out path, one a line (the top-level derivations of the set)
mapfile -t out_paths < <(nix-instantiate "${nixs[@]}" --eval --strict --json --readonly-mode -E "
	let pkgs = import $stage/nixpkgs { config = $allow_all; }; in
	map (n: n + \"=\" + pkgs.\${n}.outPath)
		(builtins.filter (n: n != \"glibc\" && (pkgs.\${n}.type or null) == \"derivation\") (builtins.attrNames pkgs))" |
	/usr/bin/python3 -c 'import json, sys; print("\n".join(json.load(sys.stdin)))')
attrs=("${out_paths[@]%%=*}")
outs=("${out_paths[@]#*=}")
pkgs_nix_path=$(printf '%s\n' "${out_paths[@]}" | sed -n 's/^nix=//p')
pkgs_nix_version=$(nix-instantiate "${nixs[@]}" --eval --readonly-mode -E "(import $stage/nixpkgs { }).nix.version" | tr -d '"')

# 2. Build every package in the chroot store, sandboxed with the host
# directories the builders copy from.
log "building ${#attrs[@]} packages"
build_args=()
for a in "${attrs[@]}"; do build_args+=(-A "$a"); done
nix-build "${nixs[@]}" "$stage/nixpkgs" --arg config "$allow_all" "${build_args[@]}" --no-out-link \
	--option sandbox true --option extra-sandbox-paths "$(tr '\n' ' ' <"$work/sandbox-paths")" \
	--max-jobs "$(nproc)" --quiet >/dev/null
# The release's Nix, built from the package set's.
nix_path=$(nix-build "${nixs[@]}" "$gen/release.nix" --arg nixpkgs "$stage/nixpkgs" --argstr version "$nix_version" \
	--no-out-link --option sandbox true --option extra-sandbox-paths "$(tr '\n' ' ' <"$work/sandbox-paths")" --quiet)
if [[ $nix_path == "$pkgs_nix_path" || $nix_version == "$pkgs_nix_version" ]]; then
	echo "mirror: the release's Nix ($nix_path, $nix_version) must differ from the package set's ($pkgs_nix_path, $pkgs_nix_version)" >&2
	exit 1
fi
# The cache holds the release's closure too, as cache.nixos.org holds the
# official releases' store paths.
mapfile -t closure < <(nix-store "${nixs[@]}" -qR "${outs[@]}" "$nix_path")
mapfile -t nix_closure < <(nix-store "${nixs[@]}" -qR "$nix_path")

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
log "writing the installer tarball (${#nix_closure[@]} paths)"
tdir=$stage/nix-$nix_version-$system
mkdir -p "$tdir/store"
for p in "${nix_closure[@]}"; do
	cp -a "$store$p" "$tdir/store/"
done
nix-store "${nixs[@]}" --dump-db "${nix_closure[@]}" >"$tdir/.reginfo"
sed -e "s|@nix@|$nix_path|g" -e "s|@version@|$nix_version|g" "$gen/tarball-install.sh" >"$tdir/install"
chmod 0755 "$tdir/install"
tarball=nix/nix-$nix_version/nix-$nix_version-$system.tar.xz
det_tar --mode=u+rw,uga+r -C "$stage" -cf - "nix-$nix_version-$system" | xz -T2 -3 >"$new/$tarball"
nix_sha256=$(sha256sum "$new/$tarball" | cut -d' ' -f1)
sed -e "s|@hash@|$nix_sha256|g" -e "s|@version@|$nix_version|g" -e "s|@system@|$system|g" \
	"$gen/install.sh" >"$new/nix/nix-$nix_version/install"
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

echo "$want" >"$new/.stamp"
rm -rf "$out"
mv "$new" "$out"
rm -rf "$stage"
log "done: $out"
