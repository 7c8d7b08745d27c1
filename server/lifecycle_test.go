package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	nsallocv1 "github.com/nsalloc/nsalloc/proto/nsalloc/v1"
	"github.com/nsalloc/nsalloc/server"
	"github.com/nsalloc/nsalloc/store"
	"github.com/nsalloc/nsalloc/store/bolt"
)

func TestPanicBecomesInternal(t *testing.T) {
	ts := startServer(t, func(s store.Store) store.Store { return panicStore{s} })
	ctx := testCtx(t)

	_, err := ts.client.Resolve(ctx, &nsallocv1.ResolveRequest{
		Key: &nsallocv1.ResolveRequest_Namespace{Namespace: "boom"},
	})
	checkError(t, err, wantError{code: codes.Internal, reason: "INTERNAL",
		words: []string{"internal error"}})
	if strings.Contains(status.Convert(err).Message(), "boom") {
		t.Errorf("the panic's value reached the client: %v", err)
	}

	// The server keeps serving after the panic.
	ts.reserve(t, appMath, "math")
	resp, err := ts.client.Resolve(ctx, &nsallocv1.ResolveRequest{
		Key: &nsallocv1.ResolveRequest_Namespace{Namespace: "math"},
	})
	if err != nil || resp.GetNamespace().GetAppId() != appMath {
		t.Fatalf("Resolve after a panic = %v, %v; want math", resp, err)
	}
}

// TestCallLog checks the line each finished call gets, at the level its code
// calls for: only faults of the server reach a logger at info level.
func TestCallLog(t *testing.T) {
	tests := []struct {
		name      string
		level     slog.Level
		call      func(ts *testServer) error
		wantLevel string // empty when no line is wanted
		wantCode  string
		method    string
	}{
		{"ok at debug", slog.LevelDebug, reserveMath, "DEBUG", "OK", "Reserve"},
		{"ok at info", slog.LevelInfo, reserveMath, "", "", ""},
		{"refusal at debug", slog.LevelDebug, resolveMissing, "DEBUG", "NotFound", "Resolve"},
		{"refusal at info", slog.LevelInfo, resolveMissing, "", "", ""},
		{"panic at info", slog.LevelInfo, resolveBoom, "ERROR", "Internal", "Resolve"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf syncBuffer
			logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: tt.level}))
			ts := startLoggedServer(t,
				func(s store.Store) store.Store { return panicStore{s} }, logger)
			if err := tt.call(ts); status.Code(err).String() != tt.wantCode && tt.wantCode != "" {
				t.Fatalf("call ended with %v, want code %s", err, tt.wantCode)
			}

			var lines []map[string]any
			for line := range strings.Lines(buf.String()) {
				var entry map[string]any
				if err := json.Unmarshal([]byte(line), &entry); err != nil {
					t.Fatalf("log line %q: %v", line, err)
				}
				if entry["msg"] == "call finished" {
					lines = append(lines, entry)
				}
			}
			if tt.wantLevel == "" {
				if len(lines) != 0 {
					t.Fatalf("got call lines %v, want none", lines)
				}
				return
			}
			if len(lines) != 1 {
				t.Fatalf("got %d call lines %v, want 1", len(lines), lines)
			}
			got := lines[0]
			if got["level"] != tt.wantLevel || got["code"] != tt.wantCode ||
				got["method"] != "/nsalloc.v1.NamespaceService/"+tt.method || got["peer"] == nil {
				t.Errorf("got %v, want level %s, code %s, method %s and the peer",
					got, tt.wantLevel, tt.wantCode, tt.method)
			}
		})
	}
}

func reserveMath(ts *testServer) error {
	_, err := ts.client.Reserve(context.Background(), &nsallocv1.ReserveRequest{
		AppId: appMath, AppName: "math",
	})
	return err
}

func resolveMissing(ts *testServer) error {
	_, err := ts.client.Resolve(context.Background(), &nsallocv1.ResolveRequest{
		Key: &nsallocv1.ResolveRequest_Namespace{Namespace: "missing"},
	})
	return err
}

func resolveBoom(ts *testServer) error {
	_, err := ts.client.Resolve(context.Background(), &nsallocv1.ResolveRequest{
		Key: &nsallocv1.ResolveRequest_Namespace{Namespace: "boom"},
	})
	return err
}

