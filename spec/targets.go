package spec

import (
	"cmp"
	"slices"
)

// Targets returns the target names, sorted: always "default" and "ssh".
func (s *Spec) Targets() []string {
	return []string{TargetDefault, TargetSSH}
}

func sortedKeys[M ~map[K]V, K cmp.Ordered, V any](m M) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
