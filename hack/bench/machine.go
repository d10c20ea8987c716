package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// The machine a run measured: cores, memory, kernel, load and the commit
// the frontend was built from (the results file's "machine").

type machine struct {
	Nproc       int    `json:"nproc"`
	MemoryBytes int64  `json:"memory"` // bytes (MemTotal)
	Kernel      string `json:"kernel"`
	Date        string `json:"date"` // when the run started
	// The 1-minute load average when the run started and ended: other
	// work on the machine slows the wall times (not the CPU times).
	LoadavgStart float64 `json:"loadavg_start"`
	LoadavgEnd   float64 `json:"loadavg_end"`
	// Commit is the checked-out commit the frontend was built from;
	// Modified lists the files that differed from it.
	Commit   string   `json:"commit"`
	Modified []string `json:"modified,omitempty"`
}

func machineInfo(ctx context.Context, root string) (machine, error) {
	m := machine{Nproc: runtime.NumCPU(), Date: time.Now().UTC().Format(time.RFC3339), LoadavgStart: loadavg()}
	commit, err := exec.CommandContext(ctx, "git", "-C", root, "rev-parse", "HEAD").Output()
	if err != nil {
		return m, fmt.Errorf("git rev-parse HEAD: %w", err)
	}
	m.Commit = strings.TrimSpace(string(commit))
	status, err := exec.CommandContext(ctx, "git", "-C", root, "status", "--porcelain", "--untracked-files=no").Output()
	if err != nil {
		return m, fmt.Errorf("git status: %w", err)
	}
	for _, line := range strings.Split(strings.TrimRight(string(status), "\n"), "\n") {
		if len(line) > 3 {
			m.Modified = append(m.Modified, line[3:])
		}
	}
	kernel, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return m, fmt.Errorf("reading the kernel release: %w", err)
	}
	m.Kernel = strings.TrimSpace(string(kernel))
	meminfo, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return m, fmt.Errorf("reading /proc/meminfo: %w", err)
	}
	for _, line := range strings.Split(string(meminfo), "\n") {
		if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return m, fmt.Errorf("parsing MemTotal: %w", err)
			}
			m.MemoryBytes = kb * 1024
		}
	}
	return m, nil
}
