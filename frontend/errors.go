package frontend

import (
	"errors"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/errdefs"
	"github.com/moby/buildkit/solver/pb"
	"github.com/nix-image/nix-image/spec"
)

// withSpecSource attaches the YAML lines of spec errors to err, so that
// buildctl and buildx print them under the message.
func withSpecSource(err error, sm *llb.SourceMap) error {
	var list spec.ErrorList
	if !errors.As(err, &list) {
		var plist *spec.ErrorList
		if !errors.As(err, &plist) || plist == nil {
			return err
		}
		list = *plist
	}
	if sm == nil {
		return err
	}
	var ranges []*pb.Range
	for _, e := range list {
		if e.Pos.IsValid() {
			ranges = append(ranges, &pb.Range{
				Start: &pb.Position{Line: int32(e.Pos.Line), Character: int32(e.Pos.Col)},
				End:   &pb.Position{Line: int32(e.Pos.Line)},
			})
		}
	}
	if len(ranges) == 0 {
		return err
	}
	info := &pb.SourceInfo{Data: sm.Data, Filename: sm.Filename, Language: sm.Language}
	if sm.Definition != nil {
		info.Definition = sm.Definition.ToPB()
	}
	return errdefs.WithSource(err, &errdefs.Source{Info: info, Ranges: ranges})
}
