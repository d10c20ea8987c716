package hack

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestStackStatusTreatsZombieAsStopped: a daemon killed with SIGKILL stays
// a zombie until its parent reaps it, and kill -0 still succeeds on it;
// stack.sh must call it stopped, or a restart after a kill never starts.
func TestStackStatusTreatsZombieAsStopped(t *testing.T) {
	// bash starts a child that exits soon after bash has become sleep, which
	// never reaps it: the child stays a zombie while sleep runs.
	parent := exec.Command("bash", "-c", "sleep 0.2 & echo $!; exec sleep 60")
	stdout, err := parent.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { parent.Process.Kill(); parent.Wait() })
	zombie, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	zombie = strings.TrimSpace(zombie)
	for i := 0; ; i++ {
		stat, err := os.ReadFile("/proc/" + zombie + "/stat")
		if err == nil && strings.Contains(string(stat), ") Z ") {
			break
		}
		if i == 100 {
			t.Fatalf("pid %s did not become a zombie: %s %v", zombie, stat, err)
		}
		time.Sleep(20 * time.Millisecond)
	}

	tests := []struct{ name, registryPid, buildkitdPid, want string }{
		{"zombie", "", zombie, "buildkitd: stopped"},
		{"gone", "", "999999999", "buildkitd: stopped"},
		{"running", "", strconv.Itoa(parent.Process.Pid), "buildkitd: running"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			state := t.TempDir()
			if err := os.WriteFile(filepath.Join(state, "buildkitd.pid"), []byte(tc.buildkitdPid+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("./stack.sh", "status")
			cmd.Env = append(os.Environ(), "NIX_IMAGE_STACK="+state)
			out, _ := cmd.CombinedOutput()
			if !strings.Contains(string(out), tc.want) {
				t.Errorf("stack.sh status with buildkitd.pid %s:\n%s\nwant %q", tc.buildkitdPid, out, tc.want)
			}
			if strings.Contains(string(out), "No such file") {
				t.Errorf("stack.sh status printed an error:\n%s", out)
			}
		})
	}
}
