package main

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"

	"github.com/nsalloc/nsalloc/internal/testcert"
)

// TestTLSFlags runs nsallocctl against a daemon that serves mutual TLS: the
// CA, the client certificate and its key come from the flags, and a client
// that leaves one out is refused before any answer.
func TestTLSFlags(t *testing.T) {
	dir := t.TempDir()
	serverCA, clientCA := testcert.NewCA(t, "server CA"), testcert.NewCA(t, "client CA")
	write := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	serverCert, serverKey := serverCA.Issue(t, "nsallocd", 10, x509.ExtKeyUsageServerAuth)
	clientCert, clientKey := clientCA.Issue(t, "ops", 11, x509.ExtKeyUsageClientAuth)
	ca := write("ca.pem", serverCA.PEM)
	cert, key := write("client.pem", clientCert), write("client-key.pem", clientKey)

	d := startDaemon(t, "--tls-cert", write("server.pem", serverCert),
		"--tls-key", write("server-key.pem", serverKey),
		"--tls-client-ca", write("client-ca.pem", clientCA.PEM))

	tests := []struct {
		name string
		args []string
		want int
	}{
		{"ca, certificate and key", []string{"--tls-ca", ca, "--tls-cert", cert,
			"--tls-key", key}, exitOK},
		{"no client certificate", []string{"--tls-ca", ca}, exitUnreachable},
		{"server CA not trusted", []string{"--tls-cert", cert, "--tls-key", key, "--tls"},
			exitUnreachable},
		{"plaintext", []string{"--insecure"}, exitUnreachable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"--addr", d.Addr(), "--timeout", "3s"}, tt.args...)
			args = append(args, "reserve", "9423dfaa-2bd8-43fa-bcd9-b0599ea44d5e", "Math")
			got := ctl(t, invocation{}, args...)
			if got.code != tt.want {
				t.Errorf("nsallocctl %v exited %d, want %d\nstdout: %s\nstderr: %s",
					tt.args, got.code, tt.want, got.stdout, got.stderr)
			}
		})
	}
}
