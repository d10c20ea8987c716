package nixstep

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAuthorizedKeys(t *testing.T) {
	const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPj0mJ1ymW4tU4Rc7Sm5wvZD7jAwWdh6vRFFdFXd+9pj me@host"
	tests := []struct {
		name    string
		secret  *string // nil: no secret given
		want    *string // nil: no authorized_keys written
		wantErr string
	}{
		{"no secret", nil, nil, ""},
		{"key", secretText(key + "\n"), secretText(key + "\n"), ""},
		{"newline added", secretText(key), secretText(key + "\n"), ""},
		{"empty", secretText(""), secretText(""), ""},
		{"private key", secretText("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"), nil, "holds a private key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			secret := filepath.Join(dir, "secret")
			if tc.secret != nil {
				if err := os.WriteFile(secret, []byte(*tc.secret), 0o400); err != nil {
					t.Fatal(err)
				}
			}
			out := filepath.Join(dir, "out")
			if err := os.Mkdir(out, 0o755); err != nil {
				t.Fatal(err)
			}
			err := AuthorizedKeys(secret, out)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				if entries, _ := os.ReadDir(out); len(entries) != 0 {
					t.Errorf("wrote %d entries despite the error", len(entries))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range []string{"root", "root/.ssh"} {
				fi, err := os.Stat(filepath.Join(out, d))
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode() != os.ModeDir|0o700 {
					t.Errorf("%s: mode %v, want drwx------", d, fi.Mode())
				}
			}
			p := filepath.Join(out, "root/.ssh/authorized_keys")
			data, err := os.ReadFile(p)
			if tc.want == nil {
				if err == nil {
					t.Errorf("authorized_keys written: %q", data)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(data) != *tc.want {
				t.Errorf("authorized_keys = %q, want %q", data, *tc.want)
			}
			if fi, _ := os.Stat(p); fi.Mode() != 0o600 {
				t.Errorf("authorized_keys: mode %v, want 0600", fi.Mode())
			}
		})
	}
}

func secretText(s string) *string { return &s }
