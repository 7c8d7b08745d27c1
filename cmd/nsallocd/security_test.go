package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/time/rate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/nsalloc/nsalloc/internal/testcert"
	nsallocv1 "github.com/nsalloc/nsalloc/proto/nsalloc/v1"
	"github.com/nsalloc/nsalloc/server"
)

// defaultLimits are the limits of a daemon started without limit flags.
var defaultLimits = server.Limits{
	MaxRequestBytes: 64 << 10, MaxStreams: 100,
	KeepaliveMinTime: 30 * time.Second, KeepaliveTime: time.Minute,
	MaxConnectionIdle: 5 * time.Minute,
	CallTimeout:       5 * time.Second, StreamTimeout: 10 * time.Minute,
	Rate: 100, Burst: 200,
}

// withRate returns l with its rate set to r.
func withRate(l server.Limits, r rate.Limit) server.Limits {
	l.Rate = r
	return l
}

func TestIsLoopback(t *testing.T) {
	tests := []struct {
		addr string
		want bool
	}{
		{"127.0.0.1:50051", true},
		{"127.8.9.10:1", true},
		{"localhost:50051", true},
		{"LocalHost:1", true},
		{"[::1]:50051", true},
		{":50051", false},
		{"0.0.0.0:50051", false},
		{"[::]:50051", false},
		{"10.0.0.1:50051", false},
		{"[fe80::1%eth0]:1", false},
		{"nsalloc.internal:50051", false},
		{"127.0.0.1", false}, // no port: net.Listen refuses it anyway
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			if got := isLoopback(tt.addr); got != tt.want {
				t.Errorf("isLoopback(%q) = %v, want %v", tt.addr, got, tt.want)
			}
		})
	}
}

// TestOpenListenWithoutTokensIsRefused runs the daemon on every interface
// without --tokens and checks that it refuses to start, saying why and
// what to do.
func TestOpenListenWithoutTokensIsRefused(t *testing.T) {
	for _, listen := range []string{"0.0.0.0:0", "[::]:0", ":0"} {
		t.Run(listen, func(t *testing.T) {
			cmd := exec.Command(filepath.Join(binDir, "nsallocd"), "--listen", listen,
				"--db", filepath.Join(t.TempDir(), "x.db"))
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("nsallocd --listen %s without --tokens started:\n%s", listen, out)
			}
			for _, want := range []string{listen, "not a loopback address",
				"anyone who can reach the port could reserve and release", "--tokens FILE",
				"127.0.0.1"} {
				if !strings.Contains(string(out), want) {
					t.Errorf("output does not say %q:\n%s", want, out)
				}
			}
		})
	}
}

func TestBadSecurityFilesStopTheStart(t *testing.T) {
	dir := t.TempDir()
	tokens := writeFile(t, dir, "tokens.txt",
		"reader dash "+server.HashToken("a")+"\nwriter ci nothex\n")
	garbage := writeFile(t, dir, "garbage.pem", "not a certificate\n")
	files := newTLSFiles(t, testcert.NewCA(t, "server CA"), testcert.NewCA(t, "client CA"))

	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"bad tokens file", []string{"--tokens", tokens},
			[]string{tokens + ":2:", "nothex", "64 lower-case hex digits"}},
		{"missing tokens file", []string{"--tokens", filepath.Join(dir, "none")},
			[]string{"--tokens", "no such file"}},
		{"bad certificate", []string{"--tls-cert", garbage, "--tls-key", garbage},
			[]string{"--tls-cert " + garbage}},
		{"client CA file without a certificate",
			[]string{"--tls-cert", files.cert, "--tls-key", files.key, "--tls-client-ca", garbage},
			[]string{"--tls-client-ca " + garbage, "no PEM certificate"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"--db", filepath.Join(t.TempDir(), "x.db")}, tt.args...)
			out, err := exec.Command(filepath.Join(binDir, "nsallocd"), args...).CombinedOutput()
			if err == nil {
				t.Fatalf("nsallocd %v started, want a failure:\n%s", args, out)
			}
			for _, want := range tt.want {
				if !strings.Contains(string(out), want) {
					t.Errorf("output does not mention %q:\n%s", want, out)
				}
			}
		})
	}
}

