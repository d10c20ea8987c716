#!/usr/bin/env bash
# The whole product on this machine, from scratch: starts the local stack
# (buildkitd + registry on $NIX_IMAGE_REGISTRY, default 127.0.0.1:5000,
# hack/stack.sh), generates the offline Nix mirror (hack/mirror.sh), pushes
# the frontend image, and builds examples/default/nix-image.yaml through
# `# syntax=` into out/default.oci.tar. The example is not edited: build
# args point it at the frontend under test (BUILDKIT_SYNTAX) and at the
# mirror, served on loopback for the duration of the build.
#
#   hack/demo.sh          (make demo)
#   hack/demo.sh ssh      the same for examples/ssh, target ssh, into
#                         out/ssh.oci.tar (make remote-builder)
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
frontend=${NIX_IMAGE_REGISTRY:-127.0.0.1:5000}/nix-image/frontend:dev
mirror_port=${MIRROR_PORT:-5080}
example=default
target=()

log() { echo "demo: $*" >&2; }

stop_mirror() {
	local f=$state/mirror-http.pid
	if [[ -f $f ]]; then
		kill "$(<"$f")" 2>/dev/null || true
		rm -f "$f"
	fi
}

case ${1:-} in
stop)
	stop_mirror
	hack/stack.sh stop
	exit 0
	;;
ssh)
	example=ssh
	target=(--opt target=ssh)
	;;
"") ;;
*)
	echo "usage: hack/demo.sh [ssh|stop]" >&2
	exit 2
	;;
esac
out=$root/out/$example.oci.tar

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
log "building examples/$example/nix-image.yaml (Nix $NIX_VERSION from the offline mirror at $url)"
bin/buildctl build \
	--frontend dockerfile.v0 \
	--local context="$root/examples/$example" \
	--local dockerfile="$root/examples/$example" \
	--opt filename=nix-image.yaml \
	"${target[@]}" \
	--opt build-arg:BUILDKIT_SYNTAX="$frontend" \
	--opt build-arg:NIX_VERSION="$NIX_VERSION" \
	--opt build-arg:NIX_RELEASES="$url/nix" \
	--opt build-arg:NIXPKGS_URL="$url/$NIXPKGS_TARBALL" \
	--opt build-arg:NIXPKGS_SHA256="$NIXPKGS_SHA256" \
	--opt build-arg:SUBSTITUTERS="$url/cache" \
	--opt build-arg:TRUSTED_PUBLIC_KEYS="$CACHE_PUBLIC_KEY" \
	--output "type=oci,dest=$out"

if [[ $example == ssh ]]; then
	log "built $out"
	exit 0
fi
cat <<EOT

Built $out (an OCI layout tar). Open a shell in it (runc, as docker run
--rm -it --network host would):

  make shell

Inside, nix-env -iA nixpkgs.hello substitutes from the mirror, which keeps
running with the stack for more builds (export BUILDKIT_HOST=$BUILDKIT_HOST).
make remote-builder builds the ssh image and runs it as a remote builder for
this machine's Nix. Stop the stack and the mirror with: hack/demo.sh stop
The tar works with any OCI tool too (skopeo copy oci-archive:$out ...).
EOT
