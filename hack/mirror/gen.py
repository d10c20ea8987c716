#!/usr/bin/python3
"""Writes manifest.nix for the offline package set (see hack/README.md).

The manifest tells the Nix expressions in hack/mirror/nixpkgs which host files
each store path copies and how the ELF files are wired together: one store
path per shared library (by soname), glibc's libraries in one `glibc` path,
one store path per program package. Everything host-specific is resolved here,
once, so the derivations themselves are plain data and evaluate to the same
out paths on any machine.

Usage: gen.py OUT_MANIFEST OUT_SANDBOX_PATHS

OUT_SANDBOX_PATHS gets the host paths the builders read (one a line), for
Nix's extra-sandbox-paths.
"""

import glob
import os
import re
import subprocess
import sys

# glibc's own libraries: one store path, copied as they are (patching glibc
# makes programs crash, and it needs no RUNPATH).
GLIBC_SONAMES = [
    "ld-linux-x86-64.so.2",
    "libBrokenLocale.so.1",
    "libanl.so.1",
    "libc.so.6",
    "libc_malloc_debug.so.0",
    "libdl.so.2",
    "libm.so.6",
    "libmvec.so.1",
    "libnss_dns.so.2",
    "libnss_files.so.2",
    "libpthread.so.0",
    "libresolv.so.2",
    "librt.so.1",
    "libthread_db.so.1",
    "libutil.so.1",
]
GLIBC_DIR = "/lib/x86_64-linux-gnu"


def deb_bins(pkg, names):
    """Host paths of the named programs, checked to exist."""
    out = []
    for n in names:
        for d in ("/usr/bin", "/usr/sbin", "/bin", "/sbin"):
            p = os.path.join(d, n)
            if os.path.lexists(p):
                out.append((p, "bin/" + n))
                break
        else:
            sys.exit(f"gen.py: {pkg}: program {n} not found on the host")
    return out


