package main

import (
	"sort"
)

// The medians over the rounds: each way's metrics (the results file's
// per-way keys) and the run-wide figures of the rounds' extras.

// metrics are a way's results: the keys of issue 5, plus image_file_bytes.
type metrics struct {
	ColdBaseBuiltS       float64 `json:"cold_base_built_s"`
	ColdBaseBuiltCPU     float64 `json:"cold_base_built_cpu_s"`
	ColdEmptyS           float64 `json:"cold_s"`
	ColdEmptyCPU         float64 `json:"cold_cpu_s"`
	ColdVerifyCPU        float64 `json:"cold_verify_cpu_s,omitempty"`
	ColdCacheFromS       float64 `json:"cold_cache_from_s,omitempty"`
	ColdCacheFromCPU     float64 `json:"cold_cache_from_cpu_s,omitempty"`
	NochangeS            float64 `json:"nochange_s"`
	NochangeCPU          float64 `json:"nochange_cpu_s"`
	NochangeOpsExecuted  int     `json:"nochange_ops_executed"`
	Add1S                float64 `json:"add1_s"`
	Add1CPU              float64 `json:"add1_cpu_s"`
	Add1NewBytes         int64   `json:"add1_new_bytes"`
	Add1ReusedBytesRatio float64 `json:"add1_reused_bytes_ratio"`
	Layers               int     `json:"layers"`
	ImageBytes           int64   `json:"image_bytes"`
	ImageFileBytes       int64   `json:"image_file_bytes"`
	ClosureBytes         int64   `json:"closure_bytes"`
	Reproducible         bool    `json:"reproducible"`
}

// summarize takes the medians over the rounds (every figure but the times
// is the same in each round when the builds are reproducible).
func summarize(ss []*sample) *metrics {
	f := func(get func(*sample) float64) float64 { return medianOf(ss, get) }
	i := func(get func(*sample) int64) int64 {
		return int64(f(func(s *sample) float64 { return float64(get(s)) }))
	}
	repro := true
	for _, s := range ss {
		repro = repro && s.Digest == ss[0].Digest && s.ColdEmptyDigest == ss[0].Digest &&
			(s.ColdCacheFromDigest == "" || s.ColdCacheFromDigest == ss[0].Digest)
	}
	return &metrics{
		ColdBaseBuiltS:       round2(f(func(s *sample) float64 { return s.ColdBaseBuiltS })),
		ColdBaseBuiltCPU:     round2(f(func(s *sample) float64 { return s.ColdBaseBuiltCPU })),
		ColdEmptyS:           round2(f(func(s *sample) float64 { return s.ColdEmptyS })),
		ColdEmptyCPU:         round2(f(func(s *sample) float64 { return s.ColdEmptyCPU })),
		ColdVerifyCPU:        round2(f(func(s *sample) float64 { return s.ColdVerifyCPU })),
		ColdCacheFromS:       round2(f(func(s *sample) float64 { return s.ColdCacheFromS })),
		ColdCacheFromCPU:     round2(f(func(s *sample) float64 { return s.ColdCacheFromCPU })),
		NochangeS:            round2(f(func(s *sample) float64 { return s.NochangeS })),
		NochangeCPU:          round2(f(func(s *sample) float64 { return s.NochangeCPU })),
		NochangeOpsExecuted:  int(i(func(s *sample) int64 { return int64(s.NochangeOps) })),
		Add1S:                round2(f(func(s *sample) float64 { return s.Add1S })),
		Add1CPU:              round2(f(func(s *sample) float64 { return s.Add1CPU })),
		Add1NewBytes:         i(func(s *sample) int64 { return s.Add1NewBytes }),
		Add1ReusedBytesRatio: round4(f(func(s *sample) float64 { return s.Add1ReusedRatio })),
		Layers:               int(i(func(s *sample) int64 { return int64(s.Layers) })),
		ImageBytes:           i(func(s *sample) int64 { return s.ImageBytes }),
		ImageFileBytes:       i(func(s *sample) int64 { return s.ImageFileBytes }),
		ClosureBytes:         i(func(s *sample) int64 { return s.ClosureBytes }),
		Reproducible:         repro,
	}
}

// medianOf is the median of get over xs.
func medianOf[T any](xs []T, get func(T) float64) float64 {
	v := make([]float64, len(xs))
	for i, x := range xs {
		v[i] = get(x)
	}
	sort.Float64s(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// runWide are the medians of the rounds' extras.
type runWide struct {
	FloorS            float64
	SyntaxColdS       float64
	SyntaxNochangeS   float64
	SyntaxNochangeOps int
	AMD64ColdS        float64
	ARM64ColdS        float64
}

func summarizeExtras(xs []*roundExtra) runWide {
	return runWide{
		FloorS:            round2(medianOf(xs, func(x *roundExtra) float64 { return x.Floor.Seconds })),
		SyntaxColdS:       round2(medianOf(xs, func(x *roundExtra) float64 { return x.Syntax.ColdBaseBuiltS })),
		SyntaxNochangeS:   round2(medianOf(xs, func(x *roundExtra) float64 { return x.Syntax.NochangeS })),
		SyntaxNochangeOps: int(medianOf(xs, func(x *roundExtra) float64 { return float64(len(x.Syntax.NochangeOps)) })),
		AMD64ColdS:        round2(medianOf(xs, func(x *roundExtra) float64 { return x.Cross.AMD64S })),
		ARM64ColdS:        round2(medianOf(xs, func(x *roundExtra) float64 { return x.Cross.ARM64S })),
	}
}

func round2(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }

func round4(f float64) float64 { return float64(int64(f*10000+0.5)) / 10000 }
