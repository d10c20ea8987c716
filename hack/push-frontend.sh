#!/usr/bin/env bash
# Builds bin/nix-image-frontend on the host and pushes the frontend image
# (Dockerfile target `prebuilt`) through the daemon at $BUILDKIT_HOST
# (default: the one hack/stack.sh starts).
#
#   hack/push-frontend.sh [REF]    # default $NIX_IMAGE_REGISTRY/nix-image/frontend:dev
#                                  # (NIX_IMAGE_REGISTRY as for hack/stack.sh)
#
# Then use `# syntax=REF` as the first line of a nix-image.yaml.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ref=${1:-${NIX_IMAGE_REGISTRY:-127.0.0.1:5000}/nix-image/frontend:dev}
state=${NIX_IMAGE_STACK:-/tmp/nix-image-stack}
export BUILDKIT_HOST=${BUILDKIT_HOST:-unix://$state/buildkitd.sock}
buildctl_bin=${BUILDCTL:-$root/bin/buildctl}

cd "$root"
make --no-print-directory frontend
"$buildctl_bin" build \
	--frontend dockerfile.v0 \
	--local context="$root" \
	--local dockerfile="$root" \
	--opt target=prebuilt \
	--output "type=image,name=$ref,push=true"
echo "pushed $ref" >&2