# The package set. Each entry: attribute name -> dict with
#   deb:     Debian package that gives the version
#   pname:   Nix package name (default: the attribute name)
#   files:   (host path, path in $out); ELF files are relocated
#   trees:   (host dir, dir in $out), copied recursively
#   links:   (target, path in $out); @out@ is the package's own store path
#   wrap:    (target in $out, wrapper path in $out): a bash wrapper that
#            sets `env` and runs the target with the wrapper's argv[0]
#   env:     lines NAME=VALUE (default when unset) or NAME+=VALUE (prefix,
#            ':'-separated); @out@ and @<attr>@ of `needs` are substituted
#   args:    extra arguments the wrappers pass before "$@"
#   needs:   other packages of the set this one refers to at run time
#   man:     Debian packages whose man1/man5/man8 pages are included
PACKAGES = {
    "bash": dict(
        deb="bash",
        files=[("/usr/bin/bash", "bin/bash")],
        links=[("bash", "bin/sh")],
        man=["bash"],
    ),
    "coreutils": dict(deb="coreutils", man=["coreutils"]),  # files filled below
    "cacert": dict(
        deb="ca-certificates",
        pname="nss-cacert",
        files=[("/etc/ssl/certs/ca-certificates.crt", "etc/ssl/certs/ca-bundle.crt")],
        links=[("ca-bundle.crt", "etc/ssl/certs/ca-certificates.crt")],
    ),
    "shadow": dict(
        deb="passwd",
        files=deb_bins(
            "shadow",
            ["useradd", "userdel", "usermod", "groupadd", "groupdel", "groupmod",
             "chpasswd", "chgpasswd", "passwd", "newusers", "pwck", "grpck",
             "nologin"],
        ),
        man=["passwd", "login"],
    ),
    "nix": dict(
        deb="nix-bin",
        files=[("/usr/bin/nix", "libexec/nix/nix")],
        links=[("nix", "libexec/nix/build-remote")],
        wrap=[("libexec/nix/nix", "bin/" + n) for n in [
            "nix", "nix-build", "nix-channel", "nix-collect-garbage",
            "nix-copy-closure", "nix-daemon", "nix-env", "nix-hash",
            "nix-instantiate", "nix-prefetch-url", "nix-shell", "nix-store"]],
        # Debian's Nix has /usr/libexec and /usr/bin compiled in (build
        # hook, nix-channel's nix-env); both are read from the environment.
        env=["NIX_LIBEXEC_DIR=@out@/libexec", "NIX_BIN_DIR=@out@/bin"],
        needs=["bash"],
        man=["nix-bin"],
    ),
    "curl": dict(deb="curl", files=deb_bins("curl", ["curl"]), man=["curl"]),
    "jq": dict(deb="jq", files=deb_bins("jq", ["jq"]), man=["jq"]),
    "git": dict(
        deb="git",
        trees=[("/usr/lib/git-core", "libexec/git-core"),
               ("/usr/share/git-core/templates", "share/git-core/templates")],
        wrap=[("libexec/git-core/git", "bin/git")],
        # Debian's git has /usr/lib/git-core compiled in as its exec path.
        env=["GIT_EXEC_PATH=@out@/libexec/git-core",
             "GIT_TEMPLATE_DIR=@out@/share/git-core/templates"],
        needs=["bash"],
        man=["git"],
    ),
    "gnugrep": dict(deb="grep", files=deb_bins("gnugrep", ["grep", "egrep", "fgrep"]), man=["grep"]),
    "gnused": dict(deb="sed", files=deb_bins("gnused", ["sed"]), man=["sed"]),
    "gnutar": dict(deb="tar", files=deb_bins("gnutar", ["tar"]), man=["tar"]),
    "gzip": dict(deb="gzip", files=deb_bins("gzip", ["gzip", "gunzip", "zcat"]), man=["gzip"]),
    "xz": dict(
        deb="xz-utils",
        files=deb_bins("xz", ["xz"]),
        links=[("xz", "bin/" + n) for n in ["unxz", "xzcat", "lzma", "unlzma", "lzcat"]],
        man=["xz-utils"],
    ),
    "less": dict(deb="less", files=deb_bins("less", ["less", "lesskey", "lessecho"]), man=["less"]),
    "findutils": dict(deb="findutils", files=deb_bins("findutils", ["find", "xargs"]), man=["findutils"]),
    "which": dict(deb="debianutils", files=[("/usr/bin/which.debianutils", "bin/which")]),
    "procps": dict(
        deb="procps",
        files=deb_bins("procps", ["ps", "top", "free", "kill", "pgrep", "pkill", "pidwait",
                                  "pmap", "pwdx", "uptime", "vmstat", "w", "watch", "sysctl",
                                  "slabtop", "tload", "skill", "snice"]),
        man=["procps"],
    ),
    "openssh": dict(
        deb="openssh-client",
        files=deb_bins("openssh", ["ssh", "scp", "sftp", "ssh-keygen", "ssh-add", "ssh-agent",
                                   "ssh-keyscan", "sshd"])
        + [("/usr/lib/openssh/" + n, "libexec/" + n)
           for n in ["sftp-server", "ssh-keysign", "ssh-pkcs11-helper", "ssh-sk-helper"]]
        # sshd's Diffie-Hellman groups, in etc/ssh as nixpkgs' openssh has them
        # (NixOS links /etc/ssh/moduli there).
        + [("/etc/ssh/moduli", "etc/ssh/moduli")],
        man=["openssh-client", "openssh-server", "openssh-sftp-server"],
    ),
    "hello": dict(deb="hello", files=deb_bins("hello", ["hello"]), man=["hello"]),
    "vim": dict(
        deb="vim",
        files=[("/usr/bin/vim.basic", "libexec/vim")],
        trees=[("/usr/share/vim/vim90", "share/vim/vim90")],
        wrap=[("libexec/vim", "bin/vim"), ("libexec/vim", "bin/vi"), ("libexec/vim", "bin/view"),
              ("libexec/vim", "bin/vimdiff")],
        # Debian's vim looks for its runtime in /usr/share/vim.
        env=["VIM=@out@/share/vim"],
        needs=["bash"],
        man=["vim"],
    ),
    "groff": dict(
        deb="groff-base",
        files=[(p, "libexec/groff/" + os.path.basename(p)) for p in
               ["/usr/bin/groff", "/usr/bin/troff", "/usr/bin/grotty", "/usr/bin/tbl",
                "/usr/bin/eqn", "/usr/bin/pic", "/usr/bin/preconv", "/usr/bin/soelim"]]
        + [("/usr/bin/nroff", "bin/nroff")],
        trees=[("/usr/share/groff/1.22.4", "share/groff/1.22.4"),
               ("/etc/groff", "share/groff/site-tmac")],
        wrap=[("libexec/groff/" + n, "bin/" + n) for n in
              ["groff", "troff", "grotty", "tbl", "eqn", "pic", "preconv", "soelim"]],
        # groff has /usr/share/groff and /usr/bin compiled in.
        env=["GROFF_FONT_PATH=@out@/share/groff/1.22.4/font",
             "GROFF_TMAC_PATH=@out@/share/groff/site-tmac:@out@/share/groff/1.22.4/tmac",
             "GROFF_BIN_PATH=@out@/libexec/groff",
             "PATH+=@out@/bin"],
        needs=["bash"],
        man=["groff-base"],
    ),
    "man": dict(
        deb="man-db",
        pname="man-db",
        files=[("/usr/bin/man", "libexec/man"), ("/usr/bin/col", "libexec/man-db/col"),
               ("/etc/manpath.config", "etc/manpath.config")],
        wrap=[("libexec/man", "bin/man")],
        # man-db reads /etc/manpath.config (fatal when missing) and runs
        # nroff, col (util-linux) and a pager found in PATH.
        args="-C @out@/etc/manpath.config",
        env=["PATH+=@groff@/bin:@less@/bin:@out@/libexec/man-db", "PAGER=@less@/bin/less"],
        needs=["bash", "groff", "less"],
        man=["man-db"],
    ),
    "sqlite": dict(deb="sqlite3", files=deb_bins("sqlite", ["sqlite3"]), man=["sqlite3"]),
    # Terminal descriptions for libtinfo (bash, less, vim, top). Debian's
    # libtinfo looks in /usr/share/terminfo and friends: an image points
    # TERMINFO_DIRS at this share/terminfo.
    "ncurses": dict(
        deb="ncurses-bin",
        files=deb_bins("ncurses", ["clear", "infocmp", "tabs", "tic", "toe", "tput", "tset"]),
        links=[("tset", "bin/reset"), ("tic", "bin/captoinfo"), ("tic", "bin/infotocap")],
        trees=[("/lib/terminfo", "share/terminfo"), ("/usr/share/terminfo", "share/terminfo")],
        man=["ncurses-bin"],
    ),
}
ALIASES = {"bashInteractive": "bash"}


