package llbgen

import (
	"errors"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/errdefs"
	"github.com/moby/buildkit/solver/pb"
	"github.com/nix-image/nix-image/spec"
)

// SourceMap turns positions in the spec into every form BuildKit wants
// them in: constraints that locate a step (buildx prints the YAML line
// when it fails), the errdefs source of an error, and the pb.Location and
// pb.Range of subrequest answers, lint results and warnings. A nil
// SourceMap, or one without a spec, locates nothing.
type SourceMap struct {
	src *llb.SourceMap
	// spec finds the positions of field paths; nil for a spec that did
	// not parse.
	spec Positions
}

// Positions find where field paths were written in the spec: a
// *spec.Spec or a *spec.Resolved.
type Positions interface {
	Position(path string) (spec.Pos, bool)
}

// NewSourceMap is the source map of the spec whose positions are s (nil
// if it did not parse), read from src.
func NewSourceMap(src *llb.SourceMap, s Positions) *SourceMap {
	return &SourceMap{src: src, spec: s}
}

// Data is the spec's source.
func (m *SourceMap) Data() []byte {
	if m == nil || m.src == nil {
		return nil
	}
	return m.src.Data
}

// Info describes the source, for lint results and errors.
func (m *SourceMap) Info() *pb.SourceInfo {
	info := &pb.SourceInfo{Filename: m.src.Filename, Language: m.src.Language, Data: m.src.Data}
	if m.src.Definition != nil {
		info.Definition = m.src.Definition.ToPB()
	}
	return info
}

// position is where the field path was written, if it was.
func (m *SourceMap) position(path string) (spec.Pos, bool) {
	if m == nil || m.spec == nil {
		return spec.Pos{}, false
	}
	return m.spec.Position(path)
}

// Constraints locate a step at the line of the field path.
func (m *SourceMap) Constraints(path string) []llb.ConstraintsOpt {
	pos, ok := m.position(path)
	if !ok || m.src == nil {
		return nil
	}
	return []llb.ConstraintsOpt{m.src.Location([]*pb.Range{lineRange(pos)})}
}

// Location is the line of the field path, for subrequest answers; nil
// when it is not in the source.
func (m *SourceMap) Location(path string) *pb.Location {
	pos, ok := m.position(path)
	if !ok {
		return nil
	}
	return &pb.Location{Ranges: []*pb.Range{lineRange(pos)}}
}

// Range is the line of pos from its column, for lint results and
// warnings.
func (m *SourceMap) Range(pos spec.Pos) *pb.Range {
	r := lineRange(pos)
	r.Start.Character = int32(pos.Col)
	return r
}

// ErrorRanges are the lines of the spec errors in err's chain (see Range).
func (m *SourceMap) ErrorRanges(err error) []*pb.Range {
	var list spec.ErrorList
	if !errors.As(err, &list) {
		return nil
	}
	var out []*pb.Range
	for _, e := range list {
		if e.Pos.IsValid() {
			out = append(out, m.Range(e.Pos))
		}
	}
	return out
}

// WithSource attaches the YAML lines of the spec errors in err's chain to
// err, so that buildctl and buildx print them under the message.
func (m *SourceMap) WithSource(err error) error {
	if m == nil || m.src == nil {
		return err
	}
	ranges := m.ErrorRanges(err)
	if len(ranges) == 0 {
		return err
	}
	return errdefs.WithSource(err, &errdefs.Source{Info: m.Info(), Ranges: ranges})
}

// lineRange is the line of pos, without columns.
func lineRange(pos spec.Pos) *pb.Range {
	return &pb.Range{Start: &pb.Position{Line: int32(pos.Line)}, End: &pb.Position{Line: int32(pos.Line)}}
}
