package sshkey

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

const (
	ed25519Key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPj0mJ1ymW4tU4Rc7Sm5wvZD7jAwWdh6vRFFdFXd+9pj me@host"
	// A blob that names ssh-ed25519 but is cut after the type.
	truncatedKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5"
	privateKey   = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"
)

func TestCheck(t *testing.T) {
	tests := []struct{ name, line, wantErr string }{
		{"ed25519", ed25519Key, ""},
		{"no comment", strings.Join(strings.Fields(ed25519Key)[:2], " "), ""},
		{"private key", privateKey, "private key"},
		{"one field", "ssh-ed25519", "expected <type> <base64> [comment]"},
		{"unknown type", "ssh-dss AAAA", `unsupported key type "ssh-dss"`},
		{"not base64", "ssh-ed25519 !!!", "not base64"},
		{"too short", "ssh-ed25519 AAA=", "too short"},
		{"type mismatch", "ssh-rsa " + strings.Fields(ed25519Key)[1], "does not hold a ssh-rsa key"},
		{"truncated key", truncatedKey, "not a valid ssh-ed25519 key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Check(tc.line)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Check = %v, want an error with %q", err, tc.wantErr)
			}
		})
	}
}

func TestCheckFile(t *testing.T) {
	tests := []struct{ name, data, wantErr string }{
		{"empty", "", ""},
		{"keys and comments", "# builders\n\n" + ed25519Key + "\n" + `from="10.0.0.0/8",no-pty ` + ed25519Key + "\n", ""},
		{"private key", privateKey, "private key"},
		{"garbage line", ed25519Key + "\nnot a key\n", "line 2: not an authorized_keys line"},
		{"truncated key", truncatedKey + "\n", "line 1: not an authorized_keys line"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckFile([]byte(tc.data))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("CheckFile: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("CheckFile = %v, want an error with %q", err, tc.wantErr)
			}
		})
	}
}

// FuzzCheck: Check never panics, never accepts a private key, and accepts
// only what sshd's own parser (x/crypto's) reads as a key of the same type.
// The seed corpus is in testdata/fuzz/FuzzCheck.
func FuzzCheck(f *testing.F) {
	nbsp := strings.Replace(ed25519Key, " ", "\u00a0", 1)
	for _, s := range []string{ed25519Key, truncatedKey, privateKey, "ssh-rsa AAAA", "", nbsp} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		err := Check(line)
		if strings.Contains(line, "PRIVATE KEY") && !errors.Is(err, ErrPrivateKey) {
			t.Fatalf("Check(%q) = %v, want ErrPrivateKey", line, err)
		}
		if err != nil {
			return
		}
		key, _, _, _, perr := ssh.ParseAuthorizedKey([]byte(line))
		if perr != nil {
			t.Fatalf("Check accepted %q, which x/crypto/ssh refuses: %v", line, perr)
		}
		if typ := strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == '\t' })[0]; key.Type() != typ {
			t.Fatalf("Check accepted %q as %s, x/crypto/ssh reads a %s key", line, typ, key.Type())
		}
	})
}

// FuzzCheckFile: CheckFile never panics and never accepts a private key.
func FuzzCheckFile(f *testing.F) {
	for _, s := range []string{ed25519Key + "\n", "# c\n" + ed25519Key, privateKey, "x\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		err := CheckFile(data)
		if strings.Contains(string(data), "PRIVATE KEY") && !errors.Is(err, ErrPrivateKey) {
			t.Fatalf("CheckFile(%q) = %v, want ErrPrivateKey", data, err)
		}
	})
}
