package client_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/nsalloc/nsalloc/client"
	"github.com/nsalloc/nsalloc/server"
	"github.com/nsalloc/nsalloc/store"
	"github.com/nsalloc/nsalloc/store/bolt"
)

// Fixed app ids, in canonical form.
const (
	appMath    = "9423dfaa-2bd8-43fa-bcd9-b0599ea44d5e"
	appMath2   = "1c2d3e4f-5a6b-4c7d-8e9f-a0b1c2d3e4f5"
	appOther   = "aa000000-0000-4000-8000-000000000001"
	appUnknown = "bb000000-0000-4000-8000-000000000002"
)

// serverConfig says how a test server is built; the zero value serves a
// plain database with no extra options.
type serverConfig struct {
	// wrap, when set, stands between the service and the database.
	wrap func(store.Store) store.Store
	// opts are added to the gRPC server's options.
	opts []grpc.ServerOption
}

// testServer is a real server on a loopback port over a real bbolt file. It
// can be stopped and started again on the same address and file.
type testServer struct {
	path string
	cfg  serverConfig

	mu   sync.Mutex // guards addr and stop
	addr string
	stop func() error // stops the running instance; nil while stopped
}

// startServer serves a fresh database on 127.0.0.1 at a port of its own,
// until the test ends.
func startServer(t *testing.T, cfg serverConfig) *testServer {
	t.Helper()
	ts := &testServer{
		path: filepath.Join(t.TempDir(), "nsalloc.db"),
		cfg:  cfg,
		addr: "127.0.0.1:0",
	}
	if err := ts.start(); err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(func() {
		if err := ts.shutdown(); err != nil {
			t.Errorf("stop server: %v", err)
		}
	})
	return ts
}

// Addr returns the address the server listens on.
func (ts *testServer) Addr() string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.addr
}

// start opens the database and serves it on the server's address. It
// returns errors rather than failing the test, so that a goroutine can call
// it.
func (ts *testServer) start() error {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.stop != nil {
		return errors.New("already running")
	}

	db, err := bolt.Open(ts.path, nil)
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	var st store.Store = db
	if ts.cfg.wrap != nil {
		st = ts.cfg.wrap(db)
	}
	svc, err := server.NewService(context.Background(), server.Options{Store: st})
	if err != nil {
		return errors.Join(fmt.Errorf("NewService: %w", err), db.Close())
	}

	lis, err := net.Listen("tcp", ts.addr)
	if err != nil {
		return errors.Join(fmt.Errorf("listen: %w", err), db.Close())
	}
	ts.addr = lis.Addr().String()
	srv := server.New(svc, nil, ts.cfg.opts...)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()

	ts.stop = func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		return errors.Join(<-served, db.Close())
	}
	return nil
}

// shutdown stops the server, if it runs, and closes its database.
func (ts *testServer) shutdown() error {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.stop == nil {
		return nil
	}
	err := ts.stop()
	ts.stop = nil
	return err
}

// dial returns a plaintext client of addr, closed when the test ends.
func dial(t *testing.T, addr string, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.Dial(addr, append([]client.Option{client.WithInsecure()}, opts...)...)
	if err != nil {
		t.Fatalf("Dial(%s): %v", addr, err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}

// testCtx returns a context that ends with the test, or after 30 seconds.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// attemptCounter counts the calls a client sends, each attempt apart.
type attemptCounter struct {
	n atomic.Int64
}

// option installs the counter in a client.
func (a *attemptCounter) option() client.Option {
	return client.WithDialOptions(
		grpc.WithChainUnaryInterceptor(func(
			ctx context.Context, method string, req, reply any,
			cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption,
		) error {
			a.n.Add(1)
			return invoker(ctx, method, req, reply, cc, opts...)
		}),
		grpc.WithChainStreamInterceptor(func(
			ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string,
			streamer grpc.Streamer, opts ...grpc.CallOption,
		) (grpc.ClientStream, error) {
			a.n.Add(1)
			return streamer(ctx, desc, cc, method, opts...)
		}),
	)
}

// sentinels are every error of the client that errors.Is can match a
// call's error against.
var sentinels = []error{
	client.ErrNotFound, client.ErrTaken, client.ErrRetired, client.ErrInvalid,
	client.ErrUnauthenticated, client.ErrPermissionDenied, client.ErrUnavailable,
	client.ErrOverloaded, client.ErrRateLimited, context.DeadlineExceeded, context.Canceled,
}

// wantError describes the error a call must fail with.
type wantError struct {
	is     error  // the one sentinel it matches; nil for none
	reason string // Error.Reason
	field  string // a field of Error.Fields, if any
}

// checkError asserts that err is an *Error that matches w.is and no other
// sentinel, with w's reason and field, and that status.Code reads its code.
func checkError(t *testing.T, err error, w wantError) *client.Error {
	t.Helper()
	var e *client.Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v (%T), want a *client.Error", err, err)
	}

	for _, s := range sentinels {
		if got, want := errors.Is(err, s), s == w.is; got != want {
			t.Errorf("errors.Is(%v, %v) = %v, want %v", err, s, got, want)
		}
	}
	if e.Reason != w.reason {
		t.Errorf("Reason = %q, want %q", e.Reason, w.reason)
	}
	if w.field != "" && !hasField(e.Fields, w.field) {
		t.Errorf("Fields = %v, want one for %q", e.Fields, w.field)
	}
	if got := status.Convert(err); got.Code() != e.Code || got.Message() != e.Message {
		t.Errorf("status.Convert = %s %q, want %s %q", got.Code(), got.Message(), e.Code,
			e.Message)
	}
	return e
}

func hasField(fields []client.FieldViolation, field string) bool {
	for _, f := range fields {
		if f.Field == field && strings.HasPrefix(f.Description, field) {
			return true
		}
	}
	return false
}
