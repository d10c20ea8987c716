#!/usr/bin/env bash
# Installs the Debian packages the build, the test harness and the mirror
# generator need. Idempotent: when every package is already installed it
# returns without touching apt, so `make e2e` stays fast on a prepared machine.
set -euo pipefail

packages=(
	runc
	docker-registry
	nix-bin
	busybox-static
	bash-static
	patchelf
	sqlite3
	xz-utils
	ca-certificates
	openssh-client
	openssh-server
	# mkfs.ext4: make bench keeps buildkitd's state on a new file system (testenv StateFS)
	e2fsprogs
)

missing=()
for p in "${packages[@]}"; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	if [[ "$status" != installed ]]; then
		missing+=("$p")
	fi
done

if ((${#missing[@]} == 0)); then
	exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
	echo "install-deps: missing packages: ${missing[*]}; run as root (apt-get install)" >&2
	exit 1
fi

echo "install-deps: installing ${missing[*]}" >&2

# docker-registry ships a service listening on :5000. Keep apt from starting
# it (it would take the port hack/stack.sh uses); our scripts start their own
# registry. Only add the policy file when the machine has none, and remove it
# again afterwards.
policy=/usr/sbin/policy-rc.d
added_policy=false
if [[ ! -e "$policy" ]]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod 755 "$policy"
	added_policy=true
fi
cleanup() {
	if [[ "$added_policy" == true ]]; then
		rm -f "$policy"
	fi
}
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