func TestTokenCommand(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  []string
	}{
		{name: "writer", args: []string{"--role", "writer", "--name", "ci"}},
		{name: "admin", args: []string{"--name", "ops@example.com", "--role", "admin"}},
		{name: "no role", args: []string{"--name", "ci"}, wantCode: 2,
			wantErr: []string{"--role", `role ""`}},
		{name: "unknown role", args: []string{"--role", "root", "--name", "ci"}, wantCode: 2,
			wantErr: []string{`role "root"`, "reader, writer or admin"}},
		{name: "no name", args: []string{"--role", "reader"}, wantCode: 2,
			wantErr: []string{"--name", "empty"}},
		{name: "bad name", args: []string{"--role", "reader", "--name", "a b"}, wantCode: 2,
			wantErr: []string{`name "a b"`}},
		{name: "stray argument", args: []string{"--role", "reader", "--name", "ci", "x"},
			wantCode: 2, wantErr: []string{`unexpected argument "x"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := tokenCommand(tt.args, &stdout, &stderr)
			if code != tt.wantCode {
				t.Fatalf("exit code = %d, want %d; stderr:\n%s", code, tt.wantCode, &stderr)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("stderr %q does not mention %q", &stderr, want)
				}
			}
			if code != 0 {
				return
			}

			token, line := tokenOutput(t, stdout.String())
			if len(token) != 43 {
				t.Errorf("token %q has %d characters, want 43 (32 bytes, base64url)",
					token, len(token))
			}
			callers, err := server.ParseCallers(strings.NewReader(line), "output")
			if err != nil || callers.Len() != 1 {
				t.Errorf("the printed line %q is not a tokens file line: %v", line, err)
			}
			if want := server.HashToken(token); !strings.HasSuffix(line, " "+want) {
				t.Errorf("line %q does not end with the token's hash %s", line, want)
			}
		})
	}
}

// tokenOutput splits what nsallocd token prints into the token and the
// line for the tokens file.
func tokenOutput(t *testing.T, out string) (token, line string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("nsallocd token printed %d lines, want 2:\n%s", len(lines), out)
	}
	return lines[0], lines[1]
}

// TestTokenEndToEnd makes tokens with the daemon's own command, starts the
// daemon with their lines, and calls it with them, from Go and from
// grpcurl as the README shows.
func TestTokenEndToEnd(t *testing.T) {
	dir := t.TempDir()
	var file strings.Builder
	tokens := map[string]string{}
	for _, c := range []struct{ role, name string }{{"writer", "ci"}, {"reader", "dash"}} {
		out, err := exec.Command(filepath.Join(binDir, "nsallocd"), "token",
			"--role", c.role, "--name", c.name).Output()
		if err != nil {
			t.Fatalf("nsallocd token --role %s --name %s: %v", c.role, c.name, err)
		}
		token, line := tokenOutput(t, string(out))
		tokens[c.name] = token
		file.WriteString(line + "\n")
	}
	tokensFile := writeFile(t, dir, "tokens.txt", file.String())

	d := startDaemon(t, filepath.Join(dir, "nsalloc.db"), "--tokens", tokensFile)
	client := d.client(t)
	ctx := testCtx(t)
	bearer := func(name string) context.Context {
		return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tokens[name])
	}
	reserve := &nsallocv1.ReserveRequest{
		AppId: "9423dfaa-2bd8-43fa-bcd9-b0599ea44d5e", AppName: "Math",
	}

	tests := []struct {
		name string
		call func() error
		want codes.Code
	}{
		{"writer reserves", func() error {
			_, err := client.Reserve(bearer("ci"), reserve)
			return err
		}, codes.OK},
		{"no token", func() error {
			_, err := client.Reserve(ctx, reserve)
			return err
		}, codes.Unauthenticated},
		{"reader may not reserve", func() error {
			_, err := client.Reserve(bearer("dash"), reserve)
			return err
		}, codes.PermissionDenied},
		{"writer may not back up", func() error {
			stream, err := client.Backup(bearer("ci"), &nsallocv1.BackupRequest{})
			if err == nil {
				_, err = stream.Recv()
			}
			return err
		}, codes.PermissionDenied},
		{"history names the writer", func() error {
			resp, err := client.History(bearer("dash"),
				&nsallocv1.HistoryRequest{Namespace: "math"})
			if err == nil && resp.GetEvents()[0].GetCaller() != "ci" {
				t.Errorf("History = %v, want it reserved by ci", resp.GetEvents())
			}
			return err
		}, codes.OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := status.Code(tt.call()); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}

	// grpcurl: the schema and health need no token; calls send it as a
	// header.
	grpcurl := []struct {
		args []string
		want string
	}{
		{[]string{"-plaintext", d.Addr(), "list"}, "nsalloc.v1.NamespaceService"},
		{[]string{"-plaintext", d.Addr(), "grpc.health.v1.Health/Check"}, `"SERVING"`},
		{[]string{"-H", "authorization: Bearer " + tokens["dash"], "-plaintext",
			"-d", `{"namespace": "math"}`, d.Addr(), "nsalloc.v1.NamespaceService/Resolve"},
			`"name": "math"`},
	}
	for _, g := range grpcurl {
		out, err := exec.Command(filepath.Join(binDir, "grpcurl"), g.args...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), g.want) {
			t.Errorf("grpcurl %s = %v:\n%s\nwant %s", g.args[len(g.args)-1], err, out, g.want)
		}
	}

	d.stop(t, syscall.SIGTERM)
	for name, token := range tokens {
		if strings.Contains(d.Logs(), token) {
			t.Errorf("the daemon's log shows the token of %s", name)
		}
	}
	if !strings.Contains(d.Logs(), `"auth":"tokens","callers":2`) {
		t.Errorf("the serving line does not count the callers:\n%s", d.Logs())
	}
}

// writeFile writes data to dir/name and returns the path.
func writeFile[T string | []byte](t *testing.T, dir, name string, data T) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// tlsFiles are the files of a daemon that serves TLS.
type tlsFiles struct {
	dir, cert, key, clientCA string
}

// writeServerCert writes a server certificate issued by ca, with serial,
// to the cert and key files.
func (f tlsFiles) writeServerCert(t *testing.T, ca *testcert.CA, serial int64) {
	t.Helper()
	certPEM, keyPEM := ca.Issue(t, "nsallocd", serial, x509.ExtKeyUsageServerAuth)
	writeFile(t, f.dir, filepath.Base(f.cert), certPEM)
	writeFile(t, f.dir, filepath.Base(f.key), keyPEM)
}

// newTLSFiles writes a server certificate with serial 100 issued by ca, and
// the client CA file holding clientCA.
func newTLSFiles(t *testing.T, ca, clientCA *testcert.CA) tlsFiles {
	t.Helper()
	dir := t.TempDir()
	f := tlsFiles{dir: dir, cert: filepath.Join(dir, "cert.pem"),
		key: filepath.Join(dir, "key.pem"), clientCA: filepath.Join(dir, "client-ca.pem")}
	f.writeServerCert(t, ca, 100)
	writeFile(t, dir, "client-ca.pem", clientCA.PEM)
	return f
}

// tlsClient dials addr over TLS, trusting ca, and presenting clientCert
// when it is not nil.
func tlsClient(t *testing.T, addr string, ca *testcert.CA, clientCert *tls.Certificate,
) nsallocv1.NamespaceServiceClient {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(ca.Certificate())
	config := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	if clientCert != nil {
		config.Certificates = []tls.Certificate{*clientCert}
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(config)))
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return nsallocv1.NewNamespaceServiceClient(conn)
}

// servedSerial makes a call and returns the serial number of the
// certificate the server presented on the call's connection.
func servedSerial(ctx context.Context, client nsallocv1.NamespaceServiceClient) (int64, error) {
	var p peer.Peer
	_, err := client.List(ctx, &nsallocv1.ListRequest{}, grpc.Peer(&p))
	if err != nil {
		return 0, err
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.PeerCertificates) == 0 {
		return 0, status.Errorf(codes.Internal, "connection without TLS: %v", p.AuthInfo)
	}
	return info.State.PeerCertificates[0].SerialNumber.Int64(), nil
}

// TestTLS serves TLS, then mTLS, and checks who gets in.
func TestTLS(t *testing.T) {
	ca, clientCA, strangerCA := testcert.NewCA(t, "server CA"), testcert.NewCA(t, "client CA"),
		testcert.NewCA(t, "stranger CA")
	files := newTLSFiles(t, ca, clientCA)
	clientCert := func(ca *testcert.CA) *tls.Certificate {
		certPEM, keyPEM := ca.Issue(t, "backend", 7, x509.ExtKeyUsageClientAuth)
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		return &cert
	}
	good, stranger := clientCert(clientCA), clientCert(strangerCA)

	tlsDaemon := startDaemon(t, filepath.Join(t.TempDir(), "tls.db"),
		"--tls-cert", files.cert, "--tls-key", files.key)
	mtlsDaemon := startDaemon(t, filepath.Join(t.TempDir(), "mtls.db"),
		"--tls-cert", files.cert, "--tls-key", files.key, "--tls-client-ca", files.clientCA)

	tests := []struct {
		name   string
		client func() nsallocv1.NamespaceServiceClient
		served bool
	}{
		{"plaintext client, TLS server", func() nsallocv1.NamespaceServiceClient {
			return tlsDaemon.client(t)
		}, false},
		{"TLS client, TLS server", func() nsallocv1.NamespaceServiceClient {
			return tlsClient(t, tlsDaemon.Addr(), ca, nil)
		}, true},
		{"client without a certificate, mTLS server", func() nsallocv1.NamespaceServiceClient {
			return tlsClient(t, mtlsDaemon.Addr(), ca, nil)
		}, false},
		{"client with a stranger's certificate", func() nsallocv1.NamespaceServiceClient {
			return tlsClient(t, mtlsDaemon.Addr(), ca, stranger)
		}, false},
		{"client with a good certificate", func() nsallocv1.NamespaceServiceClient {
			return tlsClient(t, mtlsDaemon.Addr(), ca, good)
		}, true},
		{"plaintext client, mTLS server", func() nsallocv1.NamespaceServiceClient {
			return mtlsDaemon.client(t)
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.client().List(testCtx(t), &nsallocv1.ListRequest{})
			switch {
			case tt.served && err != nil:
				t.Errorf("List = %v, want an answer", err)
			case !tt.served && status.Code(err) != codes.Unavailable:
				t.Errorf("List = %v, want UNAVAILABLE: the connection refused", err)
			}
		})
	}

	for _, d := range []testDaemon{tlsDaemon, mtlsDaemon} {
		d.stop(t, syscall.SIGTERM)
	}
	if !strings.Contains(mtlsDaemon.Logs(), `"transport":"mtls"`) {
		t.Errorf("the serving line does not say mtls:\n%s", mtlsDaemon.Logs())
	}
}

// TestCertificateReloadOnSIGHUP replaces the certificate files of a running
// daemon and checks what SIGHUP changes: new connections get the new
// certificate, an open connection keeps working, and a reload of bad files
// keeps the certificate served before.
func TestCertificateReloadOnSIGHUP(t *testing.T) {
	ca, clientCA := testcert.NewCA(t, "server CA"), testcert.NewCA(t, "client CA")
	files := newTLSFiles(t, ca, clientCA)
	d := startDaemon(t, filepath.Join(t.TempDir(), "nsalloc.db"),
		"--tls-cert", files.cert, "--tls-key", files.key)
	ctx := testCtx(t)

	open := tlsClient(t, d.Addr(), ca, nil)
	if serial, err := servedSerial(ctx, open); err != nil || serial != 100 {
		t.Fatalf("first connection: serial %d, %v; want 100", serial, err)
	}

	steps := []struct {
		name       string
		write      func()
		logged     string // the line SIGHUP leads to
		wantSerial int64  // what a new connection sees afterwards
	}{
		{"new certificate", func() { files.writeServerCert(t, ca, 200) },
			"certificates reloaded", 200},
		{"bad files keep the last good certificate", func() {
			writeFile(t, files.dir, "cert.pem", "-----BEGIN CERTIFICATE-----\nbroken\n")
		}, "certificate reload failed", 200},
		{"good files again", func() { files.writeServerCert(t, ca, 300) },
			"certificates reloaded", 300},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			step.write()
			before := strings.Count(d.Logs(), step.logged)
			if err := d.Signal(syscall.SIGHUP); err != nil {
				t.Fatal(err)
			}
			waitForLog(t, d, step.logged, before+1)

			serial, err := servedSerial(ctx, tlsClient(t, d.Addr(), ca, nil))
			if err != nil || serial != step.wantSerial {
				t.Errorf("new connection: serial %d, %v; want %d", serial, err, step.wantSerial)
			}
			if serial, err := servedSerial(ctx, open); err != nil || serial != 100 {
				t.Errorf("open connection: serial %d, %v; want it to go on with 100",
					serial, err)
			}
		})
	}
	d.stop(t, syscall.SIGTERM)
}

// waitForLog waits until the daemon has logged msg n times.
func waitForLog(t *testing.T, d testDaemon, msg string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(d.Logs(), msg) < n {
		if time.Now().After(deadline) {
			t.Fatalf("the daemon did not log %q within 10s:\n%s", msg, d.Logs())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSIGHUPWithoutTLS checks that SIGHUP does not stop a plaintext daemon.
func TestSIGHUPWithoutTLS(t *testing.T) {
	d := startDaemon(t, filepath.Join(t.TempDir(), "nsalloc.db"))
	if err := d.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitForLog(t, d, "no certificates to reload", 1)
	conn, err := grpc.NewClient(d.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	_, err = nsallocv1.NewNamespaceServiceClient(conn).List(testCtx(t), &nsallocv1.ListRequest{})
	if err != nil {
		t.Errorf("List after SIGHUP: %v", err)
	}
	d.stop(t, syscall.SIGTERM)
}

// TestReadmeTokensFile checks that the tokens file the README shows is one
// the daemon reads.
func TestReadmeTokensFile(t *testing.T) {
	text, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, security, ok := strings.Cut(string(text), "\n## Security\n")
	if !ok {
		t.Fatal("README.md has no Security section")
	}
	_, block, ok := strings.Cut(security, "```text\n")
	if !ok {
		t.Fatal("the Security section shows no tokens file")
	}
	block, _, _ = strings.Cut(block, "```")
	callers, err := server.ParseCallers(strings.NewReader(block), "README.md")
	if err != nil {
		t.Fatalf("the README's tokens file: %v", err)
	}
	if got := callers.Len(); got != 2 {
		t.Errorf("the README's tokens file has %d callers, want 2", got)
	}
}
