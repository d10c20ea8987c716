package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The printed report: the machine line, the metrics table of the ways and
// the targets' verdicts.

func (b *bench) print(m machine, res map[string]*metrics, wide runWide, targets []target, diffs []string, took time.Duration) {
	fmt.Printf("\nnix-image bench: %d rounds, %s; %d cores, %.1f GiB, Linux %s, %s, load %.1f -> %.1f\n",
		b.runs, took.Round(time.Second), m.Nproc, float64(m.MemoryBytes)/(1<<30), m.Kernel, m.Date, m.LoadavgStart, m.LoadavgEnd)
	fmt.Printf("commit %s", m.Commit)
	if len(m.Modified) > 0 {
		fmt.Printf(" with %d modified files (%s)", len(m.Modified), strings.Join(m.Modified, " "))
	}
	fmt.Println()
	fmt.Printf("packages: %s (add-one: +%s)\n", strings.Join(b.pkgs, " "), strings.Join(b.add1[len(b.pkgs):], " "))
	fmt.Printf("scale: %s nixpkgs, %d files, %s unpacked; ours's closure %s\n", b.size, b.nixpkgs.Files, bytesStr(b.nixpkgs.Bytes), bytesStr(res["ours"].ClosureBytes))
	fmt.Printf("floor_s %.2f; syntax_dockerfile.nochange_s %.2f (%d ops executed)\n\n", wide.FloorS, wide.SyntaxNochangeS, wide.SyntaxNochangeOps)
	rows := []struct {
		key string
		val func(*metrics) string
	}{
		{"cold_s", func(m *metrics) string { return fmt.Sprintf("%.2f", m.ColdEmptyS) }},
		{"cold_cpu_s", func(m *metrics) string { return fmt.Sprintf("%.2f", m.ColdEmptyCPU) }},
		{"cold_verify_cpu_s", func(m *metrics) string { return fmt.Sprintf("%.2f", m.ColdVerifyCPU) }},
		{"cold_cache_from_s", func(m *metrics) string { return fmt.Sprintf("%.2f", m.ColdCacheFromS) }},
		{"cold_base_built_s", func(m *metrics) string { return fmt.Sprintf("%.2f", m.ColdBaseBuiltS) }},
		{"cold_base_built_cpu_s", func(m *metrics) string { return fmt.Sprintf("%.2f", m.ColdBaseBuiltCPU) }},
		{"nochange_s", func(m *metrics) string { return fmt.Sprintf("%.2f", m.NochangeS) }},
		{"nochange_cpu_s", func(m *metrics) string { return fmt.Sprintf("%.2f", m.NochangeCPU) }},
		{"nochange_ops_executed", func(m *metrics) string { return strconv.Itoa(m.NochangeOpsExecuted) }},
		{"add1_s", func(m *metrics) string { return fmt.Sprintf("%.2f", m.Add1S) }},
		{"add1_cpu_s", func(m *metrics) string { return fmt.Sprintf("%.2f", m.Add1CPU) }},
		{"add1_new_bytes", func(m *metrics) string { return bytesStr(m.Add1NewBytes) }},
		{"add1_reused_bytes_ratio", func(m *metrics) string { return fmt.Sprintf("%.4f", m.Add1ReusedBytesRatio) }},
		{"layers", func(m *metrics) string { return strconv.Itoa(m.Layers) }},
		{"image_bytes", func(m *metrics) string { return bytesStr(m.ImageBytes) }},
		{"image_file_bytes", func(m *metrics) string { return bytesStr(m.ImageFileBytes) }},
		{"closure_bytes", func(m *metrics) string { return bytesStr(m.ClosureBytes) }},
		{"reproducible", func(m *metrics) string { return strconv.FormatBool(m.Reproducible) }},
	}
	header := "| " + fmt.Sprintf("%-23s", "metric")
	rule := "|" + strings.Repeat("-", 25)
	for _, w := range b.ways {
		header += fmt.Sprintf(" | %-20s", w.name)
		rule += "|" + strings.Repeat("-", 22)
	}
	fmt.Println(header + " |")
	fmt.Println(rule + "|")
	for _, r := range rows {
		line := "| " + fmt.Sprintf("%-23s", r.key)
		for _, w := range b.ways {
			line += fmt.Sprintf(" | %-20s", r.val(res[w.name]))
		}
		fmt.Println(line + " |")
	}
	// The cross-platform pair: ours's spec only, one figure per platform.
	for _, r := range []struct {
		key string
		val float64
	}{{"amd64_cold_s", wide.AMD64ColdS}, {"arm64_cold_s", wide.ARM64ColdS}} {
		line := "| " + fmt.Sprintf("%-23s", r.key)
		for _, w := range b.ways {
			v := ""
			if w.name == "ours" {
				v = fmt.Sprintf("%.2f", r.val)
			}
			line += fmt.Sprintf(" | %-20s", v)
		}
		fmt.Println(line + " |")
	}
	fmt.Println()
	printTargets(targets)
	if len(diffs) > 0 {
		fmt.Println("\nnot reproducible:")
		for _, d := range diffs {
			fmt.Println("  " + d)
		}
	}
}

// printTargets prints each target's verdict.
func printTargets(targets []target) {
	for _, t := range targets {
		verdict := "FAIL"
		if t.Pass {
			verdict = "PASS"
		}
		fmt.Printf("%s %s: %s\n", verdict, t.Name, t.Detail)
	}
}

func bytesStr(n int64) string {
	return fmt.Sprintf("%d (%.1f MB)", n, float64(n)/1e6)
}
