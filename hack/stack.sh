#!/usr/bin/env bash
# Starts, stops and reports a local BuildKit stack for humans: a registry on
# $NIX_IMAGE_REGISTRY (default 127.0.0.1:5000, plain HTTP) and a buildkitd
# using it, both in the state dir $NIX_IMAGE_STACK (default
# /tmp/nix-image-stack). Set both to run a second stack beside another.
#
#   hack/stack.sh start    # prints the BUILDKIT_HOST to export
#   hack/stack.sh status
#   hack/stack.sh stop
#
# Each daemon runs in its own session (setsid) so that stopping it by its
# process group also ends its children (runc shims), and nothing else.
# Integration tests do not use this script: internal/testenv starts a private
# stack on free ports per test run.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
state=${NIX_IMAGE_STACK:-/tmp/nix-image-stack}
registry_addr=${NIX_IMAGE_REGISTRY:-127.0.0.1:5000}
buildkitd_bin=${BUILDKITD:-$root/bin/buildkitd}
buildctl_bin=${BUILDCTL:-$root/bin/buildctl}
sock=$state/buildkitd.sock
export BUILDKIT_HOST=unix://$sock

log() { echo "stack: $*" >&2; }

# running PID: true when PID is a process that has not exited. A zombie (a
# killed daemon its parent has not reaped yet) has exited: kill -0 would
# still succeed on it, so read its state from /proc.
running() {
	local stat
	[[ -n "$1" ]] && { read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
	stat=${stat##*) }
	[[ ${stat%% *} != [ZX] ]]
}

# pid_alive NAME: true when STATE/NAME.pid names a running process.
pid_alive() {
	local f=$state/$1.pid
	[[ -f "$f" ]] && running "$(<"$f")"
}

# registry_ready: GET /v2/ answers 200. Plain bash (/dev/tcp) so that no HTTP
# client has to be installed.
registry_ready() {
	local line
	{ exec 3<>"/dev/tcp/${registry_addr%:*}/${registry_addr##*:}"; } 2>/dev/null || return 1
	printf 'GET /v2/ HTTP/1.0\r\nHost: %s\r\n\r\n' "$registry_addr" >&3
	IFS= read -r -t 5 line <&3 || line=
	exec 3<&-
	[[ "$line" == "HTTP/1."?" 200"* ]]
}

buildkitd_ready() {
	"$buildctl_bin" debug workers >/dev/null 2>&1
}

# wait_ready NAME CHECK: polls CHECK for up to 60 s while NAME keeps running.
wait_ready() {
	local name=$1 check=$2 i
	for ((i = 0; i < 600; i++)); do
		if "$check"; then
			return 0
		fi
		if ! pid_alive "$name"; then
			log "$name exited during startup; last lines of $state/$name.log:"
			tail -n 30 "$state/$name.log" >&2 || true
			return 1
		fi
		sleep 0.1
	done
	log "$name not ready after 60s; last lines of $state/$name.log:"
	tail -n 30 "$state/$name.log" >&2 || true
	return 1
}

# stop_one NAME: SIGTERM to the process group, then SIGKILL after 30 s.
stop_one() {
	local name=$1 f=$state/$1.pid pid i
	[[ -f "$f" ]] || return 0
	pid=$(<"$f")
	if running "$pid"; then
		log "stopping $name (pid $pid)"
		kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < 300; i++)); do
			running "$pid" || break
			sleep 0.1
		done
		if running "$pid"; then
			log "$name did not exit after SIGTERM; sending SIGKILL"
			kill -KILL -- "-$pid" 2>/dev/null || true
			for ((i = 0; i < 50; i++)); do
				running "$pid" || break
				sleep 0.1
			done
		fi
	fi
	rm -f "$f"
}

# unmount_under DIR: buildkitd normally unmounts its snapshots on SIGTERM; a
# killed one may leave overlay mounts behind, which would make the next start
# or an rm -rf of the state dir fail.
unmount_under() {
	local dir=$1 m
	[[ -d "$dir" ]] || return 0
	# Deepest mounts first.
	awk -v d="$dir/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts | sort -r | while read -r m; do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
	done
}

write_configs() {
	mkdir -p "$state/registry"
	cat >"$state/registry.yml" <<EOF
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: $state/registry
  delete:
    enabled: true
http:
  addr: $registry_addr
EOF
	cat >"$state/buildkitd.toml" <<EOF
[worker.oci]
  enabled = true
  snapshotter = "overlayfs"
[worker.containerd]
  enabled = false
[registry."$registry_addr"]
  http = true
  insecure = true
EOF
}

start() {
	if pid_alive registry && pid_alive buildkitd; then
		log "already running"
		status
		return 0
	fi
	# A half-started stack (one daemon died) is restarted from scratch.
	stop
	for b in "$buildkitd_bin" "$buildctl_bin"; do
		if [[ ! -x "$b" ]]; then
			log "$b not found; run make tools"
			return 1
		fi
	done
	command -v docker-registry >/dev/null || { log "docker-registry not installed; run make deps"; return 1; }
	if registry_ready; then
		log "something else already answers on $registry_addr; stop it first"
		return 1
	fi
	mkdir -p "$state"
	write_configs

	# Without job control a background child is no group leader, so setsid
	# execs in place and $! is the daemon's pid and its process group id.
	setsid docker-registry serve "$state/registry.yml" >"$state/registry.log" 2>&1 </dev/null &
	echo $! >"$state/registry.pid"
	if ! wait_ready registry registry_ready; then
		stop
		return 1
	fi

	# buildkitd mounts snapshots in temp dirs of its own and leaves them
	# mounted when it is killed: in $state, stop unmounts them.
	mkdir -p "$state/tmp"
	TMPDIR="$state/tmp" setsid "$buildkitd_bin" --config "$state/buildkitd.toml" --root "$state/buildkitd" \
		--addr "unix://$sock" --oci-worker-net=host >"$state/buildkitd.log" 2>&1 </dev/null &
	echo $! >"$state/buildkitd.pid"
	if ! wait_ready buildkitd buildkitd_ready; then
		log "start failed; stopping what was started"
		stop
		return 1
	fi
	log "started"
	echo "export BUILDKIT_HOST=$BUILDKIT_HOST"
}

# kill_build_containers: buildkitd runs RUN steps with runc's default state
# root, each in a process group of its own, so a step still running when
# buildkitd stops would outlive it. Kill the containers whose bundle lies in
# our state dir.
kill_build_containers() {
	local id
	command -v runc >/dev/null || return 0
	runc list 2>/dev/null | awk -v p="$state/" 'NR > 1 && index($4, p) == 1 { print $1 }' | while read -r id; do
		log "killing build container $id"
		runc kill "$id" KILL 2>/dev/null || true
		runc delete --force "$id" 2>/dev/null || true
	done
}

stop() {
	kill_build_containers
	stop_one buildkitd
	stop_one registry
	kill_build_containers
	unmount_under "$state"
}

status() {
	local rc=0 name
	for name in registry buildkitd; do
		if pid_alive "$name"; then
			echo "$name: running (pid $(<"$state/$name.pid"))"
		else
			echo "$name: stopped"
			rc=1
		fi
	done
	echo "registry: $registry_addr"
	echo "BUILDKIT_HOST=$BUILDKIT_HOST"
	return $rc
}

case ${1:-} in
start) start ;;
stop) stop ;;
status) status ;;
*)
	echo "usage: $0 start|stop|status" >&2
	exit 2
	;;
esac
