package main

import (
	"fmt"
	"strings"
)

// The bench's verdicts: the targets the results must meet, and which of
// them count towards the exit status.

type target struct {
	Name   string `json:"name"`
	Pass   bool   `json:"pass"`
	Detail string `json:"detail"`
}

// missed names the targets that failed, leaving out the informational
// ones (named "(extra) ...").
func missed(targets []target) []string {
	var out []string
	for _, t := range targets {
		if !t.Pass && !strings.HasPrefix(t.Name, "(extra)") {
			out = append(out, t.Name)
		}
	}
	return out
}

// farBelow is how much smaller ours' add-one upload must be than the
// baselines' to count as "far below": at most a quarter (issue 5's
// informational target; issue 11 asks for 0.1 x nixenv's).
const farBelow = 0.25

// baselines are the ways ours is compared with.
var baselines = []string{"flat", "nixenv", "nixenv2"}

// targets are the bench's verdicts: issue 11's "done when" (at the size
// of the run's package set) and the guarantees the earlier issues set.
// Cold builds: ours from an empty daemon (cold_s) does what flat does
// (realise and copy the whole closure) and at most half again the floor;
// flat and the nixenv ways start FROM a base image prebuilt in the
// registry, so ours is also measured with the base spec's registry cache
// (cold_cache_from_s, what a CI runner has from the spec's previous run),
// compared with flat, and (informational) with the others.
func (b *bench) targets(res map[string]*metrics, samples map[string][]*sample, wide runWide) []target {
	o := res["ours"]
	ours := samples["ours"]
	allow := int64(medianOf(ours, func(s *sample) float64 { return float64(s.Add1AllowanceBytes) }))
	baseline := int64(-1)
	var others []string
	for _, name := range baselines {
		if baseline < 0 || res[name].Add1NewBytes < baseline {
			baseline = res[name].Add1NewBytes
		}
		others = append(others, fmt.Sprintf("%s %d", name, res[name].Add1NewBytes))
	}
	var noChannel []string
	images := 0
	for _, name := range append([]string{"ours"}, baselines...) {
		for i, s := range samples[name] {
			images++
			if s.ChannelMissing != "" {
				noChannel = append(noChannel, fmt.Sprintf("%s round %d: %s", name, i+1, s.ChannelMissing))
			}
		}
	}
	channelDetail := fmt.Sprintf("%d cold images have %s and the package set's tree", images, channelLink)
	if len(noChannel) > 0 {
		channelDetail = strings.Join(noChannel, "; ")
	}
	nixenv, flat := res["nixenv"], res["flat"]
	ts := []target{
		{"ours.nochange_ops_executed = 0", o.NochangeOpsExecuted == 0,
			fmt.Sprintf("%d (%s)", o.NochangeOpsExecuted, strings.Join(ours[0].NochangeOpNames, "; "))},
		{"ours.nochange_s <= 1.2 x syntax_dockerfile.nochange_s", o.NochangeS <= 1.2*wide.SyntaxNochangeS,
			fmt.Sprintf("%.2f <= 1.2 x %.2f = %.2f", o.NochangeS, wide.SyntaxNochangeS, 1.2*wide.SyntaxNochangeS)},
		{"ours.add1_s <= nixenv.add1_s", o.Add1S <= nixenv.Add1S, fmt.Sprintf("%.2f <= %.2f", o.Add1S, nixenv.Add1S)},
		{"ours.add1_reused_bytes_ratio >= 0.95", o.Add1ReusedBytesRatio >= 0.95,
			fmt.Sprintf("%.4f", o.Add1ReusedBytesRatio)},
		{"ours.add1_new_bytes <= 1.05 x (layers of only new store paths + system layers)", float64(o.Add1NewBytes) <= 1.05*float64(allow),
			fmt.Sprintf("%d <= 1.05 x %d = %.0f", o.Add1NewBytes, allow, 1.05*float64(allow))},
		{"ours.add1_new_bytes <= 0.1 x nixenv.add1_new_bytes", float64(o.Add1NewBytes) <= 0.1*float64(nixenv.Add1NewBytes),
			fmt.Sprintf("%d <= 0.1 x %d = %.0f", o.Add1NewBytes, nixenv.Add1NewBytes, 0.1*float64(nixenv.Add1NewBytes))},
		// No file twice, none beyond the closure; and no more tar
		// overhead than one layer of the same content (at nixpkgs' size
		// the tar headers and padding of its 45,000 files alone are a
		// seventh of the image, so the tar bytes are compared with
		// flat's, not with the NAR sizes).
		{"ours.image_file_bytes <= 1.03 x ours.closure_bytes", float64(o.ImageFileBytes) <= 1.03*float64(o.ClosureBytes),
			fmt.Sprintf("%d <= 1.03 x %d = %.0f (ratio %.4f)", o.ImageFileBytes, o.ClosureBytes, 1.03*float64(o.ClosureBytes), float64(o.ImageFileBytes)/float64(o.ClosureBytes))},
		{"ours.image_bytes <= 1.03 x flat.image_bytes", float64(o.ImageBytes) <= 1.03*float64(flat.ImageBytes),
			fmt.Sprintf("%d <= 1.03 x %d = %.0f (ratio %.4f)", o.ImageBytes, flat.ImageBytes, 1.03*float64(flat.ImageBytes), float64(o.ImageBytes)/float64(flat.ImageBytes))},
		{"ours.reproducible", o.Reproducible, fmt.Sprintf("%d cold builds on fresh daemons: %s", 3*len(ours), digests(ours))},
		coldTarget("ours.cold_s", o.ColdEmptyS, 1.0, "flat.cold_s", flat.ColdEmptyS, ""),
		coldTarget("ours.cold_s", o.ColdEmptyS, 1.5, "floor_s", wide.FloorS, ""),
		{"ours.cold_verify_cpu_s <= 0.1 x ours.cold_cpu_s (store path checks a small share of a cold build)", o.ColdVerifyCPU <= 0.1*o.ColdEmptyCPU,
			fmt.Sprintf("%.2f <= 0.1 x %.2f = %.2f", o.ColdVerifyCPU, o.ColdEmptyCPU, 0.1*o.ColdEmptyCPU)},
		{"every image ships the nixpkgs channel (the same image content)", len(noChannel) == 0, channelDetail},
		coldTarget("ours.cold_cache_from_s", o.ColdCacheFromS, 1.2, "flat.cold_s", flat.ColdEmptyS, ""),
		crossTarget(wide),
	}
	for _, name := range baselines[1:] {
		ts = append(ts, coldTarget("ours.cold_cache_from_s", o.ColdCacheFromS, 1.2, name+".cold_s", res[name].ColdEmptyS, "(extra) "))
		ts = append(ts, coldTarget("ours.cold_s", o.ColdEmptyS, 1.2, name+".cold_s", res[name].ColdEmptyS, "(extra) "))
	}
	for _, name := range baselines {
		ts = append(ts, coldTarget("ours.cold_base_built_s", o.ColdBaseBuiltS, 1.2, name+".cold_base_built_s", res[name].ColdBaseBuiltS, "(extra) "))
	}
	return append(ts, target{fmt.Sprintf("(extra) ours.add1_new_bytes far below every baseline (<= %.2f x the smallest)", farBelow), float64(o.Add1NewBytes) <= farBelow*float64(baseline),
		fmt.Sprintf("%d vs %s (%.3f x the smallest)", o.Add1NewBytes, strings.Join(others, ", "), float64(o.Add1NewBytes)/float64(baseline))})
}

// coldTarget is the target "ours <= factor x base" of a cold build time.
func coldTarget(ours string, o, factor float64, base string, v float64, prefix string) target {
	return target{fmt.Sprintf("%s%s <= %.1f x %s", prefix, ours, factor, base), o <= factor*v,
		fmt.Sprintf("%.2f <= %.1f x %.2f = %.2f", o, factor, v, factor*v)}
}

// digests lists the distinct digests of the cold builds, with how many
// builds gave each.
func digests(ss []*sample) string {
	count := map[string]int{}
	var order []string
	for _, s := range ss {
		for _, d := range []string{s.Digest, s.ColdEmptyDigest, s.ColdCacheFromDigest} {
			if count[d] == 0 {
				order = append(order, d)
			}
			count[d]++
		}
	}
	var out []string
	for _, d := range order {
		out = append(out, fmt.Sprintf("%s (%d)", d, count[d]))
	}
	return strings.Join(out, ", ")
}