def run(*cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


SH_SHEBANG = re.compile(rb"^#! ?(/usr)?/bin/(ba)?sh(\s|$)")


def kind_of(path):
    """elf, script (a /bin/sh or bash script, pointed at the set's bash) or file."""
    with open(path, "rb") as f:
        head = f.read(64)
    if head.startswith(b"\x7fELF"):
        return "elf"
    if SH_SHEBANG.match(head):
        return "script"
    return "file"


def upstream_version(v):
    v = v.split(":", 1)[-1]
    if "-" in v:
        v = v.rsplit("-", 1)[0]
    return re.sub(r"[^A-Za-z0-9+._-]", "_", v)


def dpkg_versions():
    out = run("dpkg-query", "-W", "-f", "${Package} ${Version} ${db:Status-Status}\n")
    vers = {}
    for line in out.splitlines():
        name, ver, status = line.split(" ")
        if status == "installed":
            vers[name.split(":")[0]] = ver
    return vers


def dpkg_owners():
    """Map of every path dpkg lists to its package (merged /usr aware)."""
    owners = {}
    for lst in glob.glob("/var/lib/dpkg/info/*.list"):
        pkg = os.path.basename(lst)[: -len(".list")].split(":")[0]
        with open(lst) as f:
            for line in f:
                owners[line.rstrip("\n")] = pkg
    return owners


def owner_of(owners, path):
    cands = [path, os.path.realpath(path)]
    for p in list(cands):
        if p.startswith("/usr/"):
            cands.append(p[4:])
        else:
            cands.append("/usr" + p)
    for p in cands:
        if p in owners:
            return owners[p]
    sys.exit(f"gen.py: no Debian package owns {path}")


def man_pages(owners_by_pkg, pkgs):
    out = []
    for pkg in pkgs:
        for p in sorted(owners_by_pkg.get(pkg, [])):
            m = re.match(r"^/usr/share/man/(man[158])/[^/]+$", p)
            if m and os.path.isfile(p):
                out.append((p, "share/man/" + m.group(1) + "/" + os.path.basename(p)))
    return out


class Libs:
    """Resolves sonames to host files and records each library's needs."""

    def __init__(self):
        self.path = {}   # soname -> host path
        self.needs = {}  # soname -> [sonames]

    def resolve(self, elf):
        """Direct NEEDED sonames of elf, with every library they pull in recorded."""
        for line in run("ldd", elf).splitlines():
            m = re.match(r"^\s*(\S+) => (/\S+) \(", line)
            if m:
                self.path.setdefault(m.group(1), m.group(2))
            elif "not found" in line:
                sys.exit(f"gen.py: {elf}: {line.strip()}")
        needed = run("patchelf", "--print-needed", elf).split()
        for so in needed:
            if so in GLIBC_SONAMES or so in self.needs:
                continue
            if so not in self.path:
                sys.exit(f"gen.py: {elf}: cannot resolve {so}")
            self.needs[so] = []  # mark before recursing (cycles)
            self.needs[so] = self.resolve(self.path[so])
        return needed


def nix_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("${", "\\${") + '"'


def check_word(s):
    if not s or re.search(r"\s", s):
        sys.exit(f"gen.py: path with white space is not supported: {s!r}")
    return s


def walk_tree(src, dst, entries):
    """Copy list entries for a host tree; symlinks leaving it are followed."""
    for name in sorted(os.listdir(src)):
        s, d = os.path.join(src, name), dst + "/" + name
        if " " in name or "\t" in name or "\n" in name:
            sys.exit(f"gen.py: path with white space is not supported: {s!r}")
        if os.path.islink(s):
            t = os.readlink(s)
            if not t.startswith("/") and os.path.realpath(s).startswith(os.path.realpath(src) + "/"):
                entries.append(("link", t, d))
                continue
            s = os.path.realpath(s)
        if os.path.isdir(s):
            walk_tree(s, d, entries)
        elif os.path.isfile(s):
            entries.append((kind_of(s), s, d))


def main():
    out_path = sys.argv[1]
    vers = dpkg_versions()
    owners = dpkg_owners()
    by_pkg = {}
    for p, pkg in owners.items():
        by_pkg.setdefault(pkg, []).append(p)

    PACKAGES["coreutils"]["files"] = deb_bins(
        "coreutils",
        sorted({os.path.basename(p) for p in by_pkg["coreutils"]
                if re.match(r"^(/usr)?/s?bin/[^/]+$", p)}))

    libs = Libs()
    pkgs_out = {}
    for attr, spec in sorted(PACKAGES.items()):
        if spec["deb"] not in vers:
            sys.exit(f"gen.py: Debian package {spec['deb']} is not installed")
        entries = []
        for src, dst in spec.get("files", []):
            real = os.path.realpath(src)
            entries.append((kind_of(real), real, dst))
        for src, dst in spec.get("trees", []):
            walk_tree(src, dst, entries)
        # Trees merged into one directory: the first one listed wins.
        seen = set()
        entries = [e for e in entries if not (e[2] in seen or seen.add(e[2]))]
        for src, dst in man_pages(by_pkg, spec.get("man", [])):
            entries.append(("file", src, dst))
        for target, dst in spec.get("links", []):
            entries.append(("link", target, dst))
        for target, dst in spec.get("wrap", []):
            entries.append(("wrap", target, dst))
        needed = set()
        for kind, src, _ in entries:
            if kind == "elf":
                needed.update(libs.resolve(src))
        seen = set()
        for e in entries:
            if e[2] in seen:
                sys.exit(f"gen.py: {attr}: {e[2]} listed twice")
            seen.add(e[2])
            check_word(e[1])
            check_word(e[2])
        needs = set(spec.get("needs", []))
        if attr != "bash" and any(e[0] == "script" for e in entries):
            needs.add("bash")
        pkgs_out[attr] = dict(
            pname=spec.get("pname", attr),
            version=upstream_version(vers[spec["deb"]]),
            libs=sorted(n for n in needed if n not in GLIBC_SONAMES),
            needs=sorted(needs),
            copy=entries,
            env=spec.get("env", []),
            args=spec.get("args", ""),
        )

    # Library store paths must form a DAG (Nix has no cyclic references).
    state = {}

    def visit(so, stack):
        if state.get(so) == 2:
            return
        if state.get(so) == 1:
            sys.exit(f"gen.py: cyclic library needs: {' -> '.join(stack + [so])}")
        state[so] = 1
        for d in (n for n in libs.needs[so] if n not in GLIBC_SONAMES):
            visit(d, stack + [so])
        state[so] = 2

    for so in sorted(libs.needs):
        visit(so, [])

    w = []
    w.append("# Generated by hack/mirror/gen.py; do not edit.")
    w.append("{")
    glibc = [s for s in GLIBC_SONAMES if os.path.exists(os.path.join(GLIBC_DIR, s))]
    w.append("  glibc = { pname = \"glibc\"; version = %s; sonames = [ %s ]; dir = %s; };" % (
        nix_str(upstream_version(vers["libc6"])), " ".join(nix_str(s) for s in glibc), nix_str(GLIBC_DIR)))
    w.append("  libs = {")
    for so in sorted(libs.needs):
        src = os.path.realpath(libs.path[so])
        pkg = owner_of(owners, libs.path[so])
        pname = re.sub(r"\.so(\..*)?$", "", so)
        pname = re.sub(r"[^A-Za-z0-9+._-]", "_", pname)
        w.append("    %s = { pname = %s; version = %s; src = %s; needs = [ %s ]; };" % (
            nix_str(so), nix_str(pname), nix_str(upstream_version(vers[pkg])), nix_str(check_word(src)),
            " ".join(nix_str(d) for d in sorted(libs.needs[so]) if d not in GLIBC_SONAMES)))
    w.append("  };")
    w.append("  packages = {")
    for attr, p in sorted(pkgs_out.items()):
        w.append("    %s = {" % attr)
        w.append("      pname = %s; version = %s;" % (nix_str(p["pname"]), nix_str(p["version"])))
        w.append("      libs = [ %s ];" % " ".join(nix_str(s) for s in p["libs"]))
        w.append("      needs = [ %s ];" % " ".join(nix_str(s) for s in p["needs"]))
        w.append("      env = [ %s ];" % " ".join(nix_str(s) for s in p["env"]))
        w.append("      args = %s;" % nix_str(p["args"]))
        w.append("      copy = ''")
        for kind, a, b in p["copy"]:
            w.append("        %s %s %s" % (kind, a.replace("''", "'''").replace("${", "''${"), b))
        w.append("      '';")
        w.append("    };")
    w.append("  };")
    w.append("  aliases = { %s };" % " ".join("%s = %s;" % (k, nix_str(v)) for k, v in sorted(ALIASES.items())))
    w.append("}")
    with open(out_path, "w") as f:
        f.write("\n".join(w) + "\n")

    # Bind whole top-level directories, but only the needed entries of /etc:
    # the sandbox makes its own /etc/passwd, /etc/group and /etc/hosts.
    srcs = [libs.path[so] for so in libs.needs] + [GLIBC_DIR, "/usr/bin/patchelf"]
    srcs += [src for p in pkgs_out.values() for kind, src, _ in p["copy"] if kind in ("elf", "file", "script")]
    roots = set()
    for src in srcs:
        parts = src.split("/")
        roots.add("/".join(parts[:3]) if parts[1] == "etc" else "/" + parts[1])
    roots.add("/lib64")
    with open(sys.argv[2], "w") as f:
        f.write("\n".join(sorted(roots)) + "\n")


if __name__ == "__main__":
    main()
