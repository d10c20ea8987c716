#!/usr/bin/env bash
# The whole product on this machine, from scratch: starts the local stack
# (buildkitd + registry on 127.0.0.1:5000, hack/stack.sh), generates the
# offline Nix mirror (hack/mirror.sh), pushes the frontend image, and builds
# examples/default/nix-image.yaml through `# syntax=` into
# out/default.oci.tar. The example is not edited: build args point it at the
# frontend under test (BUILDKIT_SYNTAX) and at the mirror, served on
# loopback for the duration of the build.
#
#   hack/demo.sh          (make demo)
#   hack/demo.sh stop     stops the mirror's HTTP server and the stack
#
# The mirror's HTTP server keeps running after the build, like the stack: the
# image's nix.conf names it as its substituter, so `nix-env -iA` inside the
# image substitutes from it.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
state=${NIX_IMAGE_STACK:-/tmp/nix-image-stack}
export BUILDKIT_HOST=unix://$state/buildkitd.sock
frontend=127.0.0.1:5000/nix-image/frontend:dev
mirror_port=${MIRROR_PORT:-5080}
out=$root/out/default.oci.tar

log() { echo "demo: $*" >&2; }

stop_mirror() {
	local f=$state/mirror-http.pid
	if [[ -f $f ]]; then
		kill "$(<"$f")" 2>/dev/null || true
		rm -f "$f"
	fi
}

if [[ ${1:-} == stop ]]; then
	stop_mirror
	hack/stack.sh stop
	exit 0
fi

hack/install-deps.sh
hack/build-tools.sh
hack/stack.sh start
hack/mirror.sh "$root/out/mirror"
hack/push-frontend.sh "$frontend"

stop_mirror
setsid python3 -m http.server --bind 127.0.0.1 --directory "$root/out/mirror" "$mirror_port" >"$state/mirror-http.log" 2>&1 &
echo $! >"$state/mirror-http.pid"
for _ in $(seq 50); do
	(exec 3<>"/dev/tcp/127.0.0.1/$mirror_port") 2>/dev/null && break
	sleep 0.1
done

# shellcheck source=/dev/null
source "$root/out/mirror/mirror.env"
url=http://127.0.0.1:$mirror_port
log "building examples/default/nix-image.yaml (Nix $NIX_VERSION from the offline mirror at $url)"
bin/buildctl build \
	--frontend dockerfile.v0 \
	--local context="$root/examples/default" \
	--local dockerfile="$root/examples/default" \
	--opt filename=nix-image.yaml \
	--opt build-arg:BUILDKIT_SYNTAX="$frontend" \
	--opt build-arg:NIX_VERSION="$NIX_VERSION" \
	--opt build-arg:NIX_RELEASES="$url/nix" \
	--opt build-arg:NIXPKGS_URL="$url/$NIXPKGS_TARBALL" \
	--opt build-arg:NIXPKGS_SHA256="$NIXPKGS_SHA256" \
	--opt build-arg:SUBSTITUTERS="$url/cache" \
	--opt build-arg:TRUSTED_PUBLIC_KEYS="$CACHE_PUBLIC_KEY" \
	--output "type=oci,dest=$out"

cat <<EOT

Built $out (an OCI layout tar). Use it with any OCI tool, e.g.

  podman --runtime runc run --rm -it --network host oci-archive:$out
  skopeo copy oci-archive:$out docker-daemon:me/nix:latest

(on this kind of machine podman also needs --ulimit nofile=1024:1024
--ulimit nproc=1024:1024). Inside, nix-env -iA nixpkgs.hello substitutes from
the mirror, which keeps running with the stack for more builds
(export BUILDKIT_HOST=$BUILDKIT_HOST). Stop both with: hack/demo.sh stop
EOT
