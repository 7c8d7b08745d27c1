package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nsalloc/nsalloc/internal/daemon"
)

// binDir holds the nsallocctl and nsallocd binaries that TestMain builds.
var binDir string

func TestMain(m *testing.M) {
	os.Exit(daemon.RunWithBinaries(m, func(dir string) error {
		binDir = dir
		return buildBinaries(dir)
	}))
}

// buildBinaries builds nsallocctl from this package and the daemon.
func buildBinaries(dir string) error {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		return err
	}
	if _, err := daemon.Build(root, dir); err != nil {
		return err
	}
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "nsallocctl"), ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/nsallocctl: %v\n%s", err, out)
	}
	return nil
}

// startDaemon runs nsallocd on a new database, a free loopback port and no
// rate limit, with args added; it ends with the test.
func startDaemon(t *testing.T, args ...string) *daemon.Process {
	t.Helper()
	args = append([]string{"--listen", "127.0.0.1:0",
		"--db", filepath.Join(t.TempDir(), "nsalloc.db"), "--rate-limit", "0"}, args...)
	p, err := daemon.Start(filepath.Join(binDir, "nsallocd"), args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Kill() })
	return p
}

// ctlRun is one run of nsallocctl.
type ctlRun struct {
	stdout, stderr string
	code           int
}

// invocation is how nsallocctl is run: its environment and its input.
type invocation struct {
	env   []string // added to an environment without NSALLOC_ variables
	stdin string
}

// ctl runs nsallocctl with args and returns what it did.
func ctl(t *testing.T, inv invocation, args ...string) ctlRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "nsallocctl"), args...)
	cmd.Env = append(cleanEnv(), inv.env...)
	cmd.Stdin = strings.NewReader(inv.stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()

	var exit *exec.ExitError
	code := 0
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("nsallocctl %s: %v", strings.Join(args, " "), err)
	}
	return ctlRun{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

// cleanEnv is the test's environment without the variables nsallocctl
// reads.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NSALLOC_") {
			env = append(env, kv)
		}
	}
	return env
}

// decode reads the JSON document of a run into a value of type T.
func decode[T any](t *testing.T, r ctlRun) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("stdout is not the JSON document expected: %v\n%s", err, r.stdout)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		t.Fatalf("stdout holds more than one JSON document:\n%s", r.stdout)
	}
	return v
}

// closedAddr returns a loopback address that nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}
