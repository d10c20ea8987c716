#!/bin/sh
# Single-user install of the Nix in this tarball (made by hack/mirror.sh):
# copies the store paths into /nix/store, registers them and puts Nix into
# the invoking user's profile. Run as root or as the owner of /nix.
set -eu
self=$(cd "$(dirname "$0")" && pwd)
nix=@nix@

mkdir -p /nix/store /nix/var/nix
for p in "$self"/store/*; do
    name=$(basename "$p")
    if [ ! -e "/nix/store/$name" ]; then
        cp -RPp "$p" "/nix/store/$name.tmp"
        chmod -R a-w "/nix/store/$name.tmp"
        mv "/nix/store/$name.tmp" "/nix/store/$name"
    fi
done
"$nix/bin/nix-store" --load-db <"$self/.reginfo"
"$nix/bin/nix-env" -i "$nix"
echo "Nix @version@ installed; add ~/.nix-profile/bin to PATH."
