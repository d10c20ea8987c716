#!/usr/bin/python3
"""Writes the manifest of the offline package set for one system (see hack/README.md).

The manifest tells the Nix expressions in hack/mirror/nixpkgs which Debian
files each store path copies and how the ELF files are wired together: one
store path per shared library (by soname), glibc's libraries in one `glibc`
path, one store path per program package. Everything Debian-specific is
resolved here, once, so the derivations themselves are plain data and
evaluate to the same out paths on any machine.

Usage: gen.py SYSTEM ROOT SANDBOX_ROOT OUT_MANIFEST OUT_SANDBOX_PATHS OUT_DEBS

SYSTEM is x86_64-linux or aarch64-linux. ROOT is the Debian tree the files
come from, with its dpkg database in ROOT/var/lib/dpkg: / for the host's
installed packages, or a tree of unpacked .debs of another architecture
(hack/mirror/debroot.sh), whose programs are never run: ELF files are read
with readelf and their libraries found in ROOT, as the dynamic loader would.
SANDBOX_ROOT is where the builders see ROOT ("" for /, whose files keep their
own paths). OUT_SANDBOX_PATHS gets the paths the builders read, one a line,
for Nix's extra-sandbox-paths (TARGET=SOURCE for ROOT); OUT_DEBS the Debian
packages whose files the set copies, one a line.
"""

import glob
import os
import re
import subprocess
import sys

# What differs between the systems: Debian's multiarch triplet, glibc's
# dynamic loader and the ELF e_machine of their programs.
SYSTEMS = {
    "x86_64-linux": dict(triplet="x86_64-linux-gnu", interpreter="ld-linux-x86-64.so.2", machine=62),
    "aarch64-linux": dict(triplet="aarch64-linux-gnu", interpreter="ld-linux-aarch64.so.1", machine=183),
}

