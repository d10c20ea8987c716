// docker buildx bake: the frontend image, and the example images built with
// the frontend of this same bake.
//
//   docker buildx bake all                              # frontend + default + ssh, no registry
//   docker buildx bake                                  # target default (builds the frontend too)
//   docker buildx bake ssh                              # target ssh (builds the frontend too)
//   docker buildx bake frontend --push                  # FRONTEND_IMAGE, linux/amd64 + linux/arm64
//   FRONTEND_IMAGE=ghcr.io/me/frontend:v1 docker buildx bake frontend --push
//   docker buildx bake prebuilt --push                  # packs bin/nix-image-frontend (make frontend)
//   docker buildx bake examples --set '*.platform=linux/amd64,linux/arm64'
//                                                       # the examples for both platforms, on any one
//                                                       # builder, without emulation
//
// The `frontend` target compiles inside golang:<GO_VERSION>-bookworm and
// cross-compiles for every platform (no emulation).
//
// The example images get the frontend as the named context
// `nix-image-frontend`, selected with the BUILDKIT_SYNTAX build arg, which
// overrides their `# syntax=` line. To use a published frontend instead:
//
//   FRONTEND_CONTEXT=docker-image://ghcr.io/nix-image/frontend:v1 docker buildx bake examples
//
// (There is no `default` group: `docker buildx bake` alone builds the
// target `default`.)

variable "FRONTEND_IMAGE" {
  default = "127.0.0.1:5000/nix-image/frontend:dev"
}

variable "FRONTEND_CONTEXT" {
  default = "target:frontend"
}

variable "GO_VERSION" {
  default = "1.26.8"
}

group "all" {
  targets = ["frontend", "default", "ssh"]
}

group "examples" {
  targets = ["default", "ssh"]
}

target "frontend" {
  context    = "."
  dockerfile = "Dockerfile"
  target     = "frontend"
  args = {
    GO_VERSION = GO_VERSION
  }
  tags      = [FRONTEND_IMAGE]
  platforms = ["linux/amd64", "linux/arm64"]
}

// The host's binary, for the host's platform only.
target "prebuilt" {
  context    = "."
  dockerfile = "Dockerfile"
  target     = "prebuilt"
  tags       = [FRONTEND_IMAGE]
}

target "_nix-image" {
  context = "."
  contexts = {
    nix-image-frontend = FRONTEND_CONTEXT
  }
  args = {
    BUILDKIT_SYNTAX = "nix-image-frontend"
  }
}

// examples/default/nix-image.yaml, target default.
target "default" {
  inherits   = ["_nix-image"]
  dockerfile = "examples/default/nix-image.yaml"
  target     = "default"
}

// examples/ssh/nix-image.yaml, target ssh.
target "ssh" {
  inherits   = ["_nix-image"]
  dockerfile = "examples/ssh/nix-image.yaml"
  target     = "ssh"
}
