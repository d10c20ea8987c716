# A stand-in for nixpkgs for TestPackageMeta: meta in the shapes nixpkgs uses.
{ config ? {}, overlays ? [], system ? builtins.currentSystem }:
let mk = attrs: derivation ({ inherit system; builder = "/bin/sh"; } // attrs); in {
  hello = mk { name = "hello-2.12"; pname = "hello"; version = "2.12"; } // { meta = { license = { spdxId = "GPL-3.0-or-later"; shortName = "gpl3Plus"; }; homepage = "https://www.gnu.org/software/hello/"; description = "Says hello"; }; };
  multi = mk { name = "multi-1.0"; outputs = [ "out" "man" ]; } // { meta = { license = [ { spdxId = "MIT"; } { shortName = "unfree"; } ]; homepage = [ "https://a.example" "https://b.example" ]; }; };
  plain = mk { name = "plain"; };
  str = mk { name = "str-1"; } // { meta.license = "bsd"; };
  bad = throw "unfree";
  nested.pkg = mk { name = "nested-1"; };
  withsrc = mk {
    name = "withsrc-1.0"; pname = "withsrc"; version = "1.0";
    src = mk {
      name = "withsrc-1.0.tar.gz";
      urls = [ "https://a.example/withsrc-1.0.tar.gz" "https://b.example/withsrc-1.0.tar.gz" ];
      outputHashMode = "flat"; outputHashAlgo = "sha256";
      outputHash = "0000000000000000000000000000000000000000000000000000000000000000";
    };
  };
}
