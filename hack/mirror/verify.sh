#!/usr/bin/env bash
# Checks a generated mirror (hack/mirror.sh) the way the frontend uses it:
# inside a BuildKit build FROM scratch that holds only the installer
# tarball's store, the relocated Nix registers itself, builds a derivation,
# installs packages of the set by substituting them from the binary cache
# over loopback HTTP, and verifies its store; the release's Nix must be
# another store path and version than the package set's `nix`. Before
# that, on the host: the real-size package set (nixpkgs-real.tar.gz) has
# the sha256, NAR hash (as Nix computes it), file count and bytes that
# mirror.env says and evaluates to the small one's out paths.
#
# The aarch64-linux world is checked the same way on this x86_64 machine,
# with qemu-user (hack/qemu.sh) run directly, without binfmt: inside a
# second build FROM scratch that holds the aarch64 installer tarball's
# store, the aarch64 Nix registers itself, says its version and system,
# installs packages from the cache (only the user environment is built; Nix
# execs nothing for it), `hello` and the package set's nix run, every ELF
# file of the installed closure is an aarch64 one, and the store verifies.
# No out path of one system is the other's.
#
#   hack/mirror/verify.sh [OUTDIR]      (default: out/mirror)
#
# Starts its own buildkitd (bin/buildkitd, runc) and a static HTTP server on
# free 127.0.0.1 ports and temp dirs, and stops both when done.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
mirror=$(realpath "${1:-$repo/out/mirror}")
# shellcheck source=/dev/null
. "$mirror/mirror.env"

tmp=$(mktemp -d /tmp/mirror-verify.XXXXXX)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do
		if kill "$p" 2>/dev/null; then wait "$p" 2>/dev/null || true; fi
	done
	rm -rf "$tmp"
}
trap cleanup EXIT

# The real-size package set: what mirror.env says, and the same package set.
real=$tmp/real
mkdir -p "$real"
[[ $(sha256sum "$mirror/$NIXPKGS_REAL_TARBALL" | cut -d' ' -f1) == "$NIXPKGS_REAL_SHA256" ]] || {
	echo "mirror verify: $NIXPKGS_REAL_TARBALL does not have the sha256 of mirror.env" >&2
	exit 1
}
tar -xzf "$mirror/$NIXPKGS_REAL_TARBALL" -C "$real"
got=$(nix --extra-experimental-features nix-command hash path --type sha256 --sri "$real/nixpkgs")
files=$(find "$real/nixpkgs" -type f | wc -l)
bytes=$(find "$real/nixpkgs" -type f -printf '%s\n' | awk '{n += $1} END {print n}')
if [[ $got != "$NIXPKGS_REAL_NAR_HASH" || $files != "$NIXPKGS_REAL_FILES" || $bytes != "$NIXPKGS_REAL_BYTES" ]]; then
	echo "mirror verify: $NIXPKGS_REAL_TARBALL unpacks to $got, $files files, $bytes bytes; mirror.env says $NIXPKGS_REAL_NAR_HASH, $NIXPKGS_REAL_FILES, $NIXPKGS_REAL_BYTES" >&2
	exit 1
