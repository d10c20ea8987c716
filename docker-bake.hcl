# docker buildx bake: the frontend image and the example images in one bake.
#
#   docker buildx bake                    # frontend, default and ssh
#   docker buildx bake default            # only examples/default (builds the frontend too)
#
# The example images use the frontend built in this same bake: it is passed
# to them as the named context `nix-image-frontend` and selected with the
# BUILDKIT_SYNTAX build arg, which overrides their `# syntax=` line. No
# registry is involved. To use a published frontend instead:
#
#   FRONTEND_CONTEXT=docker-image://ghcr.io/nix-image/frontend:v1 docker buildx bake default

variable "FRONTEND_CONTEXT" {
  default = "target:frontend"
}

group "default" {
  targets = ["frontend", "default", "ssh"]
}

# The frontend image (Dockerfile, stage `frontend`): a static binary in scratch.
target "frontend" {
  context    = "."
  dockerfile = "Dockerfile"
  target     = "frontend"
  platforms  = ["linux/amd64", "linux/arm64"]
}

target "_nix-image" {
  context  = "."
  contexts = {
    nix-image-frontend = FRONTEND_CONTEXT
  }
  args = {
    BUILDKIT_SYNTAX = "nix-image-frontend"
  }
}

# examples/default/nix-image.yaml, target default.
target "default" {
  inherits   = ["_nix-image"]
  dockerfile = "examples/default/nix-image.yaml"
  target     = "default"
}

# examples/ssh/nix-image.yaml, target ssh.
target "ssh" {
  inherits   = ["_nix-image"]
  dockerfile = "examples/ssh/nix-image.yaml"
  target     = "ssh"
}
