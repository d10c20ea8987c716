package nixstep

import "fmt"

// CheckNarHash fails unless the tree at dir has the NAR hash want (SRI),
// naming both hashes and where, the spec field that pinned it.
func CheckNarHash(dir, want, where string) error {
	got, err := NarHash(dir)
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("NAR hash mismatch for the unpacked tree (%s): the spec pins %s, the tree has %s; "+
			"if the new tree is the one you want, pin narHash: %s", where, want, got, got)
	}
	return nil
}