# glibc's own libraries (besides the loader): one store path, copied as they
# are (patching glibc makes programs crash, and it needs no RUNPATH).
GLIBC_LIBS = [
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


class Tree:
    """A Debian file tree: the host (/) or unpacked .debs under a directory.

    Paths are the tree's own (/usr/bin/bash); symlinks resolve inside it, an
    absolute target meaning the tree's root, as in a chroot."""

    def __init__(self, root, sandbox_root):
        self.root = os.path.realpath(root)
        self.host = self.root == "/"
        self.sandbox_root = sandbox_root

    def path(self, p):
        """The host path of tree path p."""
        return p if self.host else self.root + p

    def real(self, p):
        """p with every symlink resolved (os.path.realpath in the tree)."""
        if self.host:
            return os.path.realpath(p)
        parts = [c for c in p.split("/") if c]
        done = ""
        hops = 0
        while parts:
            c = parts.pop(0)
            if c == ".":
                continue
            if c == "..":
                done = os.path.dirname(done) if done else ""
                continue
            cand = done + "/" + c
            if os.path.islink(self.root + cand):
                hops += 1
                if hops > 40:
                    sys.exit(f"gen.py: too many levels of symbolic links in {self.root}: {p}")
                target = os.readlink(self.root + cand)
                if target.startswith("/"):
                    done = ""
                parts = [t for t in target.split("/") if t] + parts
            else:
                done = cand
        return done or "/"

    def lpath(self, p):
        """The host path of p with its directories resolved (p itself not)."""
        d, name = os.path.split(p)
        return self.path(os.path.join(self.real(d), name))

    def lexists(self, p):
        return os.path.lexists(self.lpath(p))

    def islink(self, p):
        return os.path.islink(self.lpath(p))

    def readlink(self, p):
        return os.readlink(self.lpath(p))

    def isfile(self, p):
        return os.path.isfile(self.path(self.real(p)))

    def isdir(self, p):
        return os.path.isdir(self.path(self.real(p)))

    def listdir(self, p):
        return os.listdir(self.path(self.real(p)))

    def open(self, p):
        return open(self.path(self.real(p)), "rb")

    def sandbox(self, p):
        """Where a builder reads tree path p."""
        return p if self.host else self.sandbox_root + self.real(p)


def deb_bins(tree, pkg, names):
    """Paths of the named programs in tree, checked to exist."""
    out = []
    for n in names:
        for d in ("/usr/bin", "/usr/sbin", "/bin", "/sbin"):
            p = os.path.join(d, n)
            if tree.lexists(p):
                out.append((p, "bin/" + n))
                break
        else:
            sys.exit(f"gen.py: {pkg}: program {n} not found in {tree.root}")
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
def package_specs(tree):
    """The package set, with the programs of tree."""
    return {
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
                tree, "shadow",
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
        "curl": dict(deb="curl", files=deb_bins(tree, "curl", ["curl"]), man=["curl"]),
        "jq": dict(deb="jq", files=deb_bins(tree, "jq", ["jq"]), man=["jq"]),
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
        "gnugrep": dict(deb="grep", files=deb_bins(tree, "gnugrep", ["grep", "egrep", "fgrep"]), man=["grep"]),
        "gnused": dict(deb="sed", files=deb_bins(tree, "gnused", ["sed"]), man=["sed"]),
        "gnutar": dict(deb="tar", files=deb_bins(tree, "gnutar", ["tar"]), man=["tar"]),
        "gzip": dict(deb="gzip", files=deb_bins(tree, "gzip", ["gzip", "gunzip", "zcat"]), man=["gzip"]),
        "xz": dict(
            deb="xz-utils",
            files=deb_bins(tree, "xz", ["xz"]),
            links=[("xz", "bin/" + n) for n in ["unxz", "xzcat", "lzma", "unlzma", "lzcat"]],
            man=["xz-utils"],
        ),
        "less": dict(deb="less", files=deb_bins(tree, "less", ["less", "lesskey", "lessecho"]), man=["less"]),
        "findutils": dict(deb="findutils", files=deb_bins(tree, "findutils", ["find", "xargs"]), man=["findutils"]),
        "which": dict(deb="debianutils", files=[("/usr/bin/which.debianutils", "bin/which")]),
        "procps": dict(
            deb="procps",
            files=deb_bins(tree, "procps", ["ps", "top", "free", "kill", "pgrep", "pkill", "pidwait",
                                      "pmap", "pwdx", "uptime", "vmstat", "w", "watch", "sysctl",
                                      "slabtop", "tload", "skill", "snice"]),
            man=["procps"],
        ),
        "openssh": dict(
            deb="openssh-client",
            files=deb_bins(tree, "openssh", ["ssh", "scp", "sftp", "ssh-keygen", "ssh-add", "ssh-agent",
                                       "ssh-keyscan", "sshd"])
            + [("/usr/lib/openssh/" + n, "libexec/" + n)
               for n in ["sftp-server", "ssh-keysign", "ssh-pkcs11-helper", "ssh-sk-helper"]]
            # sshd's Diffie-Hellman groups, in etc/ssh as nixpkgs' openssh has them
            # (NixOS links /etc/ssh/moduli there).
            + [("/etc/ssh/moduli", "etc/ssh/moduli")],
            man=["openssh-client", "openssh-server", "openssh-sftp-server"],
        ),
        "hello": dict(deb="hello", files=deb_bins(tree, "hello", ["hello"]), man=["hello"]),
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
        "sqlite": dict(deb="sqlite3", files=deb_bins(tree, "sqlite", ["sqlite3"]), man=["sqlite3"]),
        # Terminal descriptions for libtinfo (bash, less, vim, top). Debian's
        # libtinfo looks in /usr/share/terminfo and friends: an image points
        # TERMINFO_DIRS at this share/terminfo.
        "ncurses": dict(
            deb="ncurses-bin",
            files=deb_bins(tree, "ncurses", ["clear", "infocmp", "tabs", "tic", "toe", "tput", "tset"]),
            links=[("tset", "bin/reset"), ("tic", "bin/captoinfo"), ("tic", "bin/infotocap")],
            trees=[("/lib/terminfo", "share/terminfo"), ("/usr/share/terminfo", "share/terminfo")],
            man=["ncurses-bin"],
        ),
    }


ALIASES = {"bashInteractive": "bash"}


def run(*cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, env=dict(os.environ, LC_ALL="C")).stdout


SH_SHEBANG = re.compile(rb"^#! ?(/usr)?/bin/(ba)?sh(\s|$)")


def kind_of(tree, path):
    """elf, script (a /bin/sh or bash script, pointed at the set's bash) or file."""
    with tree.open(path) as f:
        head = f.read(64)
    if head.startswith(b"\x7fELF"):
        return "elf"
    if SH_SHEBANG.match(head):
        return "script"
    return "file"


def elf_machine(tree, path):
    """The ELF e_machine of path (little-endian ELF), or None."""
    with tree.open(path) as f:
        head = f.read(20)
    if len(head) < 20 or not head.startswith(b"\x7fELF") or head[5] != 1:
        return None
    return int.from_bytes(head[18:20], "little")


def dynamic(tree, elf):
    """DT_NEEDED sonames and DT_RUNPATH (or DT_RPATH) dirs of elf, from readelf."""
    needed, runpath, rpath = [], [], []
    for line in run("readelf", "-dW", tree.path(tree.real(elf))).splitlines():
        m = re.search(r"\((NEEDED|RUNPATH|RPATH)\)\s+[^[]*\[(.*)\]$", line)
        if not m:
            continue
        if m.group(1) == "NEEDED":
            needed.append(m.group(2))
        else:
            dirs = [d.replace("$ORIGIN", os.path.dirname(elf)).replace("${ORIGIN}", os.path.dirname(elf))
                    for d in m.group(2).split(":") if d]
            (runpath if m.group(1) == "RUNPATH" else rpath).extend(dirs)
    return needed, runpath or rpath


def upstream_version(v):
    v = v.split(":", 1)[-1]
    if "-" in v:
        v = v.rsplit("-", 1)[0]
    return re.sub(r"[^A-Za-z0-9+._-]", "_", v)


def dpkg_versions(tree):
    out = run("dpkg-query", "--admindir=" + tree.path("/var/lib/dpkg"), "-W",
              "-f", "${Package} ${Version} ${db:Status-Status}\n")
    vers = {}
    for line in out.splitlines():
        name, ver, status = line.split(" ")
        if status == "installed":
            vers[name.split(":")[0]] = ver
    return vers


def dpkg_owners(tree):
    """Map of every path dpkg lists to its package (merged /usr aware)."""
    owners = {}
    for lst in glob.glob(tree.path("/var/lib/dpkg/info/*.list")):
        pkg = os.path.basename(lst)[: -len(".list")].split(":")[0]
        with open(lst) as f:
            for line in f:
                owners[line.rstrip("\n")] = pkg
    return owners


def owner_of(tree, owners, path):
    """The package owning path, or None."""
    cands = [path, tree.real(path)]
    for p in list(cands):
        if p.startswith("/usr/"):
            cands.append(p[4:])
        else:
            cands.append("/usr" + p)
    for p in cands:
        if p in owners:
            return owners[p]
    return None


def man_pages(tree, owners_by_pkg, pkgs):
    out = []
    for pkg in pkgs:
        for p in sorted(owners_by_pkg.get(pkg, [])):
            m = re.match(r"^/usr/share/man/(man[158])/[^/]+$", p)
            if m and tree.isfile(p):
                out.append((p, "share/man/" + m.group(1) + "/" + os.path.basename(p)))
    return out


class Libs:
    """Resolves sonames to files of the tree and records each library's needs,
    as the dynamic loader would: a soname already found is reused, others are
    looked up in the object's RUNPATH, then in the multiarch and default
    directories."""

    def __init__(self, tree, system):
        self.tree = tree
        self.system = system
        self.glibc = [system["interpreter"]] + GLIBC_LIBS
        t = system["triplet"]
        self.dirs = ["/lib/" + t, "/usr/lib/" + t, "/lib", "/usr/lib"]
        self.path = {}   # soname -> tree path
        self.needs = {}  # soname -> [sonames]

    def find(self, so, runpath, elf):
        for d in runpath + self.dirs:
            p = d + "/" + so
            if self.tree.isfile(p) and elf_machine(self.tree, p) == self.system["machine"]:
                return p
        sys.exit(f"gen.py: {elf}: cannot resolve {so} in {self.tree.root}")

    def resolve(self, elf):
        """Direct NEEDED sonames of elf, with every library they pull in recorded."""
        needed, runpath = dynamic(self.tree, elf)
        for so in needed:
            if so in self.glibc or so in self.needs:
                continue
            if so not in self.path:
                self.path[so] = self.find(so, runpath, elf)
            self.needs[so] = []  # mark before recursing (cycles)
            self.needs[so] = self.resolve(self.path[so])
        return needed


def nix_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("${", "\\${") + '"'


def check_word(s):
    if not s or re.search(r"\s", s):
        sys.exit(f"gen.py: path with white space is not supported: {s!r}")
    return s


def walk_tree(tree, src, dst, entries):
    """Copy list entries for a directory of tree; symlinks leaving it are followed."""
    for name in sorted(tree.listdir(src)):
        s, d = src + "/" + name, dst + "/" + name
        if " " in name or "\t" in name or "\n" in name:
            sys.exit(f"gen.py: path with white space is not supported: {s!r}")
        if tree.islink(s):
            t = tree.readlink(s)
            if not t.startswith("/") and tree.real(s).startswith(tree.real(src) + "/"):
                entries.append(("link", t, d))
                continue
            s = tree.real(s)
        if tree.isdir(s):
            walk_tree(tree, s, d, entries)
        elif tree.isfile(s):
            entries.append((kind_of(tree, s), s, d))


def main():
    if len(sys.argv) != 7 or sys.argv[1] not in SYSTEMS:
        sys.exit(f"usage: gen.py {{{'|'.join(SYSTEMS)}}} ROOT SANDBOX_ROOT OUT_MANIFEST OUT_SANDBOX_PATHS OUT_DEBS")
    system = SYSTEMS[sys.argv[1]]
    tree = Tree(sys.argv[2], sys.argv[3])
    out_path, sandbox_out, debs_out = sys.argv[4:7]
    vers = dpkg_versions(tree)
    owners = dpkg_owners(tree)
    by_pkg = {}
    for p, pkg in owners.items():
        by_pkg.setdefault(pkg, []).append(p)

    specs = package_specs(tree)
    specs["coreutils"]["files"] = deb_bins(
        tree, "coreutils",
        sorted({os.path.basename(p) for p in by_pkg["coreutils"]
                if re.match(r"^(/usr)?/s?bin/[^/]+$", p)}))

    libs = Libs(tree, system)
    debs = {"libc6"}
    pkgs_out = {}
    for attr, spec in sorted(specs.items()):
        if spec["deb"] not in vers:
            sys.exit(f"gen.py: Debian package {spec['deb']} is not installed in {tree.root}")
        debs.add(spec["deb"])
        debs.update(spec.get("man", []))
        entries = []
        for src, dst in spec.get("files", []):
            real = tree.real(src)
            entries.append((kind_of(tree, real), real, dst))
        for src, dst in spec.get("trees", []):
            walk_tree(tree, src, dst, entries)
        # Trees merged into one directory: the first one listed wins.
        seen = set()
        entries = [e for e in entries if not (e[2] in seen or seen.add(e[2]))]
        for src, dst in man_pages(tree, by_pkg, spec.get("man", [])):
            entries.append(("file", src, dst))
        for target, dst in spec.get("links", []):
            entries.append(("link", target, dst))
        for target, dst in spec.get("wrap", []):
            entries.append(("wrap", target, dst))
        needed = set()
        for kind, src, _ in entries:
            if kind == "elf":
                machine = elf_machine(tree, src)
                if machine != system["machine"]:
                    sys.exit(f"gen.py: {attr}: {src} is an ELF file of machine {machine}, not {sys.argv[1]}'s {system['machine']}")
                needed.update(libs.resolve(src))
        seen = set()
        for e in entries:
            if e[2] in seen:
                sys.exit(f"gen.py: {attr}: {e[2]} listed twice")
            seen.add(e[2])
            check_word(e[1])
            check_word(e[2])
            if e[0] in ("elf", "file", "script"):
                owner = owner_of(tree, owners, e[1])
                if owner:
                    debs.add(owner)
        needs = set(spec.get("needs", []))
        if attr != "bash" and any(e[0] == "script" for e in entries):
            needs.add("bash")
        pkgs_out[attr] = dict(
            pname=spec.get("pname", attr),
            version=upstream_version(vers[spec["deb"]]),
            libs=sorted(n for n in needed if n not in libs.glibc),
            needs=sorted(needs),
            copy=[(k, tree.sandbox(a) if k in ("elf", "file", "script") else a, b) for k, a, b in entries],
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
        for d in (n for n in libs.needs[so] if n not in libs.glibc):
            visit(d, stack + [so])
        state[so] = 2

    for so in sorted(libs.needs):
        visit(so, [])

    glibc_dir = "/lib/" + system["triplet"]
    w = []
    w.append("# Generated by hack/mirror/gen.py; do not edit.")
    w.append("{")
    glibc = [s for s in libs.glibc if tree.lexists(os.path.join(glibc_dir, s))]
    w.append("  glibc = { pname = \"glibc\"; version = %s; sonames = [ %s ]; dir = %s; interpreter = %s; };" % (
        nix_str(upstream_version(vers["libc6"])), " ".join(nix_str(s) for s in glibc),
        nix_str(tree.sandbox(glibc_dir)), nix_str(system["interpreter"])))
    w.append("  libs = {")
    for so in sorted(libs.needs):
        src = tree.real(libs.path[so])
        pkg = owner_of(tree, owners, libs.path[so])
        if pkg is None:
            sys.exit(f"gen.py: no Debian package owns {libs.path[so]}")
        debs.add(pkg)
        pname = re.sub(r"\.so(\..*)?$", "", so)
        pname = re.sub(r"[^A-Za-z0-9+._-]", "_", pname)
        w.append("    %s = { pname = %s; version = %s; src = %s; needs = [ %s ]; };" % (
            nix_str(so), nix_str(pname), nix_str(upstream_version(vers[pkg])), nix_str(check_word(tree.sandbox(src))),
            " ".join(nix_str(d) for d in sorted(libs.needs[so]) if d not in libs.glibc)))
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

    # The builders run the host's patchelf. Bind whole top-level directories,
    # but only the needed entries of /etc: the sandbox makes its own
    # /etc/passwd, /etc/group and /etc/hosts. A tree other than the host's is
    # bound as a whole at SANDBOX_ROOT.
    srcs = ["/usr/bin/patchelf", "/lib/x86_64-linux-gnu"]
    if tree.host:
        srcs += [libs.path[so] for so in libs.needs] + [glibc_dir]
        srcs += [src for p in pkgs_out.values() for kind, src, _ in p["copy"] if kind in ("elf", "file", "script")]
    roots = set()
    for src in srcs:
        parts = src.split("/")
        roots.add("/".join(parts[:3]) if parts[1] == "etc" else "/" + parts[1])
    roots.add("/lib64")
    if not tree.host:
        roots.add(tree.sandbox_root + "=" + tree.root)
    with open(sandbox_out, "w") as f:
        f.write("\n".join(sorted(roots)) + "\n")
    with open(debs_out, "w") as f:
        f.write("\n".join(sorted(debs)) + "\n")


if __name__ == "__main__":
    main()
