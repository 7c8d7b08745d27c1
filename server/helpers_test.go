package server_test

import (
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	nsallocv1 "github.com/nsalloc/nsalloc/proto/nsalloc/v1"
	"github.com/nsalloc/nsalloc/server"
	"github.com/nsalloc/nsalloc/store"
	"github.com/nsalloc/nsalloc/store/bolt"
)

// testServer is a real server on a loopback port over a real bbolt file.
type testServer struct {
	db     *bolt.DB
	srv    *server.Server
	client nsallocv1.NamespaceServiceClient
	health healthpb.HealthClient
}

// startServer serves a fresh database on 127.0.0.1:0. wrap, when not nil,
// stands between the service and the database.
func startServer(t testing.TB, wrap func(store.Store) store.Store) *testServer {
	t.Helper()
	return startServerWith(t, serverSetup{wrap: wrap})
}

// startLoggedServer is startServer with the server logging to logger and
// built with extra options.
func startLoggedServer(
	t testing.TB, wrap func(store.Store) store.Store, logger *slog.Logger,
	extra ...grpc.ServerOption,
) *testServer {
	t.Helper()
	return startServerWith(t, serverSetup{wrap: wrap, logger: logger, options: extra})
}

// serverSetup says how startServerWith builds a server; the zero value
// builds a plain one.
type serverSetup struct {
	wrap     func(store.Store) store.Store // stands between service and database
	logger   *slog.Logger
	observer server.Observer
	options  []grpc.ServerOption // for server.New
}

// startServerWith serves a fresh database on 127.0.0.1:0 as setup says.
func startServerWith(t testing.TB, setup serverSetup) *testServer {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "nsalloc.db"), nil)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })

	var st store.Store = db
	if setup.wrap != nil {
		st = setup.wrap(db)
	}
	svc, err := server.NewService(context.Background(), server.Options{
		Store: st, Observer: setup.observer,
	})
	if err != nil {
		t.Fatalf("NewService: %v", err)
	}

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	srv := server.New(svc, setup.logger, setup.options...)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})

	conn, err := grpc.NewClient(lis.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })

	return &testServer{
		db:     db,
		srv:    srv,
		client: nsallocv1.NewNamespaceServiceClient(conn),
		health: healthpb.NewHealthClient(conn),
	}
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// Fixed app ids, in canonical form.
const (
	appMath    = "9423dfaa-2bd8-43fa-bcd9-b0599ea44d5e"
	appMath2   = "1c2d3e4f-5a6b-4c7d-8e9f-a0b1c2d3e4f5"
	appOther   = "aa000000-0000-4000-8000-000000000001"
	appUnknown = "bb000000-0000-4000-8000-000000000002"
)

func (ts *testServer) reserve(t *testing.T, appID, name string) *nsallocv1.ReserveResponse {
	t.Helper()
	resp, err := ts.client.Reserve(testCtx(t), &nsallocv1.ReserveRequest{
		AppId: appID, AppName: name,
	})
	if err != nil {
		t.Fatalf("Reserve(%s, %q): %v", appID, name, err)
	}
	return resp
}

func (ts *testServer) release(t *testing.T, appID string) {
	t.Helper()
	_, err := ts.client.Release(testCtx(t), &nsallocv1.ReleaseRequest{AppId: appID})
	if err != nil {
		t.Fatalf("Release(%s): %v", appID, err)
	}
}

// wantError describes the status a call must fail with.
type wantError struct {
	code   codes.Code
	reason string   // ErrorInfo reason; "" for INVALID_ARGUMENT
	field  string   // BadRequest field; only for INVALID_ARGUMENT
	words  []string // substrings of the message
}

// checkError asserts that err is the status w describes, with its details.
func checkError(t *testing.T, err error, w wantError) {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok || err == nil {
		t.Fatalf("error = %v, want status %s", err, w.code)
	}
	if st.Code() != w.code {
		t.Fatalf("code = %s (%q), want %s", st.Code(), st.Message(), w.code)
	}
	for _, word := range w.words {
		if !strings.Contains(st.Message(), word) {
			t.Errorf("message %q does not contain %q", st.Message(), word)
		}
	}

	var info *errdetails.ErrorInfo
	var bad *errdetails.BadRequest
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			info = d
		case *errdetails.BadRequest:
			bad = d
		}
	}

	if w.code == codes.InvalidArgument {
		if bad == nil {
			t.Fatalf("INVALID_ARGUMENT without BadRequest details: %q", st.Message())
		}
		if !hasField(bad, w.field) {
			t.Errorf("BadRequest fields = %v, want %q", bad.GetFieldViolations(), w.field)
		}
		return
	}
	if info == nil {
		t.Fatalf("%s without ErrorInfo details: %q", st.Code(), st.Message())
	}
	if info.GetDomain() != server.ErrorDomain || info.GetReason() != w.reason {
		t.Errorf("ErrorInfo = %s/%s, want %s/%s",
			info.GetDomain(), info.GetReason(), server.ErrorDomain, w.reason)
	}
}

func hasField(bad *errdetails.BadRequest, field string) bool {
	for _, v := range bad.GetFieldViolations() {
		if v.GetField() == field && strings.HasPrefix(v.GetDescription(), field) {
			return true
		}
	}
	return false
}

// snapshot lists every record, to show that a call changed nothing.
func (ts *testServer) snapshot(t *testing.T) []store.Record {
	t.Helper()
	recs, _, err := ts.db.List(testCtx(t), store.ListQuery{Limit: 1 << 20})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	return recs
}

// panicStore panics on ByName("boom"), to show that a panic is contained.
type panicStore struct{ store.Store }

func (p panicStore) ByName(ctx context.Context, name string) (store.Record, error) {
	if name == "boom" {
		panic("boom")
	}
	return p.Store.ByName(ctx, name)
}

// gateStore holds every Claim until the gate is opened, to keep a call in
// flight.
type gateStore struct {
	store.Store
	entered chan struct{}
	gate    chan struct{}
}

func (g gateStore) Claim(ctx context.Context, c store.Claim) (store.Record, bool, error) {
	g.entered <- struct{}{}
	select {
	case <-g.gate:
	case <-ctx.Done():
		return store.Record{}, false, ctx.Err()
	}
	return g.Store.Claim(ctx, c)
}
