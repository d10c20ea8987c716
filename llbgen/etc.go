package llbgen

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/nix-image/nix-image/spec"
)

// Numbers of the Nix build users, as in the official image and NixOS.
const (
	nixbldGID   = spec.NixbldGID
	nixbldUsers = spec.NixbldUsers
)

// usersGID is the group users; an image's user with this gid joins it
// instead of getting a group of its own.
const usersGID = 100

const (
	profileBin = "/run/current-system/sw/bin"
	nologin    = profileBin + "/nologin"
	// caBundle is where every TLS client of the image finds the CA
	// certificates: a link into the system profile's cacert.
	caBundle = "/etc/ssl/certs/ca-bundle.crt"
)

// etcFile is one file of the image's /etc.
type etcFile struct {
	path string
	mode os.FileMode
	data string
}

// etcFiles returns the /etc of an image, in a fixed order.
func etcFiles(r *spec.Resolved) []etcFile {
	var passwd, group, shadow strings.Builder
	passwd.WriteString("root:x:0:0:System administrator:/root:" + profileBin + "/bash\n")
	passwd.WriteString("nobody:x:65534:65534:Unprivileged account:/var/empty:" + nologin + "\n")
	var members []string
	for i := 1; i <= nixbldUsers; i++ {
		fmt.Fprintf(&passwd, "nixbld%d:x:%d:%d:Nix build user %d:/var/empty:%s\n", i, nixbldGID+i, nixbldGID, i, nologin)
		members = append(members, fmt.Sprintf("nixbld%d", i))
	}
	group.WriteString("root:x:0:\n")
	fmt.Fprintf(&group, "nixbld:x:%d:%s\n", nixbldGID, strings.Join(members, ","))
	fmt.Fprintf(&group, "users:x:%d:\n", usersGID)
	group.WriteString("nogroup:x:65534:\n")
	// Every account is locked: "!" matches no password. In the ssh image
	// root's is "*", no password either but not "locked": sshd without
	// PAM refuses even key logins to locked accounts.
	for _, u := range append([]string{"root", "nobody"}, members...) {
		pw := "!"
		if u == "root" && r.SSHServer {
			pw = "*"
		}
		fmt.Fprintf(&shadow, "%s:%s:1::::::\n", u, pw)
	}
	if u := r.User; u.IsSet() {
		fmt.Fprintf(&passwd, "%s:x:%d:%d::%s:%s/bash\n", u.Name, u.UID, u.GID, u.Home(), profileBin)
		if u.GID != usersGID {
			fmt.Fprintf(&group, "%s:x:%d:\n", u.Name, u.GID)
		}
		fmt.Fprintf(&shadow, "%s:!:1::::::\n", u.Name)
	}
	if r.SSHServer {
		passwd.WriteString("sshd:x:74:74:SSH privilege separation user:/var/empty:" + nologin + "\n")
		group.WriteString("sshd:x:74:\n")
		shadow.WriteString("sshd:!:1::::::\n")
	}
	return []etcFile{
		{"/etc/passwd", 0o644, passwd.String()},
		{"/etc/group", 0o644, group.String()},
		{"/etc/shadow", 0o600, shadow.String()},
		{"/etc/nsswitch.conf", 0o644, nsswitch},
		{"/etc/nix/nix.conf", 0o644, nixConf(r)},
		{"/etc/protocols", 0o644, protocols},
		{"/etc/services", 0o644, services},
	}
}

// nixConf is the image's /etc/nix/nix.conf. Builds run without the
// sandbox and without seccomp filtering: both fail in unprivileged
// containers and under emulation (Docker Desktop, QEMU). The nix command
// and flakes are on, so `nix repl '<nixpkgs>'` and `nix build` work as
// users expect; nixConfig can say otherwise.
func nixConf(r *spec.Resolved) string {
	settings := map[string]string{
		"build-users-group":     "nixbld",
		"experimental-features": "nix-command flakes",
		"sandbox":               "false",
		"filter-syscalls":       "false",
		"substituters":          strings.Join(r.Substituters, " "),
		"trusted-public-keys":   strings.Join(r.TrustedPublicKeys, " "),
	}
	if r.SSHServer {
		settings["trusted-users"] = "root"
	}
	maps.Copy(settings, r.NixConfig)
	var b strings.Builder
	b.WriteString("# Written by nix-image from nix-image.yaml.\n")
	for _, k := range slices.Sorted(maps.Keys(settings)) {
		fmt.Fprintf(&b, "%s = %s\n", k, settings[k])
	}
	return b.String()
}

const nsswitch = `passwd:    files
group:     files
shadow:    files
hosts:     files dns
networks:  files
protocols: files
services:  files
ethers:    files
rpc:       files
`

// protocols and services hold the entries programs in a Nix image look
// up by name (getprotobyname, getservbyname), after IANA's registries.
const protocols = `ip	0	IP		# internet protocol, pseudo protocol number
icmp	1	ICMP		# internet control message protocol
igmp	2	IGMP		# internet group management protocol
tcp	6	TCP		# transmission control protocol
udp	17	UDP		# user datagram protocol
ipv6	41	IPv6		# Internet Protocol, version 6
ipv6-route	43	IPv6-Route	# Routing Header for IPv6
ipv6-frag	44	IPv6-Frag	# Fragment Header for IPv6
gre	47	GRE		# General Routing Encapsulation
esp	50	IPSEC-ESP	# Encap Security Payload
ah	51	IPSEC-AH	# Authentication Header
ipv6-icmp	58	IPv6-ICMP	# ICMP for IPv6
ipv6-nonxt	59	IPv6-NoNxt	# No Next Header for IPv6
ipv6-opts	60	IPv6-Opts	# Destination Options for IPv6
sctp	132	SCTP		# Stream Control Transmission Protocol
udplite	136	UDPLite		# UDP-Lite
`

const services = `ftp-data	20/tcp
ftp		21/tcp
ssh		22/tcp
telnet		23/tcp
smtp		25/tcp		mail
domain		53/tcp
domain		53/udp
bootps		67/udp
bootpc		68/udp
tftp		69/udp
http		80/tcp		www
kerberos	88/tcp
kerberos	88/udp
pop3		110/tcp
sunrpc		111/tcp		portmapper
sunrpc		111/udp		portmapper
ntp		123/udp
imap		143/tcp		imap2
snmp		161/udp
ldap		389/tcp
https		443/tcp
https		443/udp
submissions	465/tcp		ssmtp smtps
syslog		514/udp
submission	587/tcp
ldaps		636/tcp
rsync		873/tcp
imaps		993/tcp
pop3s		995/tcp
mysql		3306/tcp
postgresql	5432/tcp
redis		6379/tcp
http-alt	8080/tcp	webcache
git		9418/tcp
`
