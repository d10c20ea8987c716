# Builder of the offline package set, run as `busybox sh -e builder.sh` (see
# default.nix), sandboxed with the host's /usr, /lib and /lib64 bound in.
# $copyPath (a file) lists one entry a line: KIND SRC DST, DST relative to $out:
#   elf  host ELF file: copied, interpreter set to the store's glibc and
#        RUNPATH to $rpath (so Nix sees the references itself)
#   file host file, copied
#   script host /bin/sh or bash script, copied and pointed at $bash
#   link symlink DST -> SRC (@out@ is $out)
#   wrap bash script DST that sets $env and runs $out/SRC with its own argv[0]
#        and $wrapArgs before the arguments it got
# $env lines: NAME=VALUE (a default) or NAME+=VALUE (prepended, ':'-joined);
# @out@ and @NAME@ for each NAME in $needs stand for those store paths.
# The other variables ($builder, $out, $rpath, ...) are the derivation's.
# shellcheck disable=SC2154,SC2016

# busybox picks the applet from argv[0]: give each applet its own name.
applets=$TMPDIR/bin
"$builder" mkdir -p "$applets"
for a in $("$builder" --list); do
	"$builder" ln -s "$builder" "$applets/$a"
done
export PATH="$applets"
patchelf=/usr/bin/patchelf

subst() {
	s=$(printf '%s' "$1" | sed "s|@out@|$out|g")
	for n in $needs; do
		eval "v=\$$n"
		s=$(printf '%s' "$s" | sed "s|@$n@|$v|g")
	done
	printf '%s' "$s"
}

relocate() {
	chmod u+w "$1"
	if $patchelf --print-interpreter "$1" >/dev/null 2>&1; then
		$patchelf --set-interpreter "$interpreter" "$1"
	fi
	if $patchelf --print-rpath "$1" >/dev/null 2>&1; then
		$patchelf --set-rpath "$rpath" "$1"
	fi
}

wrapper() {
	{
		printf '#! %s/bin/bash -e\n' "$bash"
		printf '%s\n' "$env" | while IFS= read -r line; do
			[ -n "$line" ] || continue
			line=$(subst "$line")
			case $line in
			*+=*)
				name=${line%%+=*}
				printf 'export %s="%s${%s:+:$%s}"\n' "$name" "${line#*+=}" "$name" "$name"
				;;
			*)
				name=${line%%=*}
				printf 'export %s="${%s:-%s}"\n' "$name" "$name" "${line#*=}"
				;;
			esac
		done
		printf 'exec -a "$0" "%s/%s" %s "$@"\n' "$out" "$1" "$(subst "$wrapArgs")"
	} >"$2"
	chmod 0555 "$2"
}

mkdir -p "$out"
while read -r kind src dst || [ -n "$kind" ]; do
	[ -n "$kind" ] || continue
	mkdir -p "$(dirname "$out/$dst")"
	case $kind in
	elf)
		cp "$src" "$out/$dst"
		relocate "$out/$dst"
		;;
	file) cp "$src" "$out/$dst" ;;
	script)
		cp "$src" "$out/$dst"
		chmod u+w "$out/$dst"
		sed -i -E "1s@^#! ?(/usr)?/bin/(ba)?sh@#!$bash/bin/\2sh@" "$out/$dst"
		;;
	link) ln -s "$(subst "$src")" "$out/$dst" ;;
	wrap) wrapper "$src" "$out/$dst" ;;
	*)
		echo "builder.sh: unknown entry kind $kind" >&2
		exit 1
		;;
	esac
done <"$copyPath"
