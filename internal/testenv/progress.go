package testenv

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Progress is a parsed `buildctl --progress=rawjson` stream.
type Progress struct {
	// Vertices in the order they first appeared, one per digest, with
	// their updates merged.
	Vertices []*Vertex
	// Logs of all vertices (RUN output etc.), in order.
	Logs []VertexLog
	// Warnings from the frontend (lint, deprecations).
	Warnings []Warning
}

// Vertex is one LLB vertex as the progress stream reports it.
type Vertex struct {
	Digest    string     `json:"digest"`
	Inputs    []string   `json:"inputs"`
	Name      string     `json:"name"`
	Started   *time.Time `json:"started"`
	Completed *time.Time `json:"completed"`
	Cached    bool       `json:"cached"`
	Error     string     `json:"error"`

	// FirstStarted is the earliest start reported (Started is the latest),
	// Completed the latest completion: together, how long the vertex took.
	FirstStarted *time.Time `json:"-"`
	// starts are the distinct times the vertex was reported started.
	starts map[time.Time]bool
}

// Executed reports whether the vertex ran: it completed without error and
// was not a cache hit.
func (v *Vertex) Executed() bool {
	return v.Completed != nil && !v.Cached && v.Error == ""
}

// Ran reports whether the vertex did its work in this build rather than
// taking its result from the cache: the one rule of the tests' no-change
// checks and of the bench.
//
// BuildKit reports a vertex without inputs (a source: image, HTTP, local
// files; or a file operation on scratch) as started and completed, not
// cached, while it computes the vertex's cache key; when the key hits the
// cache and the result is never loaded, that report is all there is. Such
// a vertex ran only when it was reported started a second time (its
// execution). A vertex with inputs is reported only when it is loaded from
// the cache (cached) or executed.
func (v *Vertex) Ran() bool {
	return v.Executed() && (!v.IsSource() || len(v.starts) > 1)
}

// Starts is the number of distinct times the vertex was reported started.
func (v *Vertex) Starts() int { return len(v.starts) }

// IsSource reports whether the vertex has no inputs: a source (local
// context, image, HTTP, Git) or an op on scratch. BuildKit re-checks
// sources on every build (an HTTP source is fetched again to compare its
// content), so they complete uncached even when nothing changed; the steps
// that consume them are cached if the content is the same.
func (v *Vertex) IsSource() bool {
	return len(v.Inputs) == 0
}

// VertexLog is output a vertex wrote (stream 1 stdout, 2 stderr).
type VertexLog struct {
	Vertex string `json:"vertex"`
	Stream int    `json:"stream"`
	Data   []byte `json:"data"`
}

// Warning is a build warning.
type Warning struct {
	Vertex string `json:"vertex"`
	Level  int    `json:"level"`
	Short  []byte `json:"short"`
}

// solveStatus is one rawjson line (the JSON form of BuildKit's
// client.SolveStatus; only what tests use).
type solveStatus struct {
	Vertexes []*Vertex     `json:"vertexes"`
	Statuses []statusEntry `json:"statuses"`
	Logs     []VertexLog   `json:"logs"`
	Warnings []Warning     `json:"warnings"`
}

// statusEntry is a vertex's sub-task ("exporting layers", "pushing
// layers", a download), as BuildWatch reports them.
type statusEntry struct {
	ID        string     `json:"id"`
	Started   *time.Time `json:"started"`
	Completed *time.Time `json:"completed"`
}

// ParseProgress splits buildctl's stderr into the rawjson progress stream
// and the remaining text (error messages), which it returns as rest.
func ParseProgress(stderr string) (p *Progress, rest string) {
	p = &Progress{}
	byDigest := map[string]*Vertex{}
	var other []string
	for _, line := range strings.Split(stderr, "\n") {
		var st solveStatus
		if !strings.HasPrefix(line, "{") || json.Unmarshal([]byte(line), &st) != nil {
			if line != "" {
				other = append(other, line)
			}
			continue
		}
		for _, v := range st.Vertexes {
			cur, ok := byDigest[v.Digest]
			if !ok {
				cur = &Vertex{Digest: v.Digest, starts: map[time.Time]bool{}}
				byDigest[v.Digest] = cur
				p.Vertices = append(p.Vertices, cur)
			}
			cur.merge(v)
		}
		p.Logs = append(p.Logs, st.Logs...)
		p.Warnings = append(p.Warnings, st.Warnings...)
	}
	return p, strings.Join(other, "\n")
}

