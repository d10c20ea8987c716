package frontend

import (
	"context"
	"fmt"

	"github.com/moby/buildkit/frontend/dockerui"
	"github.com/moby/buildkit/frontend/gateway/client"
	"github.com/moby/buildkit/frontend/subrequests/lint"
	"github.com/moby/buildkit/solver/pb"
	"github.com/nix-image/nix-image/llbgen"
	"github.com/nix-image/nix-image/spec"
)

// lintSpec answers --call check: the rules' warnings on a valid spec,
// or the spec's errors (parse, validation, build args, target) as the
// result's error. buildx prints each with its YAML lines.
func lintSpec(s *spec.Spec, specErr error, target string, sm *llbgen.SourceMap) *lint.LintResults {
	// Like lint.LintResults.AddSource, which needs the source's LLB
	// definition (only set once the source is marshaled).
	res := &lint.LintResults{Sources: []*pb.SourceInfo{sm.Info()}}
	const idx = 0
	if specErr == nil {
		if _, err := s.Resolve(target); err != nil {
			specErr = err
		}
	}
	if specErr != nil {
		res.Error = &lint.BuildError{Message: specErr.Error(), Location: pb.Location{SourceIndex: idx, Ranges: sm.ErrorRanges(specErr)}}
		return res
	}
	for _, w := range s.Lint(sm.Data()) {
		loc := &pb.Location{SourceIndex: -1}
		if w.Pos.IsValid() {
			loc = &pb.Location{SourceIndex: idx, Ranges: []*pb.Range{sm.Range(w.Pos)}}
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
func handleLintOfInvalid(ctx context.Context, bc *dockerui.Client, specErr error, target string, sm *llbgen.SourceMap) (*client.Result, bool, error) {
	if bc.BuildOpts().Opts[requestIDKey] != lint.SubrequestLintDefinition.Name {
		return nil, false, nil
	}
	return bc.HandleSubrequest(ctx, dockerui.RequestHandler{
		Lint: func(context.Context) (*lint.LintResults, error) {
			return lintSpec(nil, specErr, target, sm), nil
		},
	})
}

// requestIDKey is the frontend option that names a subrequest (dockerui
// keeps its own copy unexported).
const requestIDKey = "requestid"

// warnLint reports the lint rules' findings as build warnings, as the
// Dockerfile frontend does: buildx lists them after the build.
func warnLint(ctx context.Context, s *spec.Spec, src *dockerui.Source, sm *llbgen.SourceMap) {
	for _, w := range s.Lint(src.Data) {
		msg := w.Rule.Name + ": " + w.Msg
		opts := client.WarnOpts{Level: 1, Detail: [][]byte{[]byte(w.Rule.Description)}, URL: spec.RulesURL}
		if w.Pos.IsValid() {
			msg = fmt.Sprintf("%s (line %d)", msg, w.Pos.Line)
			opts.Range = []*pb.Range{sm.Range(w.Pos)}
		}
		src.Warn(ctx, msg, opts)
	}
}
