package nixstep

import (
	"encoding/base64"
	"fmt"
)

// checkPin fails unless the NAR sha256 sum is the one a spec pins (want,
// SRI; "" pins nothing), naming both hashes and where, the spec field
// that pinned it.
func checkPin(sum []byte, want, where string) error {
	if want == "" {
		return nil
	}
	if got := "sha256-" + base64.StdEncoding.EncodeToString(sum); got != want {
		return fmt.Errorf("NAR hash mismatch for the unpacked tree (%s): the spec pins %s, the tree has %s; "+
			"if the new tree is the one you want, pin narHash: %s", where, want, got, got)
	}
	return nil
}
