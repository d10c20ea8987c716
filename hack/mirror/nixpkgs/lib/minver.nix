# The oldest Nix this package set evaluates with (as nixpkgs' lib/minver.nix).
"2.3.17"
