# The images of a nix-image.yaml with docker buildx bake: the Nix image and
# the remote builder, for linux/amd64 and linux/arm64, pushed, with their
# build cache kept in the registry next to them (any builder, e.g. a CI
# runner, reuses it). Both platforms are built on any one builder without
# emulation (no QEMU, no arm64 node). Put this file next to nix-image.yaml
# and run
#
#   IMAGE=ghcr.io/me/nix TAG=v1 docker buildx bake --push

variable "IMAGE" {
  default = "ghcr.io/me/nix"
}

variable "TAG" {
  default = "latest"
}

group "default" {
  targets = ["nix", "nix-ssh"]
}

target "nix" {
  dockerfile = "nix-image.yaml"
  target     = "default"
  platforms  = ["linux/amd64", "linux/arm64"]
  tags       = ["${IMAGE}:${TAG}"]
  cache-from = ["type=registry,ref=${IMAGE}:cache"]
  cache-to   = ["type=registry,ref=${IMAGE}:cache,mode=max"]
}

target "nix-ssh" {
  inherits = ["nix"]
  target   = "ssh"
  tags     = ["${IMAGE}:${TAG}-ssh"]
  # The store layers of the Nix image are reused from its cache.
  cache-from = ["type=registry,ref=${IMAGE}:cache", "type=registry,ref=${IMAGE}:cache-ssh"]
  cache-to   = ["type=registry,ref=${IMAGE}:cache-ssh,mode=max"]
}
