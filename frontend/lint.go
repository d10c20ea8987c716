package frontend

import (
	"context"
	"errors"
	"fmt"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/frontend/dockerui"
	"github.com/moby/buildkit/frontend/gateway/client"
	"github.com/moby/buildkit/frontend/subrequests/lint"
	"github.com/moby/buildkit/solver/pb"
	"github.com/nix-image/nix-image/spec"
)

// lintSpec answers --call check: the rules' warnings on a valid spec,
// or the spec's errors (parse, validation, build args, target) as the
// result's error. buildx prints each with its YAML lines.
func lintSpec(s *spec.Spec, specErr error, target string, data []byte, sm *llb.SourceMap) *lint.LintResults {
	// Like lint.LintResults.AddSource, which needs the source's LLB
	// definition (only set once the source is marshaled).
	info := &pb.SourceInfo{Filename: sm.Filename, Language: sm.Language, Data: sm.Data}
	if sm.Definition != nil {
		info.Definition = sm.Definition.ToPB()
	}
	res := &lint.LintResults{Sources: []*pb.SourceInfo{info}}
	const idx = 0
	if specErr == nil {
		if _, err := s.Resolve(target); err != nil {
			specErr = err
		}
	}
	if specErr != nil {
		res.Error = &lint.BuildError{Message: specErr.Error(), Location: pb.Location{SourceIndex: idx, Ranges: errorRanges(specErr)}}
		return res
	}
	for _, w := range s.Lint(data) {
		loc := &pb.Location{SourceIndex: -1}
		if w.Pos.IsValid() {
			loc = &pb.Location{SourceIndex: idx, Ranges: []*pb.Range{lineRange(w.Pos)}}
		}
		detail := w.Msg
		if w.Path != "" {
			detail = w.Path + ": " + w.Msg
		}
		res.Warnings = append(res.Warnings, lint.Warning{
			RuleName:    w.Rule.Name,
			Description: w.Rule.Description,
			URL:         spec.RulesURL,
			Detail:      detail,
			Location:    loc,
		})
	}
	return res
}

// handleLintOfInvalid answers --call check for a spec that did not parse
// or whose build args do not apply: the other subrequests need a spec,
// this one reports why there is none.
func handleLintOfInvalid(ctx context.Context, bc *dockerui.Client, specErr error, target string, src *dockerui.Source) (*client.Result, bool, error) {
	if bc.BuildOpts().Opts[requestIDKey] != lint.SubrequestLintDefinition.Name {
		return nil, false, nil
	}
	return bc.HandleSubrequest(ctx, dockerui.RequestHandler{
		Lint: func(context.Context) (*lint.LintResults, error) {
			return lintSpec(nil, specErr, target, src.Data, src.SourceMap), nil
		},
	})
}

// requestIDKey is the frontend option that names a subrequest (dockerui
// keeps its own copy unexported).
const requestIDKey = "requestid"

// errorRanges are the lines of a spec error list.
func errorRanges(err error) []*pb.Range {
	var list spec.ErrorList
	if !errors.As(err, &list) {
		var plist *spec.ErrorList
		if !errors.As(err, &plist) || plist == nil {
			return nil
		}
		list = *plist
	}
	var out []*pb.Range
	for _, e := range list {
		if e.Pos.IsValid() {
			out = append(out, lineRange(e.Pos))
		}
	}
	return out
}

func lineRange(p spec.Pos) *pb.Range {
	return &pb.Range{Start: &pb.Position{Line: int32(p.Line), Character: int32(p.Col)}, End: &pb.Position{Line: int32(p.Line)}}
}

// warnLint reports the lint rules' findings as build warnings, as the
// Dockerfile frontend does: buildx lists them after the build.
func warnLint(ctx context.Context, s *spec.Spec, src *dockerui.Source) {
	for _, w := range s.Lint(src.Data) {
		msg := w.Rule.Name + ": " + w.Msg
		opts := client.WarnOpts{Level: 1, Detail: [][]byte{[]byte(w.Rule.Description)}, URL: spec.RulesURL}
		if w.Pos.IsValid() {
			msg = fmt.Sprintf("%s (line %d)", msg, w.Pos.Line)
			opts.Range = []*pb.Range{lineRange(w.Pos)}
		}
		src.Warn(ctx, msg, opts)
	}
}
