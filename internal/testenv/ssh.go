package testenv

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// WaitSSH waits until an sshd answers on 127.0.0.1:port with its banner
// (a container of the ssh image makes its host keys first), for up to
// two minutes.
func WaitSSH(ctx context.Context, port int) error {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			line, _ := bufio.NewReader(conn).ReadString('\n')
			conn.Close()
			if strings.HasPrefix(line, "SSH-2.0-") {
				return nil
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	return fmt.Errorf("no sshd answers on %s", addr)
}

// SSHConfig is an ssh config Host entry for an sshd of the ssh image on
// 127.0.0.1:port, logging in as root with the key file key: what the
// host's ssh and, through NIX_SSHOPTS="-F FILE", the host's Nix use to
// reach a container. Every container makes new host keys, so none is
// remembered.
func SSHConfig(host string, port int, key string) string {
	return fmt.Sprintf(`Host %s
  HostName 127.0.0.1
  Port %d
  User root
  IdentityFile %s
  IdentitiesOnly yes
  BatchMode yes
  StrictHostKeyChecking no
  UserKnownHostsFile /dev/null
  LogLevel ERROR
  ConnectTimeout 20
`, host, port, key)
}
