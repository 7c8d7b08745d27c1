package embedetcd

import (
	"context"
	"errors"
	"net"
	"runtime"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// start runs a cluster for the length of the test.
func start(t *testing.T, members int) *Cluster {
	t.Helper()
	c, err := Start(t.TempDir(), members, nil)
	if err != nil {
		t.Fatalf("Start(%d): %v", members, err)
	}
	t.Cleanup(c.Close)
	return c
}

// client returns a client of c closed at the end of the test.
func client(t *testing.T, c *Cluster) *clientv3.Client {
	t.Helper()
	cli, err := c.Client()
	if err != nil {
		t.Fatalf("Client: %v", err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

func put(t *testing.T, cli *clientv3.Client, key, val string, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	if _, err := cli.Put(ctx, key, val); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func mustGet(t *testing.T, cli *clientv3.Client, key, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != want {
		t.Fatalf("Get(%q) = %v, want one value %q", key, resp.Kvs, want)
	}
}

func waitLeader(t *testing.T, c *Cluster) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	i, err := c.WaitLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return i
}

func TestStartRejectsNoMembers(t *testing.T) {
	for _, n := range []int{0, -1} {
		if c, err := Start(t.TempDir(), n, nil); err == nil {
			c.Close()
			t.Errorf("Start(%d) succeeded, want an error", n)
		}
	}
}

// TestStartRetriesTakenPort hands Start a port that is in use, as when
// another process binds a probed port first, and expects a second attempt on
// fresh ports to succeed.
func TestStartRetriesTakenPort(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = taken.Close() }()

	calls := 0
	pickPorts = func(n int) ([]int, error) {
		calls++
		ports, err := freePorts(n)
		if calls == 1 && err == nil {
			ports[len(ports)-1] = taken.Addr().(*net.TCPAddr).Port
		}
		return ports, err
	}
	defer func() { pickPorts = freePorts }()

	c := start(t, 1)
	if calls != 2 {
		t.Errorf("picked ports %d times, want 2", calls)
	}
	cli := client(t, c)
	put(t, cli, "k", "v", 5*time.Second)
	mustGet(t, cli, "k", "v")
}

func TestSingleMember(t *testing.T) {
	goroutines := runtime.NumGoroutine()
	c := start(t, 1)
	if eps := c.Endpoints(); len(eps) != 1 {
		t.Fatalf("Endpoints() = %v, want one", eps)
	}
	if i := waitLeader(t, c); i != 0 {
		t.Fatalf("leader = %d, want 0", i)
	}
	cli, err := c.Client()
	if err != nil {
		t.Fatalf("Client: %v", err)
	}
	defer func() { _ = cli.Close() }()

	tests := []struct {
		name, key, val string
	}{
		{"plain", "k", "v"},
		{"nested key", "/ns/a/b", "value with spaces"},
		{"empty value", "empty", ""},
		{"binary", "bin\x00key", "\x00\xff\x01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			put(t, cli, tt.key, tt.val, 5*time.Second)
			mustGet(t, cli, tt.key, tt.val)
		})
	}

	if err := cli.Close(); err != nil {
		t.Errorf("closing client: %v", err)
	}
	c.Close()
	c.Close()
	// Everything etcd started must be gone, or a long benchmark run that
	// starts many clusters would pile goroutines up.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	for runtime.NumGoroutine() > goroutines && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > goroutines {
		t.Errorf("%d goroutines after Close, %d before Start", n, goroutines)
	}
	if eps := c.Endpoints(); len(eps) != 0 {
		t.Errorf("Endpoints() after Close = %v, want none", eps)
	}
	if _, err := c.Leader(); err == nil {
		t.Error("Leader() after Close succeeded, want an error")
	}
	if _, err := c.Client(); err == nil {
		t.Error("Client() after Close succeeded, want an error")
	}
}

func TestLeaderLoss(t *testing.T) {
	t.Parallel()
	c := start(t, 3)
	cli := client(t, c)
	put(t, cli, "before", "1", 5*time.Second)

	old := waitLeader(t, c)
	c.StopMember(old)
	c.StopMember(old) // already stopped: no effect
	if eps := c.Endpoints(); len(eps) != 2 {
		t.Fatalf("Endpoints() after stopping one of three = %v, want two", eps)
	}
	nu := waitLeader(t, c)
	if nu == old {
		t.Fatalf("leader after stopping member %d is still %d", old, nu)
	}

	put(t, cli, "after", "2", 5*time.Second)
	mustGet(t, cli, "before", "1")
	mustGet(t, cli, "after", "2")
}

func TestQuorumLoss(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// stop picks the two members to stop, given the leader.
		stop func(leader int) [2]int
	}{
		{"leader and a follower", func(l int) [2]int { return [2]int{l, (l + 1) % 3} }},
		{"both followers", func(l int) [2]int { return [2]int{(l + 1) % 3, (l + 2) % 3} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := start(t, 3)
			cli := client(t, c)
			put(t, cli, "k", "v", 5*time.Second)

			stopped := tt.stop(waitLeader(t, c))
			for _, i := range stopped {
				c.StopMember(i)
			}

			const deadline = 2 * time.Second
			ctx, cancel := context.WithTimeout(t.Context(), deadline)
			defer cancel()
			begin := time.Now()
			_, err := cli.Get(ctx, "k")
			took := time.Since(begin)
			t.Logf("Get without quorum: %v after %v", err, took)
			if err == nil {
				t.Fatal("linearizable Get without quorum succeeded")
			}
			if code := status.Code(err); !errors.Is(err, context.DeadlineExceeded) &&
				code != codes.DeadlineExceeded && code != codes.Unavailable {
				t.Errorf("Get without quorum: %v (code %v), want deadline or unavailable",
					err, code)
			}
			if took > deadline+time.Second {
				t.Errorf("Get without quorum took %v, want about %v", took, deadline)
			}

			// Bringing one back restores quorum and the data written before.
			if err := c.RestartMember(stopped[0]); err != nil {
				t.Fatalf("RestartMember(%d): %v", stopped[0], err)
			}
			waitLeader(t, c)
			mustGet(t, cli, "k", "v")
		})
	}
}
