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
		want    string
		wantErr string
	}{
		{"no secret", nil, "", ""},
		{"key", secretText(key + "\n"), key + "\n", ""},
		{"newline added", secretText(key), key + "\n", ""},
		{"empty", secretText(""), "", ""},
		{"not a key", secretText(key + "\nhello\n"), "", "authorized_keys: line 2: not an authorized_keys line"},
		{"private key", secretText("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"), "", "holds a private key"},
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
			data, err := os.ReadFile(filepath.Join(out, AuthorizedKeysFile))
			if err != nil {
				t.Fatal(err)
			}
			if string(data) != tc.want {
				t.Errorf("%s = %q, want %q", AuthorizedKeysFile, data, tc.want)
			}
		})
	}
}

func secretText(s string) *string { return &s }
