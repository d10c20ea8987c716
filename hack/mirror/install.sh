#!/bin/sh
# Installer for the offline mirror's Nix @version@ (hack/mirror.sh), in the
# shape of the official releases' install script: the `case` block below
# names each platform's tarball and its sha256, which is what the nix-image
# frontend reads. Run it as `NIX_MIRROR_URL=http://HOST:PORT sh install`
# (the URL of the mirror's root directory).

{ # Prevent execution if this script was only partially downloaded
oops() {
    echo "$0:" "$@" >&2
    exit 1
}

umask 0022

case "$(uname -s).$(uname -m)" in
    Linux.x86_64)
        hash=@hash_x86_64-linux@
        path=nix-@version@/nix-@version@-x86_64-linux.tar.xz
        system=x86_64-linux
        ;;
    Linux.aarch64)
        hash=@hash_aarch64-linux@
        path=nix-@version@/nix-@version@-aarch64-linux.tar.xz
        system=aarch64-linux
        ;;
    *) oops "sorry, there is no binary distribution of Nix for your platform";;
esac

[ -n "${NIX_MIRROR_URL:-}" ] || oops "set NIX_MIRROR_URL to the mirror's root URL"
url="$NIX_MIRROR_URL/nix/$path"

tmpDir="$(mktemp -d -t nix-binary-tarball-unpack.XXXXXXXXXX)" || oops "cannot create a temporary directory"
trap 'rm -rf "$tmpDir"' EXIT INT QUIT TERM
tarball="$tmpDir/nix-@version@-$system.tar.xz"

echo "downloading Nix @version@ binary tarball for $system from '$url' to '$tmpDir'..."
curl -fsSL "$url" -o "$tarball" || oops "failed to download '$url'"
echo "$hash  $tarball" | sha256sum -c - >/dev/null || oops "SHA-256 hash mismatch in '$url'"

mkdir -p "$tmpDir/unpack"
tar -xJf "$tarball" -C "$tmpDir/unpack" || oops "failed to unpack '$url'"
"$tmpDir/unpack/nix-@version@-$system/install" "$@"
} # End of wrapping