// merge folds a later update of the same vertex into v. Updates repeat the
// whole vertex, but fields only ever get set, so never unset one.
func (v *Vertex) merge(u *Vertex) {
	if u.Name != "" {
		v.Name = u.Name
	}
	if len(u.Inputs) > 0 {
		v.Inputs = u.Inputs
	}
	if u.Started != nil {
		v.Started = u.Started
		v.starts[*u.Started] = true
		if v.FirstStarted == nil || u.Started.Before(*v.FirstStarted) {
			v.FirstStarted = u.Started
		}
	}
	if u.Completed != nil && (v.Completed == nil || u.Completed.After(*v.Completed)) {
		v.Completed = u.Completed
	}
	if u.Cached {
		v.Cached = true
	}
	if u.Error != "" {
		v.Error = u.Error
	}
}

// Executed returns the vertices that ran (see Vertex.Executed) and whose
// name contains substr ("" for all), sorted by name.
func (p *Progress) Executed(substr string) []*Vertex {
	var out []*Vertex
	for _, v := range p.Vertices {
		if v.Executed() && strings.Contains(v.Name, substr) {
			out = append(out, v)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// ExecutedSteps returns the vertices that ran (see Vertex.Ran) and whose
// name contains substr ("" for all), sorted by name, leaving out what every
// build runs whatever changed (see EveryBuild). Named or not (the copy
// fallback's copies have no name), every other vertex counts: a no-change
// rebuild must have no ExecutedSteps("").
func (p *Progress) ExecutedSteps(substr string) []*Vertex {
	var out []*Vertex
	for _, v := range p.Executed(substr) {
		if v.Ran() && !EveryBuild(v.Name) {
			out = append(out, v)
		}
	}
	return out
}

// EveryBuild reports whether a vertex name is one of what every build runs
// whatever changed: the exporter's and the push's progress, the cache
// import's manifest read, the Dockerfile frontend's reads of its input (the
// build definition, .dockerignore, the context) and the image metadata
// lookups (resolving `# syntax=` and FROM references in the registry),
// which are not LLB operations of the image. Bake's target prefixes
// ("[nix] exporting to image", "[nix internal] load build definition")
// are ignored.
func EveryBuild(name string) bool {
	for _, n := range []string{name, unprefixBake(name)} {
		for _, prefix := range []string{
			"exporting ", "pushing ", "writing image", "naming to", "[auth]",
			"importing cache manifest from ",
			"[internal] load build definition", "[internal] load .dockerignore",
			"[internal] load metadata for ", "resolve image config for ",
			"[internal] load build context",
		} {
			if strings.HasPrefix(n, prefix) {
				return true
			}
		}
	}
	return false
}

// unprefixBake removes the target prefix docker buildx bake puts in front
// of vertex names: "[tgt] x" is "x", "[tgt internal] x" is "[internal] x".
func unprefixBake(name string) string {
	head, rest, ok := strings.Cut(strings.TrimPrefix(name, "["), "] ")
	if !ok || !strings.HasPrefix(name, "[") {
		return name
	}
	if _, inner, ok := strings.Cut(head, " "); ok {
		return "[" + inner + "] " + rest
	}
	return rest
}

// Find returns the vertices whose name contains substr.
func (p *Progress) Find(substr string) []*Vertex {
	var out []*Vertex
	for _, v := range p.Vertices {
		if strings.Contains(v.Name, substr) {
			out = append(out, v)
		}
	}
	return out
}

// Output returns everything the vertices whose name contains substr wrote
// ("" for all vertices), in order.
func (p *Progress) Output(substr string) string {
	names := map[string]string{}
	for _, v := range p.Vertices {
		names[v.Digest] = v.Name
	}
	var b strings.Builder
	for _, l := range p.Logs {
		if strings.Contains(names[l.Vertex], substr) {
			b.Write(l.Data)
		}
	}
	return b.String()
}

// FailedOutput returns the last n lines each failed vertex wrote, under
// its name: what a failing build's error message alone does not show.
func (p *Progress) FailedOutput(n int) string {
	failed := map[string]bool{}
	for _, v := range p.Vertices {
		if v.Error != "" {
			failed[v.Digest] = true
		}
	}
	var b strings.Builder
	for _, v := range p.Vertices {
		if !failed[v.Digest] {
			continue
		}
		var out strings.Builder
		for _, l := range p.Logs {
			if l.Vertex == v.Digest {
				out.Write(l.Data)
			}
		}
		fmt.Fprintf(&b, "--- output of %q ---\n%s\n", v.Name, tail(out.String(), n))
	}
	return b.String()
}
