#!/usr/bin/env bash
# Puts qemu-user's aarch64 emulator into OUTDIR, for tests that run a
# finished arm64 image (never for a build):
#
#   hack/qemu.sh [OUTDIR]      (default: out/qemu in the repository)
#
# OUTDIR gets qemu-aarch64-static and aarch64-binfmt-P (a link to it: the
# name under which Debian's qemu takes binfmt_misc's P flag, argv[0]
# preserved). Prints the path of qemu-aarch64-static.
#
# The emulator is taken out of Debian's qemu-user-static .deb (apt-get
# download, dpkg-deb), not installed: installing it with binfmt-support
# enables every packaged binary format in the kernel for the whole machine
# (binfmt-support's postinst and init script) and puts qemu-*-static on
# PATH, while the tests must show that a build had no emulator in reach.
# internal/testenv registers it in binfmt_misc only around a run
# (EnableBinfmt) and checks that nothing is registered during builds
# (RequireNoEmulation). hack/mirror/verify.sh runs it directly, without
# binfmt. Returns at once when OUTDIR has it.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$(realpath -m "${1:-$repo/out/qemu}")
qemu=$out/qemu-aarch64-static

if [[ -x $qemu && -L $out/aarch64-binfmt-P ]]; then
	echo "$qemu"
	exit 0
fi
mkdir -p "$out"
exec 9>"$out/.lock"
flock 9
if [[ ! -x $qemu ]]; then
	tmp=$(mktemp -d "$out/.tmp.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	(cd "$tmp" && apt-get download -qq qemu-user-static) 2>&1 | { grep -v '^W: Download is performed unsandboxed' || true; } >&2
	deb=$(echo "$tmp"/qemu-user-static_*.deb)
	[[ -f $deb ]] || {
		echo "qemu.sh: apt-get download qemu-user-static failed" >&2
		exit 1
	}
	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" ./usr/bin/qemu-aarch64-static
	mv "$tmp/usr/bin/qemu-aarch64-static" "$qemu.new"
	mv "$qemu.new" "$qemu"
fi
ln -sfn qemu-aarch64-static "$out/aarch64-binfmt-P"
echo "$qemu"
