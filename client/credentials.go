package client

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"strings"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// bearer adds a bearer token to every call.
type bearer struct {
	token string
	// plaintextOK is set only when Dial checked that the address is
	// loopback; otherwise gRPC refuses to send the token without TLS.
	plaintextOK bool
}

// GetRequestMetadata returns the authorization metadata.
func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

// RequireTransportSecurity reports whether gRPC must refuse to send the
// token over a plaintext transport.
func (b bearer) RequireTransportSecurity() bool { return !b.plaintextOK }

// checkToken refuses tokens that cannot be a header value. The token
// itself stays out of the error.
func checkToken(token string) error {
	if token == "" {
		return errors.New("WithToken: empty token")
	}
	for i := 0; i < len(token); i++ {
		if c := token[i]; c <= ' ' || c > '~' {
			return errors.New("WithToken: the token has a space, control character or " +
				"non-ASCII byte; want printable ASCII")
		}
	}
	return nil
}

// transport returns the transport credentials c asks for: plaintext, or
// TLS with c's configuration or with the system's roots.
func (c *config) transport() credentials.TransportCredentials {
	if c.insecure {
		return insecure.NewCredentials()
	}
	cfg := c.tls
	if cfg == nil {
		cfg = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return credentials.NewTLS(cfg)
}

// isLoopback reports whether a gRPC target reaches this machine only: a
// loopback IP address, "localhost", or a Unix socket. A target that names
// a DNS server of its own ("dns://8.8.8.8/host:port") is not trusted to.
func isLoopback(target string) bool {
	host := target
	if scheme, rest, ok := strings.Cut(target, ":"); ok {
		switch {
		case scheme == "unix" || scheme == "unix-abstract":
			return true
		case (scheme == "dns" || scheme == "passthrough") && strings.HasPrefix(rest, "//"):
			authority, endpoint, _ := strings.Cut(rest[2:], "/")
			if authority != "" {
				return false
			}
			host = endpoint
		}
	}

	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