// syncBuffer is a bytes.Buffer that the server's goroutines may share.
type syncBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// serviceName is the name operators give health checks for this service.
const serviceName = "nsalloc.v1.NamespaceService"

func TestHealth(t *testing.T) {
	ts := startServer(t, nil)
	for _, service := range []string{"", serviceName} {
		resp, err := ts.health.Check(testCtx(t), &healthpb.HealthCheckRequest{Service: service})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("Check(%q) = %v, %v; want SERVING", service, resp, err)
		}
	}
}

// TestShutdownFinishesCallsInFlight holds a Reserve inside the store while
// the server shuts down: health turns NOT_SERVING at once, and the call
// still completes.
func TestShutdownFinishesCallsInFlight(t *testing.T) {
	gate := gateStore{entered: make(chan struct{}, 1), gate: make(chan struct{})}
	ts := startServer(t, func(s store.Store) store.Store {
		gate.Store = s
		return gate
	})
	ctx := testCtx(t)

	watchCtx, endWatch := context.WithCancel(ctx)
	defer endWatch()
	watch, err := ts.health.Watch(watchCtx,
		&healthpb.HealthCheckRequest{Service: serviceName})
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	if first, err := watch.Recv(); err != nil ||
		first.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("first health = %v, %v; want SERVING", first, err)
	}

	reserved := make(chan error, 1)
	go func() {
		_, err := ts.client.Reserve(ctx, &nsallocv1.ReserveRequest{AppId: appMath, AppName: "m"})
		reserved <- err
	}()
	<-gate.entered

	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	finished := make(chan bool, 1)
	go func() { finished <- ts.srv.Shutdown(shutdownCtx) }()

	if next, err := watch.Recv(); err != nil ||
		next.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("health during shutdown = %v, %v; want NOT_SERVING", next, err)
	}
	endWatch()

	close(gate.gate)
	if err := <-reserved; err != nil {
		t.Errorf("Reserve in flight during shutdown: %v, want success", err)
	}
	if !<-finished {
		t.Errorf("Shutdown cut calls off, want every call finished in time")
	}
	if _, err := ts.db.ByApp(ctx, appMath); err != nil {
		t.Errorf("the reservation in flight was not stored: %v", err)
	}
}

// TestClosedStoreIsUnavailable shows what clients see while the store is
// closing under a running server.
func TestClosedStoreIsUnavailable(t *testing.T) {
	ts := startServer(t, nil)
	ts.reserve(t, appMath, "math")
	if err := ts.db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ctx := testCtx(t)

	_, err := ts.client.Reserve(ctx, &nsallocv1.ReserveRequest{AppId: appOther, AppName: "x"})
	checkError(t, err, wantError{code: codes.Unavailable, reason: "STORE_UNAVAILABLE"})

	_, err = ts.client.Resolve(ctx, &nsallocv1.ResolveRequest{
		Key: &nsallocv1.ResolveRequest_AppId{AppId: appMath},
	})
	checkError(t, err, wantError{code: codes.Unavailable, reason: "STORE_UNAVAILABLE"})
}

// corruptStore reports a damaged file on every look-up by app.
type corruptStore struct{ store.Store }

func (c corruptStore) ByApp(ctx context.Context, appID string) (store.Record, error) {
	return store.Record{}, fmt.Errorf("%w: app %s points at missing namespace", store.ErrCorrupt,
		appID)
}

// TestCorruptStoreIsDataLoss shows that a damaged file reaches the caller as
// DATA_LOSS without its details, and the operator's log with them.
func TestCorruptStoreIsDataLoss(t *testing.T) {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "nsalloc.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var logs bytes.Buffer
	svc, err := server.NewService(testCtx(t), server.Options{
		Store:  corruptStore{db},
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}

	_, err = svc.Resolve(testCtx(t), &nsallocv1.ResolveRequest{
		Key: &nsallocv1.ResolveRequest_AppId{AppId: appMath},
	})

	checkError(t, err, wantError{code: codes.DataLoss, reason: "STORE_CORRUPT"})
	if strings.Contains(status.Convert(err).Message(), "missing namespace") {
		t.Errorf("the store's details reached the caller: %v", err)
	}
	if !strings.Contains(logs.String(), "missing namespace") {
		t.Errorf("the log lacks the cause:\n%s", logs.String())
	}
}