fi
tar -xzf "$mirror/$NIXPKGS_TARBALL" -C "$tmp"
attrs=$(printf '"%s" ' $NIXPKGS_ATTRS)
out_paths() {
	nix-instantiate --store "$tmp/eval-store" --option substituters '' --option build-users-group '' --readonly-mode --eval --strict --json -E "
		let pkgs = import $1 { config = { allowUnfree = true; allowBroken = true; permittedInsecurePackages = [ \"hello-insecure-1.0\" ]; }; }; in
		map (n: pkgs.\${n}.outPath) [ $attrs ]"
}
if [[ $(out_paths "$tmp/nixpkgs") != "$(out_paths "$real/nixpkgs")" ]]; then
	echo "mirror verify: $NIXPKGS_REAL_TARBALL evaluates to other out paths than $NIXPKGS_TARBALL" >&2
	exit 1
fi
echo "real-size package set: $files files, $bytes bytes, $(stat -c %s "$mirror/$NIXPKGS_REAL_TARBALL") bytes compressed, same out paths"
chmod -R u+w "$tmp/eval-store" 2>/dev/null || true
rm -rf "$real" "$tmp/nixpkgs" "$tmp/eval-store"

free_port() {
	/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The cache over HTTP.
port=$(free_port)
/usr/bin/python3 -m http.server --bind 127.0.0.1 --directory "$mirror/$CACHE_DIR" "$port" >"$tmp/http.log" 2>&1 &
pids+=($!)

# Our own buildkitd.
mkdir -p "$tmp/bk"
cat >"$tmp/bk/buildkitd.toml" <<EOF
[worker.oci]
  enabled = true
  snapshotter = "overlayfs"
[worker.containerd]
  enabled = false
EOF
sock=unix://$tmp/bk/buildkitd.sock
setsid "$repo/bin/buildkitd" --config "$tmp/bk/buildkitd.toml" --root "$tmp/bk/root" --addr "$sock" \
	--oci-worker-net=host >"$tmp/buildkitd.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
	"$repo/bin/buildctl" --addr "$sock" debug workers >/dev/null 2>&1 && break
	sleep 0.2
done
for _ in $(seq 50); do
	curl -fsS "http://127.0.0.1:$port/nix-cache-info" >/dev/null 2>&1 && break
	sleep 0.2
done
curl -fsS "http://127.0.0.1:$port/nix-cache-info" >/dev/null

# Build context: the unpacked installer tarball and package set.
ctx=$tmp/ctx
mkdir -p "$ctx/tmp" "$ctx/etc/nix"
tar -xJf "$mirror/$NIX_TARBALL" -C "$ctx"
tar -xzf "$mirror/$NIXPKGS_TARBALL" -C "$ctx"
unpacked=$ctx/nix-$NIX_VERSION-$NIX_SYSTEM
bash=$(find "$unpacked/store" -maxdepth 1 -name '*-bash-*' | head -1)
bash=/nix/store/${bash##*/}/bin/bash
nix=$NIX_STORE_PATH/bin
cat >"$ctx/etc/nix/nix.conf" <<EOF
build-users-group =
sandbox = false
substituters = http://127.0.0.1:$port
trusted-public-keys = $CACHE_PUBLIC_KEY
EOF
# /bin/sh as in an image (git runs its helpers through it).
mkdir -p "$ctx/bin"
ln -s "$bash" "$ctx/bin/sh"
# The accounts an image has (ssh and sshd look themselves up).
printf 'root:x:0:0:root:/root:%s\nsshd:x:74:65534::/var/empty:/bin/false\nnobody:x:65534:65534::/var/empty:/bin/false\n' "$bash" >"$ctx/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$ctx/etc/group"
cat >"$ctx/t.nix" <<EOF
derivation { name = "t"; system = builtins.currentSystem; builder = "$bash"; args = [ "-c" "echo ok > \$out" ]; }
EOF
run() { printf 'RUN ["%s", "-euc", "%s"]\n' "$bash" "$1"; }
{
	echo "FROM scratch"
	echo "COPY nix-$NIX_VERSION-$NIX_SYSTEM/store /nix/store"
	echo "COPY nix-$NIX_VERSION-$NIX_SYSTEM/.reginfo /reginfo"
	echo "COPY tmp /tmp"
	echo "COPY etc /etc"
	echo "COPY bin /bin"
	echo "COPY nixpkgs /nixpkgs"
	echo "COPY t.nix /t.nix"
	# Later steps use the tools the earlier ones installed.
	echo "ENV PATH=/tmp/p/bin:/tmp/d/bin:$nix HOME=/tmp USER=root"
	run "nix-store --load-db < /reginfo; nix --version; mapfile -t c < <(nix-store -qR $NIX_STORE_PATH); echo nix-closure-paths: \${#c[@]}"
	# (b) a derivation builds with only the Nix closure.
	run "out=\$(nix-build /t.nix --no-out-link); read -r r < \$out; echo nix-build: \$r; [ \$r = ok ]"
	# (a) packages come from the cache; only the user environment is built.
	run "nix-env -p /tmp/p -f /nixpkgs -iA bash coreutils nix hello curl jq git >/tmp/log 2>&1 || { while read -r l; do echo \$l; done </tmp/log; exit 1; }; cat /tmp/log; while read -r l; do case \$l in 'building '*user-environment*) ;; 'building '*) echo unexpected build; exit 1 ;; esac; done </tmp/log; hello; curl --version | head -1; git --version; jq --version"
	# The whole default image list, and its closure size.
	run "nix-env -p /tmp/d -f /nixpkgs -iA nix bashInteractive coreutils shadow cacert curl findutils git gnugrep gnused gnutar gzip jq less procps vim which xz man openssh sqlite >/dev/null 2>&1; echo default-closure-paths: \$(nix-store -qR /tmp/d | wc -l); echo default-closure-bytes: \$(nix-store -qR /tmp/d | xargs du -scb | tail -1); echo a-closure-paths: \$(nix-store -qR /tmp/p | wc -l); ssh -V; sshd -V 2>&1 | head -1 || true; sqlite3 --version; vim --version | head -1; useradd --help | head -1; grep --version | head -1; sed --version | head -1; tar --version | head -1; find --version | head -1; ps --version; which which; xz --version | head -1; less --version | head -1; gzip --version | head -1; ls /tmp/d/etc/ssl/certs; man -w ls; MANPAGER=cat man ls | head -5; cd /tmp; git init -q r; git -C r -c user.email=a@b -c user.name=n commit -q --allow-empty -m first; git clone -q /tmp/r /tmp/r2; git -C /tmp/r2 log --oneline; ssh-keygen -q -t ed25519 -N '' -f /tmp/k; cat /tmp/k.pub | cut -c1-20; nix-env -f /nixpkgs -qaP | wc -l; nix-instantiate --eval -E '(import /nixpkgs { }).hello.name'; nix-instantiate --eval -E '(import /nixpkgs { }).bashInteractive == (import /nixpkgs { }).bash'"
	# Derivations made with the set's stdenv build in the image; nix-shell -p works.
	run "out=\$(nix-build --no-out-link -E 'with import /nixpkgs { }; runCommand \\\"greeting\\\" { buildInputs = [ hello ]; } \\\"hello | tr a-z A-Z > \$out\\\"'); cat \$out; nix-shell -I nixpkgs=/nixpkgs -p hello jq --run 'hello; jq --version; curl --version | head -1'"
	# Terminal descriptions, for an image's TERMINFO_DIRS.
	run "nix-env -p /tmp/n -f /nixpkgs -iA ncurses >/dev/null 2>&1; c=\$(TERMINFO_DIRS=/tmp/n/share/terminfo TERM=xterm-256color /tmp/n/bin/tput colors); echo xterm-256color colors: \$c; [ \$c = 256 ]"
	# The release's Nix is not the package set's: another path and version.
	run "[ \$($NIX_STORE_PATH/bin/nix --version | cut -d' ' -f3) = $NIX_VERSION ]; nix-instantiate --eval -E '(import /nixpkgs { }).nix.outPath' | grep -qF $NIXPKGS_NIX_STORE_PATH; nix-env -p /tmp/n0 -f /nixpkgs -iA nix >/tmp/log 2>&1 || { cat /tmp/log; exit 1; }; echo package set: \$(/tmp/n0/bin/nix --version); [ \$(/tmp/n0/bin/nix --version | cut -d' ' -f3) = $NIXPKGS_NIX_VERSION ]; nix-store -qR /tmp/n0 | grep -qx $NIXPKGS_NIX_STORE_PATH; ! nix-store -qR /tmp/n0 | grep -qx $NIX_STORE_PATH; echo release-differs: ok"
	# (c) the store is consistent.
	run "nix-store --verify --check-contents 2>&1 | tee /tmp/verify; if grep -Ei 'modified|invalid|corrupt|error' /tmp/verify; then exit 1; fi; echo verify: clean"
} >"$ctx/Dockerfile"

"$repo/bin/buildctl" --addr "$sock" build --frontend dockerfile.v0 --local context="$ctx" --local dockerfile="$ctx" \
	--progress plain --no-cache >"$tmp/build.log" 2>&1 || {
	cat "$tmp/build.log"
	echo "mirror verify: FAILED" >&2
	exit 1
}
grep -E '^#[0-9]+ [0-9.]+ ' "$tmp/build.log" | sed 's/^#[0-9]* [0-9.]* //'
grep -q 'verify: clean' "$tmp/build.log"
grep -q 'release-differs: ok' "$tmp/build.log"
echo "mirror verify: x86_64-linux OK (${SECONDS}s)"
SECONDS=0

# --- aarch64-linux, under qemu-user without binfmt ---
/usr/bin/python3 - "$mirror/mirror.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
paths = {}
for s, d in doc["systems"].items():
    paths[s] = set(d["outPaths"].values()) | {d["nixStorePath"], d["nixpkgsNixStorePath"]}
    if set(d["outPaths"]) != set(doc["attributes"]):
        sys.exit(f"mirror verify: the attributes for {s} are not the set's")
shared = paths["x86_64-linux"] & paths["aarch64-linux"]
if shared:
    sys.exit(f"mirror verify: out paths of both systems: {sorted(shared)}")
print(f"out paths: {len(paths['aarch64-linux'])} for aarch64-linux, none of them x86_64-linux's")
PY
hello64=$(/usr/bin/python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["systems"]["aarch64-linux"]["outPaths"]["hello"])' "$mirror/mirror.json")
qemu=$("$repo/hack/qemu.sh")
ctx=$tmp/ctx64
mkdir -p "$ctx/tmp" "$ctx/qemu" "$ctx/steps"
cp -a "$tmp/ctx/etc" "$ctx/etc"
tar -xJf "$mirror/$NIX_TARBALL_AARCH64_LINUX" -C "$ctx"
tar -xzf "$mirror/$NIXPKGS_TARBALL" -C "$ctx"
cp "$qemu" "$ctx/qemu/qemu-aarch64-static"
cp /bin/busybox "$ctx/busybox"
# Step scripts for busybox sh (an x86_64 static program, as the emulator);
# every aarch64 program runs as `$Q [-0 ARGV0] PROGRAM`: with no binfmt,
# no aarch64 program may exec another, so the Nix commands are the real
# binary named by argv[0] (`-0 nix-env`), not the bash wrappers.
cat >"$ctx/steps/common.sh" <<EOF
Q=/qemu/qemu-aarch64-static
N=$NIX_STORE_PATH_AARCH64_LINUX/libexec/nix/nix
nix() { n=\$1; shift; \$Q -0 "\$n" \$N "\$@"; }
EOF
cat >"$ctx/steps/1.sh" <<EOF
. /steps/common.sh
nix nix-store --load-db </reginfo
v=\$(nix nix --version); echo "aarch64 release: \$v"; [ "\$v" = "nix (Nix) $NIX_VERSION" ]
s=\$(nix nix-instantiate --eval -E builtins.currentSystem); echo "currentSystem: \$s"; [ "\$s" = '"aarch64-linux"' ]
EOF
cat >"$ctx/steps/2.sh" <<EOF
. /steps/common.sh
nix nix-env -p /tmp/p -f /nixpkgs -iA hello bash coreutils nix >/tmp/log 2>&1 || { cat /tmp/log; exit 1; }
while read -r l; do case \$l in 'building '*user-environment*) ;; 'building '*) echo "unexpected build: \$l"; exit 1 ;; esac; done </tmp/log
echo "aarch64 substituted: \$(/busybox grep -c '^copying path' /tmp/log) paths"
\$Q /tmp/p/bin/hello
nix nix-store -qR /tmp/p | /busybox grep -qx $hello64
v=\$(\$Q /tmp/p/libexec/nix/nix --version); echo "aarch64 package set: \$v"; [ "\$v" = "nix (Nix) $NIXPKGS_NIX_VERSION" ]
nix nix-store -qR /tmp/p | /busybox grep -qx $NIXPKGS_NIX_STORE_PATH_AARCH64_LINUX
\$Q /tmp/p/bin/bash -c 'echo "aarch64 bash \$BASH_VERSION"'
\$Q /tmp/p/bin/ls /nixpkgs/manifests
EOF
cat >"$ctx/steps/3.sh" <<EOF
. /steps/common.sh
n=0
for f in \$(for p in \$(nix nix-store -qR /tmp/p $NIX_STORE_PATH_AARCH64_LINUX); do /busybox find "\$p" -type f; done); do
	h=\$(/busybox od -An -tx1 -N20 "\$f" | /busybox tr -d ' \n')
	case \$h in
	7f454c46*)
		[ "\${h:36:4}" = b700 ] || { echo "not an aarch64 ELF file: \$f (e_machine \${h:36:4})"; exit 1; }
		n=\$((n + 1))
		;;
	esac
done
echo "aarch64 ELF files: \$n"
[ \$n -gt 50 ]
EOF
cat >"$ctx/steps/4.sh" <<EOF
. /steps/common.sh
nix nix-store --verify --check-contents >/tmp/verify 2>&1
/busybox cat /tmp/verify
if /busybox grep -Ei 'modified|invalid|corrupt|error' /tmp/verify; then exit 1; fi
echo "aarch64 verify: clean"
EOF
{
	echo "FROM scratch"
	echo "COPY nix-$NIX_VERSION-aarch64-linux/store /nix/store"
	echo "COPY nix-$NIX_VERSION-aarch64-linux/.reginfo /reginfo"
	echo "COPY etc /etc"
	echo "COPY tmp /tmp"
	echo "COPY nixpkgs /nixpkgs"
	echo "COPY qemu /qemu"
	echo "COPY busybox /busybox"
	echo "COPY steps /steps"
	echo "ENV HOME=/tmp USER=root"
	for i in 1 2 3 4; do echo "RUN [\"/busybox\", \"sh\", \"-eu\", \"/steps/$i.sh\"]"; done
} >"$ctx/Dockerfile"
"$repo/bin/buildctl" --addr "$sock" build --frontend dockerfile.v0 --local context="$ctx" --local dockerfile="$ctx" \
	--progress plain --no-cache >"$tmp/build64.log" 2>&1 || {
	cat "$tmp/build64.log"
	echo "mirror verify: aarch64-linux FAILED" >&2
	exit 1
}
grep -E '^#[0-9]+ [0-9.]+ ' "$tmp/build64.log" | sed 's/^#[0-9]* [0-9.]* //'
grep -q 'aarch64 verify: clean' "$tmp/build64.log"
echo "mirror verify: aarch64-linux OK (${SECONDS}s)"
echo "mirror verify: OK"
