package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/nsalloc/nsalloc/internal/daemon"
	nsallocv1 "github.com/nsalloc/nsalloc/proto/nsalloc/v1"
)

// binDir holds the nsallocd and grpcurl binaries that TestMain builds.
var binDir string

func TestMain(m *testing.M) {
	os.Exit(daemon.RunWithBinaries(m, func(dir string) error {
		binDir = dir
		return buildBinaries(dir)
	}))
}

// buildBinaries builds the daemon from this package and grpcurl at the
// version pinned in tools/go.mod.
func buildBinaries(dir string) error {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		return err
	}
	if _, err := daemon.Build(root, dir); err != nil {
		return err
	}
	args := []string{"build", "-modfile=tools/go.mod", "-o", filepath.Join(dir, "grpcurl"),
		"github.com/fullstorydev/grpcurl/cmd/grpcurl"}
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// testDaemon is one nsallocd process that ends with its test.
type testDaemon struct {
	*daemon.Process
}

// startDaemon runs nsallocd on dbPath and a free loopback port, and waits
// until it says where it serves.
func startDaemon(t *testing.T, dbPath string, args ...string) testDaemon {
	t.Helper()
	args = append([]string{"--listen", "127.0.0.1:0", "--db", dbPath}, args...)
	p, err := daemon.Start(filepath.Join(binDir, "nsallocd"), args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Kill() })
	return testDaemon{p}
}

// stop sends sig and requires a clean exit.
func (d testDaemon) stop(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := d.Stop(sig, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, msg := range []string{`"msg":"shutting down"`, `"msg":"stopped"`} {
		if !strings.Contains(d.Logs(), msg) {
			t.Errorf("log lacks %s:\n%s", msg, d.Logs())
		}
	}
}

func (d testDaemon) client(t *testing.T) nsallocv1.NamespaceServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(d.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial %s: %v", d.Addr(), err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return nsallocv1.NewNamespaceServiceClient(conn)
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestRestartKeepsReservations(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "nsalloc.db")
	const appID = "9423dfaa-2bd8-43fa-bcd9-b0599ea44d5e"

	first := startDaemon(t, dbPath)
	reserved, err := first.client(t).Reserve(testCtx(t), &nsallocv1.ReserveRequest{
		AppId: appID, AppName: "Math",
	})
	if err != nil {
		t.Fatalf("Reserve: %v", err)
	}
	first.stop(t, syscall.SIGTERM)

	second := startDaemon(t, dbPath)
	resolved, err := second.client(t).Resolve(testCtx(t), &nsallocv1.ResolveRequest{
		Key: &nsallocv1.ResolveRequest_AppId{AppId: appID},
	})
	if err != nil {
		t.Fatalf("Resolve after restart: %v", err)
	}
	got, want := resolved.GetNamespace(), reserved.GetNamespace()
	if got.GetName() != want.GetName() ||
		!got.GetCreateTime().AsTime().Equal(want.GetCreateTime().AsTime()) {
		t.Errorf("after restart got %v, want %v", got, want)
	}
	second.stop(t, os.Interrupt)
}

func TestSecondDaemonOnOneFileFails(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "nsalloc.db")
	first := startDaemon(t, dbPath)

	start := time.Now()
	out, err := exec.Command(filepath.Join(binDir, "nsallocd"), "--listen", "127.0.0.1:0",
		"--db", dbPath, "--lock-timeout", "500ms").CombinedOutput()
	if err == nil {
		t.Fatalf("second nsallocd on %s succeeded, want a failure:\n%s", dbPath, out)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("second nsallocd took %s to give up", elapsed)
	}
	for _, want := range []string{"locked by another process", dbPath} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output does not say %q:\n%s", want, out)
		}
	}
	first.stop(t, syscall.SIGTERM)
}

func TestBadStartsExitNonZero(t *testing.T) {
	dir := t.TempDir()
	badNames := filepath.Join(dir, "reserved.txt")
	if err := os.WriteFile(badNames, []byte("# ours\nteam-tools\nNot_Valid\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"bad reserved names file", []string{"--reserved-names", badNames},
			[]string{badNames, "line 3", "Not_Valid"}},
		{"missing reserved names file", []string{"--reserved-names", filepath.Join(dir, "none")},
			[]string{"no such file"}},
		{"bad log level", []string{"--log-level", "loud"}, []string{`--log-level "loud"`}},
		{"bad listen address", []string{"--listen", "256.0.0.1:1"}, []string{"256.0.0.1:1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"--db", filepath.Join(t.TempDir(), "x.db")}, tt.args...)
			out, err := exec.Command(filepath.Join(binDir, "nsallocd"), args...).CombinedOutput()
			if err == nil {
				t.Fatalf("nsallocd %v succeeded, want a failure:\n%s", args, out)
			}
			for _, want := range tt.want {
				if !strings.Contains(string(out), want) {
					t.Errorf("output does not mention %q:\n%s", want, out)
				}
			}
		})
	}
}
