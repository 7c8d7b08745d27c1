package server_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
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
