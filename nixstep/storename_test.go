package nixstep

import "testing"

func TestStoreName(t *testing.T) {
	for _, tc := range []struct{ path, want string }{
		{"/nix/store/i1fqwhzdr1zl219ys2qq6xml25wzvxld-curl-7.88.1-bin", "curl-7.88.1-bin"},
		{"/nix/store/s193kd0zs0a5ccpgraa2zlhyq426kfpd-env-manifest.nix", "env-manifest.nix"},
		{"/nix/store/nohash", "nohash"},
	} {
		if got := StoreName(tc.path); got != tc.want {
			t.Errorf("StoreName(%s) = %q, want %q", tc.path, got, tc.want)
		}
	}
}
