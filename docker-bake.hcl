// Builds the frontend image, the one a nix-image.yaml names in its
// `# syntax=` line.
//
//   docker buildx bake --push                          # FRONTEND_IMAGE, linux/amd64 + linux/arm64
//   FRONTEND_IMAGE=ghcr.io/me/frontend:v1 docker buildx bake --push
//   docker buildx bake prebuilt --push                 # packs bin/nix-image-frontend (make frontend)
//
// The `frontend` target compiles inside golang:<GO_VERSION>-bookworm and
// cross-compiles for every platform (no emulation).

variable "FRONTEND_IMAGE" {
  default = "127.0.0.1:5000/nix-image/frontend:dev"
}

variable "GO_VERSION" {
  default = "1.26.8"
}

group "default" {
  targets = ["frontend"]
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
