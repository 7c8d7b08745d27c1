package main

import (
	"context"
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/nsalloc/nsalloc/internal/embedetcd"
	"github.com/nsalloc/nsalloc/internal/testcert"
	nsallocv1 "github.com/nsalloc/nsalloc/proto/nsalloc/v1"
)

// reserveOne reserves one namespace through d and fails the test otherwise.
func reserveOne(t *testing.T, d testDaemon) {
	t.Helper()
	resp, err := d.client(t).Reserve(testCtx(t), &nsallocv1.ReserveRequest{
		AppId: appIDFor(7), AppName: "Secure Math",
	})
	if err != nil || resp.GetNamespace().GetName() != "secure-math" {
		t.Fatalf("Reserve = %v, %v; want secure-math", resp, err)
	}
}

// failedStart runs nsallocd with args, which must make it exit non-zero
// before it serves, and returns what it wrote.
func failedStart(t *testing.T, env []string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "nsallocd"),
		append([]string{"--listen", "127.0.0.1:0", "--etcd-timeout", "2s"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err == nil || ctx.Err() != nil {
		t.Fatalf("nsallocd %v: %v, want an early failure\n%s", args, err, out)
	}
	return string(out)
}

// TestEtcdOverMutualTLS serves namespaces from a cluster that speaks TLS
// only and asks clients for certificates.
func TestEtcdOverMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca := testcert.NewCA(t, "etcd CA")
	write := func(name string, data []byte) string {
		return writeFile(t, dir, name, data)
	}
	serverCert, serverKey := ca.Issue(t, "etcd", 20, x509.ExtKeyUsageServerAuth)
	clientCert, clientKey := ca.Issue(t, "nsallocd", 21, x509.ExtKeyUsageClientAuth)
	caFile := write("ca.pem", ca.PEM)
	cluster, err := embedetcd.StartTLS(filepath.Join(dir, "etcd"), 1, embedetcd.ClientTLS{
		CertFile: write("etcd.pem", serverCert), KeyFile: write("etcd-key.pem", serverKey),
		ClientCAFile: caFile,
	})
	if err != nil {
		t.Fatalf("start etcd over TLS: %v", err)
	}
	t.Cleanup(cluster.Close)
	endpoints := strings.Join(cluster.Endpoints(), ",")
	if !strings.HasPrefix(endpoints, "https://") {
		t.Fatalf("endpoints %s, want https", endpoints)
	}

	cert, key := write("client.pem", clientCert), write("client-key.pem", clientKey)
	d := startDaemon(t, "unused.db", "--store", "etcd", "--etcd-endpoints", endpoints,
		"--etcd-ca", caFile, "--etcd-cert", cert, "--etcd-key", key)
	reserveOne(t, d)

	// Without a client certificate the cluster refuses the daemon.
	out := failedStart(t, nil, "--store", "etcd", "--etcd-endpoints", endpoints,
		"--etcd-ca", caFile)
	if !strings.Contains(out, endpoints) {
		t.Errorf("failure does not name the cluster:\n%s", out)
	}
}

// TestEtcdUserAndPassword serves namespaces as an etcd user whose role may
// only touch nsalloc's prefix, with the password from the environment.
func TestEtcdUserAndPassword(t *testing.T) {
	cluster, err := embedetcd.Start(t.TempDir(), 1, nil)
	if err != nil {
		t.Fatalf("start etcd: %v", err)
	}
	t.Cleanup(cluster.Close)
	enableAuth(t, cluster, "/secure/", "nsalloc", "s3cret")
	endpoints := strings.Join(cluster.Endpoints(), ",")

	t.Setenv("NSALLOC_ETCD_PASSWORD", "s3cret")
	d := startDaemon(t, "unused.db", "--store", "etcd", "--etcd-endpoints", endpoints,
		"--etcd-prefix", "/secure/", "--etcd-user", "nsalloc")
	reserveOne(t, d)

	// A wrong password, or a prefix outside the role, stops the start.
	tests := []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"wrong password", []string{"NSALLOC_ETCD_PASSWORD=wrong"}, nil,
			"authentication failed"},
		{"prefix outside the role", nil, []string{"--etcd-prefix", "/other/"},
			"permission denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"--store", "etcd", "--etcd-endpoints", endpoints,
				"--etcd-prefix", "/secure/", "--etcd-user", "nsalloc"}, tt.args...)
			if out := failedStart(t, tt.env, args...); !strings.Contains(out, tt.want) {
				t.Errorf("output does not say %q:\n%s", tt.want, out)
			}
		})
	}
}

// enableAuth turns etcd's authentication on, with a user that may read and
// write under prefix only.
func enableAuth(t *testing.T, cluster *embedetcd.Cluster, prefix, user, password string) {
	t.Helper()
	cli, err := cluster.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cli.Close() }()
	ctx := testCtx(t)

	steps := []func() error{
		func() error { _, err := cli.RoleAdd(ctx, "root"); return err },
		func() error { _, err := cli.UserAdd(ctx, "root", "root-password"); return err },
		func() error { _, err := cli.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := cli.RoleAdd(ctx, user); return err },
		func() error {
			_, err := cli.RoleGrantPermission(ctx, user, prefix,
				clientv3.GetPrefixRangeEnd(prefix), clientv3.PermissionType(clientv3.PermReadWrite))
			return err
		},
		func() error { _, err := cli.UserAdd(ctx, user, password); return err },
		func() error { _, err := cli.UserGrantRole(ctx, user, user); return err },
		func() error { _, err := cli.AuthEnable(ctx); return err },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("enable auth, step %d: %v", i+1, err)
		}
	}
}
