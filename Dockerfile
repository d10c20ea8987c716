# The nix-image frontend image: a static Go binary in an empty image, used
# through `# syntax=<this image>` at the top of nix-image.yaml.
#
# No `# syntax=` line here on purpose: the built-in Dockerfile frontend of the
# daemon parses this file, so building it needs no image from a registry
# other than the golang base of the `build` stage.
#
#   docker buildx build -t REF --push .               # builds from source
#   make frontend && buildctl ... --opt target=prebuilt  # hack/push-frontend.sh

ARG GO_VERSION=1.26.8

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
ARG TARGETOS
ARG TARGETARCH
RUN --mount=type=bind,target=/src,readonly \
    --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags "-s -w" -o /out/nix-image-frontend ./frontend/cmd/nix-image-frontend

FROM scratch AS base
# The frontend never needs the network itself: sources are fetched by LLB
# ops that the daemon runs.
LABEL moby.buildkit.frontend.network.none="true"
LABEL moby.buildkit.frontend.caps="moby.buildkit.frontend.inputs,moby.buildkit.frontend.subrequests,moby.buildkit.frontend.contexts"
ENTRYPOINT ["/nix-image-frontend"]

# prebuilt packs a binary built on the host (bin/nix-image-frontend, see
# `make frontend`); used by the tests and hack/push-frontend.sh, where no
# golang image can be pulled.
FROM base AS prebuilt
COPY bin/nix-image-frontend /nix-image-frontend

FROM base AS frontend
COPY --from=build /out/nix-image-frontend /nix-image-frontend
