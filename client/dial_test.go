package client_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/nsalloc/nsalloc/client"
)

const testToken = "s3cret.Token-42"

func TestDialChecksOptions(t *testing.T) {
	token := client.WithToken(testToken)
	plain := client.WithInsecure()

	tests := []struct {
		name    string
		addr    string
		opts    []client.Option
		wantErr error // a sentinel the error matches; nil with wantText
		want    string
	}{
		{name: "token in plaintext to an IP", addr: "10.1.2.3:50051",
			opts: []client.Option{token, plain}, wantErr: client.ErrPlaintextToken},
		{name: "token in plaintext to a name", addr: "nsalloc.example.com:443",
			opts: []client.Option{token, plain}, wantErr: client.ErrPlaintextToken},
		{name: "token in plaintext to a dns target", addr: "dns:///nsalloc.example.com:443",
			opts: []client.Option{token, plain}, wantErr: client.ErrPlaintextToken},
		{name: "token in plaintext through another DNS server",
			addr: "dns://127.0.0.1:53/localhost:50051",
			opts: []client.Option{token, plain}, wantErr: client.ErrPlaintextToken},
		{name: "token in plaintext to IPv6", addr: "[2001:db8::1]:50051",
			opts: []client.Option{token, plain}, wantErr: client.ErrPlaintextToken},
		{name: "transport overridden to plaintext", addr: "nsalloc.example.com:443",
			opts: []client.Option{token, client.WithDialOptions(
				grpc.WithTransportCredentials(insecure.NewCredentials()))},
			want: "security"},
		{name: "TLS and plaintext", addr: "127.0.0.1:50051",
			opts: []client.Option{client.WithTLS(nil), plain}, want: "choose one"},
		{name: "empty token", addr: "127.0.0.1:50051",
			opts: []client.Option{client.WithToken("")}, want: "empty token"},
		{name: "token with a space", addr: "127.0.0.1:50051",
			opts: []client.Option{client.WithToken("sec ret")}, want: "printable ASCII"},
		{name: "zero timeout", addr: "127.0.0.1:50051",
			opts: []client.Option{client.WithTimeout(0)}, want: "positive duration"},
		{name: "no attempt", addr: "127.0.0.1:50051",
			opts: []client.Option{client.WithRetry(0, time.Second)}, want: "at least 1"},
		{name: "no back-off", addr: "127.0.0.1:50051",
			opts: []client.Option{client.WithRetry(3, 0)}, want: "positive back-off"},

		{name: "token in plaintext to loopback", addr: "127.0.0.1:50051",
			opts: []client.Option{token, plain}},
		{name: "token in plaintext to another loopback", addr: "127.0.0.2:50051",
			opts: []client.Option{token, plain}},
		{name: "token in plaintext to localhost", addr: "localhost:50051",
			opts: []client.Option{token, plain}},
		{name: "token in plaintext to IPv6 loopback", addr: "[::1]:50051",
			opts: []client.Option{token, plain}},
		{name: "token in plaintext to IPv6 loopback without port", addr: "[::1]",
			opts: []client.Option{token, plain}},
		{name: "token in plaintext to a dns localhost", addr: "dns:///localhost:50051",
			opts: []client.Option{token, plain}},
		{name: "token in plaintext to a passthrough loopback",
			addr: "passthrough:///127.0.0.1:50051", opts: []client.Option{token, plain}},
		{name: "token in plaintext to a Unix socket", addr: "unix:///run/nsalloc.sock",
			opts: []client.Option{token, plain}},
		{name: "token over TLS", addr: "nsalloc.example.com:443",
			opts: []client.Option{token}},
		{name: "token over configured TLS", addr: "nsalloc.example.com:443",
			opts: []client.Option{
				token, client.WithTLS(&tls.Config{MinVersion: tls.VersionTLS13}),
			}},
		{name: "defaults", addr: "nsalloc.example.com:443"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := client.Dial(tt.addr, tt.opts...)

			if tt.wantErr == nil && tt.want == "" {
				if err != nil {
					t.Fatalf("Dial: %v", err)
				}
				if err := c.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
				return
			}
			if err == nil {
				_ = c.Close()
				t.Fatalf("Dial succeeded, want an error")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("got %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %q, want it to contain %q", err, tt.want)
			}
			for _, secret := range []string{testToken, "sec ret"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q shows the token", err)
				}
			}
		})
	}
}

func TestTokenSent(t *testing.T) {
	cert, roots := selfSigned(t)
	serverTLS := grpc.Creds(credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12,
	}))
	clientTLS := client.WithTLS(&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12})

	tests := []struct {
		name       string
		serverOpts []grpc.ServerOption
		opts       []client.Option
		localhost  bool // dial "localhost:port" rather than the IP
		want       []string
	}{
		{name: "over TLS", serverOpts: []grpc.ServerOption{serverTLS},
			opts: []client.Option{clientTLS, client.WithToken(testToken)},
			want: []string{"Bearer " + testToken}},
		{name: "plaintext on loopback",
			opts: []client.Option{client.WithInsecure(), client.WithToken(testToken)},
			want: []string{"Bearer " + testToken}},
		{name: "plaintext on localhost", localhost: true,
			opts: []client.Option{client.WithInsecure(), client.WithToken(testToken)},
			want: []string{"Bearer " + testToken}},
		{name: "no token", opts: []client.Option{client.WithInsecure()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rec authRecorder
			ts := startServer(t, serverConfig{opts: append(tt.serverOpts, rec.options()...)})
			addr := ts.Addr()
			if tt.localhost {
				_, port, _ := net.SplitHostPort(addr)
				addr = "localhost:" + port
			}
			c, err := client.Dial(addr, tt.opts...)
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			defer c.Close()
			ctx := testCtx(t)

			if _, _, err := c.Reserve(ctx, appMath, "Math"); err != nil {
				t.Fatalf("Reserve: %v", err)
			}
			if _, err := c.Backup(ctx, &bytes.Buffer{}); err != nil {
				t.Fatalf("Backup: %v", err)
			}

			got := rec.values()
			for _, method := range []string{"Reserve", "Backup"} {
				if g := got[method]; strings.Join(g, ",") != strings.Join(tt.want, ",") {
					t.Errorf("%s: got authorization %q, want %q", method, g, tt.want)
				}
			}
		})
	}
}

// authRecorder keeps the authorization metadata of every call a server
// gets, by method.
type authRecorder struct {
	mu   sync.Mutex // guards seen
	seen map[string][]string
}

func (r *authRecorder) record(ctx context.Context, fullMethod string) {
	md, _ := metadata.FromIncomingContext(ctx)
	method := fullMethod[strings.LastIndexByte(fullMethod, '/')+1:]
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen == nil {
		r.seen = map[string][]string{}
	}
	r.seen[method] = append(r.seen[method], md.Get("authorization")...)
}

func (r *authRecorder) values() map[string][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen
}

// options installs the recorder in a server.
func (r *authRecorder) options() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(func(
			ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler,
		) (any, error) {
			r.record(ctx, info.FullMethod)
			return handler(ctx, req)
		}),
		grpc.ChainStreamInterceptor(func(
			srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler,
		) error {
			r.record(ss.Context(), info.FullMethod)
			return handler(srv, ss)
		}),
	}
}

// selfSigned makes a certificate for 127.0.0.1 and localhost, valid for an
// hour, and a pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "nsalloc test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("create certificate: %v", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("parse certificate: %v", err)
	}

	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, roots
}
