package drill

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/nsalloc/nsalloc/internal/daemon"
)

var full = flag.Bool("drill.full", false,
	"run the full drills: more crash rounds and longer overload phases")

// bin is the nsallocd binary that TestMain builds.
var bin string

func TestMain(m *testing.M) {
	os.Exit(daemon.RunWithBinaries(m, func(dir string) error {
		root, err := filepath.Abs("..")
		if err != nil {
			return err
		}
		bin, err = daemon.Build(root, dir)
		return err
	}))
}

// scale picks the short or the full form of a drill's parameter.
func scale[T any](short, long T) T {
	if *full {
		return long
	}
	return short
}

// startDaemon runs nsallocd on dbPath and a free loopback port. The process
// is killed when the test ends, unless it has stopped by then. The drills
// drive the daemon harder than one caller may, so its rate limit is off.
func startDaemon(t *testing.T, dbPath string, args ...string) *daemon.Process {
	t.Helper()
	args = append([]string{"--listen", "127.0.0.1:0", "--db", dbPath, "--rate-limit", "0"},
		args...)
	p, err := daemon.Start(bin, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Kill() })
	return p
}

// dial opens n client connections to addr, closed when the test ends.
func dial(t *testing.T, addr string, n int) []*grpc.ClientConn {
	t.Helper()
	conns := make([]*grpc.ClientConn, n)
	for i := range conns {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatalf("dial %s: %v", addr, err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		conns[i] = conn
	}
	return conns
}
