package main

import (
	"encoding/json"
	"sort"
	"strings"
	"time"

	"github.com/nix-image/nix-image/internal/testenv"
)

// vertex is what the rawjson progress stream says about one LLB vertex
// over a whole build.
type vertex struct {
	name      string
	hasInputs bool
	// starts are the distinct times the vertex was reported started.
	starts    map[time.Time]bool
	first     time.Time // earliest start
	last      time.Time // latest completion
	completed bool
	cached    bool
	failed    bool
}

// parseVertices reads the vertices of a rawjson progress stream (other
// lines are skipped), in order of first appearance.
func parseVertices(stderr string) []*vertex {
	byDigest := map[string]*vertex{}
	var out []*vertex
	for _, line := range strings.Split(stderr, "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var st struct {
			Vertexes []testenv.Vertex `json:"vertexes"`
		}
		if json.Unmarshal([]byte(line), &st) != nil {
			continue
		}
		for _, rv := range st.Vertexes {
			v, ok := byDigest[rv.Digest]
			if !ok {
				v = &vertex{starts: map[time.Time]bool{}}
				byDigest[rv.Digest] = v
				out = append(out, v)
			}
			if rv.Name != "" {
				v.name = rv.Name
			}
			v.hasInputs = v.hasInputs || len(rv.Inputs) > 0
			if rv.Started != nil {
				v.starts[*rv.Started] = true
				if v.first.IsZero() || rv.Started.Before(v.first) {
					v.first = *rv.Started
				}
			}
			if rv.Completed != nil {
				v.completed = true
				if rv.Completed.After(v.last) {
					v.last = *rv.Completed
				}
			}
			v.cached = v.cached || rv.Cached
			v.failed = v.failed || rv.Error != ""
		}
	}
	return out
}

// ran reports whether a vertex did its work in this build, rather than
// taking its result from the cache.
//
// BuildKit reports a vertex without inputs (a source: image, HTTP, local
// files; or a file operation on scratch) as started and completed, not
// cached, while it computes the vertex's cache key; when the key hits the
// cache and the result is never loaded, that report is all there is. Such a
// vertex ran only when it was reported started a second time (its
// execution). A vertex with inputs is reported only when it is loaded from
// the cache (cached) or executed.
func (v *vertex) ran() bool {
	if !v.completed || v.cached || v.failed {
		return false
	}
	return v.hasInputs || len(v.starts) > 1
}

// executedOps names the vertices of a build that ran (see ran), leaving out
// what every build does whatever changed: the exporter's and the push's
// progress, the Dockerfile frontend's reads of its input (the build
// definition, .dockerignore, the context) and the image metadata lookups
// (resolving `# syntax=` and FROM references in the registry), which are
// not LLB operations of the image.
func executedOps(vs []*vertex) []string {
	var names []string
	for _, v := range vs {
		if v.ran() && !everyBuild(v.name) {
			names = append(names, v.name)
		}
	}
	sort.Strings(names)
	return names
}

func everyBuild(name string) bool {
	for _, prefix := range []string{
		"exporting ", "pushing ", "writing image", "naming to", "[auth]",
		"[internal] load build definition", "[internal] load .dockerignore",
		"[internal] load metadata for ", "resolve image config for ",
		"[internal] load build context",
	} {
		if strings.HasPrefix(name, prefix) {
			return true
		}
	}
	return false
}

// step is a vertex that ran and how long it took (first start to last
// completion; steps overlap).
type step struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"s"`
}

// slowest returns the n vertices that ran longest.
func slowest(vs []*vertex, n int) []step {
	var steps []step
	for _, v := range vs {
		if v.ran() && !v.first.IsZero() {
			steps = append(steps, step{v.name, round2(v.last.Sub(v.first).Seconds())})
		}
	}
	sort.SliceStable(steps, func(i, j int) bool { return steps[i].Seconds > steps[j].Seconds })
	return steps[:min(n, len(steps))]
}
