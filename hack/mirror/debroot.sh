#!/usr/bin/env bash
# Makes the Debian tree of another architecture that the offline package set
# of that system copies its files from (hack/mirror.sh, gen.py): downloads the
# packages' .debs with `apt-get download` (kept in CACHE, fetched again only
# when apt's candidate changes), unpacks them with `dpkg-deb -x` (nothing is
# installed, no maintainer script and no program of the tree runs), merges
# /bin, /sbin and /lib into /usr as Debian 12 lays them out, and writes the
# tree's own dpkg database (var/lib/dpkg/status and info/PKG.list) for gen.py.
#
#   hack/mirror/debroot.sh ARCH PACKAGES CACHE ROOT
#
# PACKAGES is a file with one Debian package name a line (the host's
# packages the x86_64 set copies from, gen.py's OUT_DEBS); packages of
# Architecture `all` are taken as they are, the others as NAME:ARCH. ROOT is
# made anew. The architecture must be configured (`dpkg --add-architecture`,
# `apt-get update`: hack/mirror.sh does it).
set -euo pipefail

arch=$1
list=$2
cache=$3
root=$4

log() { echo "debroot: $*" >&2; }

wanted=()
# shellcheck disable=SC2016 # dpkg-query's format
while read -r p a; do
	if [[ $a == all ]]; then wanted+=("$p"); else wanted+=("$p:$arch"); fi
done < <(xargs dpkg-query -W -f='${Package} ${Architecture}\n' <"$list" | LC_ALL=C sort -u)
# Some libraries exist for one architecture only (libcpuid: x86): those are
# left out, and gen.py fails if a program of the tree needs them.
declare -A have=()
while read -r p; do have[$p]=1; done < <(apt-cache show --no-all-versions "${wanted[@]}" 2>/dev/null | sed -n 's/^Package: //p')
names=()
for p in "${wanted[@]}"; do
	if [[ -n ${have[${p%:*}]:-} ]]; then names+=("$p"); else log "no $p in apt's lists: left out"; fi
done

# 'URL' FILE SIZE SHA256:HEX, one a package.
mkdir -p "$cache"
uris=$(apt-get download --print-uris "${names[@]}")
debs=()
missing=()
while read -r _ file _ sum; do
	debs+=("$cache/$file")
	if [[ ! -f $cache/$file ]] || ! echo "${sum#SHA256:}  $cache/$file" | sha256sum -c --status -; then
		missing+=("${file%%_*}:$(sed 's/.*_//; s/\.deb$//' <<<"$file")")
	fi
done <<<"$uris"
if ((${#missing[@]} > 0)); then
	log "downloading ${#missing[@]} of ${#debs[@]} packages for $arch"
	# apt-get download names the file after the package; a stale file of an
	# older version is replaced.
	(cd "$cache" && apt-get download -qq "${missing[@]}") 2>&1 | { grep -v '^W: Download is performed unsandboxed' || true; } >&2
	for d in "${debs[@]}"; do
		[[ -f $d ]] || {
			log "download of $d failed"
			exit 1
		}
	done
fi
# Old versions of the same packages.
declare -A keep=()
for d in "${debs[@]}"; do keep[${d##*/}]=1; done
for f in "$cache"/*.deb; do
	[[ -e $f && -z ${keep[${f##*/}]:-} ]] && rm -f "$f"
done

# The same .debs as the last time: the tree is still right.
sums=$(cd "$cache" && sha256sum "${debs[@]##*/}" /etc/ssl/certs/ca-certificates.crt "$0")
if [[ -f $root/.debroot && $(cat "$root/.debroot") == "$sums" ]]; then
	log "$root is up to date"
	exit 0
fi
chmod -R u+w "$root" 2>/dev/null || true
rm -rf "$root"
db=$root/var/lib/dpkg
mkdir -p "$db/info"
: >"$db/status"
for d in "${debs[@]}"; do
	pkg=$(dpkg-deb -f "$d" Package)
	# dpkg-deb -X lists what it unpacks (./usr/bin/bash); the .list file
	# has dpkg's form (/., /usr/bin/bash).
	dpkg-deb -X "$d" "$root" | sed -e 's|^\./$|/.|' -e 's|^\.||' -e 's|/$||' >"$db/info/$pkg.list"
	{
		dpkg-deb -f "$d" Package Version Architecture Multi-Arch Maintainer Description
		printf 'Status: install ok installed\n\n'
	} >>"$db/status"
done
# Debian 12's merged /usr: /bin, /sbin and /lib are links into /usr (the
# packages still ship files in both).
for d in bin sbin lib; do
	if [[ -d $root/$d && ! -L $root/$d ]]; then
		mkdir -p "$root/usr/$d"
		cp -a "$root/$d/." "$root/usr/$d/"
		rm -rf "${root:?}/$d"
	fi
	ln -sfn "usr/$d" "$root/$d"
done
# Documentation is no part of the package set (17 MB; git's holds Go
# sources, which mirror.sh's go.mod of the work directory keeps out of the
# repository's ./...).
rm -rf "${root:?}/usr/share/doc"
# The CA bundle is no file of a package: update-ca-certificates writes it
# from ca-certificates (Architecture: all) when that is installed. Take the
# host's, which is the same.
install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
echo "$sums" >"$root/.debroot"
log "unpacked ${#debs[@]} packages for $arch into $root"
