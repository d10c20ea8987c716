#!/usr/bin/env bash
# Builds the Dockerfile's default target (`frontend`: compiles the frontend
# inside the golang image) on the hack/stack.sh stack, where
# golang:<GO_VERSION>-bookworm cannot be pulled: a stand-in image holding this
# machine's Go toolchain (same version), busybox and the CA bundle is pushed to
# the stack's registry and passed as the named context of that image. `go mod
# download` inside the build needs the Go module proxy.
#
#   hack/stack.sh start && hack/check-dockerfile.sh [OUT.tar]
#
# With FRONTEND_REF=REGISTRY/NAME:TAG the image is pushed there instead of
# written to OUT.tar (the e2e test then builds a spec through it).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
state=${NIX_IMAGE_STACK:-/tmp/nix-image-stack}
export BUILDKIT_HOST=${BUILDKIT_HOST:-unix://$state/buildkitd.sock}
buildctl_bin=${BUILDCTL:-$root/bin/buildctl}
out=${1:-$state/frontend-from-source.tar}

go_version=$(sed -n 's/^ARG GO_VERSION=//p' "$root/Dockerfile")
if [[ "$(go env GOVERSION)" != "go$go_version" ]]; then
	echo "check-dockerfile: the Dockerfile wants Go $go_version, this machine has $(go env GOVERSION)" >&2
	exit 1
fi
base=${NIX_IMAGE_REGISTRY:-127.0.0.1:5000}/library/golang:$go_version-bookworm

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp -a "$(go env GOROOT)" "$ctx/go"
cp /bin/busybox "$ctx/busybox"
cp /etc/ssl/certs/ca-certificates.crt "$ctx/"
cat >"$ctx/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RUN mkdir -p /tmp /root && chmod 1777 /tmp
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY go /usr/local/go
ENV PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin GOPATH=/go
WORKDIR /go
DOCKERFILE

"$buildctl_bin" build --frontend dockerfile.v0 \
	--local context="$ctx" --local dockerfile="$ctx" \
	--output "type=image,name=$base,push=true"

output="type=oci,dest=$out"
if [[ -n ${FRONTEND_REF:-} ]]; then
	out=$FRONTEND_REF
	output="type=image,name=$out,push=true"
fi
"$buildctl_bin" build --frontend dockerfile.v0 \
	--local context="$root" --local dockerfile="$root" \
	--opt "context:golang:$go_version-bookworm=docker-image://$base" \
	--output "$output"
echo "check-dockerfile: built the frontend target into $out" >&2
