package frontend

import (
	"reflect"
	"testing"

	"github.com/moby/buildkit/client/llb"
)

func TestProxyEnv(t *testing.T) {
	tests := []struct {
		name string
		args map[string]string
		want *llb.ProxyEnv
	}{
		{"none", map[string]string{"NIX_VERSION": "2.33.3"}, nil},
		{"empty values", map[string]string{"HTTP_PROXY": "", "no_proxy": " "}, nil},
		{"upper case", map[string]string{"HTTP_PROXY": "http://p:3128", "HTTPS_PROXY": "http://p:3129", "NO_PROXY": ".corp", "ALL_PROXY": "socks5://s:1080", "FTP_PROXY": "http://f:21"},
			&llb.ProxyEnv{HTTPProxy: "http://p:3128", HTTPSProxy: "http://p:3129", NoProxy: ".corp", AllProxy: "socks5://s:1080", FTPProxy: "http://f:21"}},
		{"lower case", map[string]string{"http_proxy": "http://p:3128", "no_proxy": "localhost"},
			&llb.ProxyEnv{HTTPProxy: "http://p:3128", NoProxy: "localhost"}},
		{"lower case wins", map[string]string{"HTTP_PROXY": "http://upper", "http_proxy": "http://lower"},
			&llb.ProxyEnv{HTTPProxy: "http://lower"}},
		{"not a proxy arg", map[string]string{"MY_HTTP_PROXY": "http://x", "HTTP_PROXY_URL": "http://y"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := proxyEnv(tt.args); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("proxyEnv(%v) = %+v, want %+v", tt.args, got, tt.want)
			}
		})
	}
}
