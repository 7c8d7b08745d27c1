package server_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	nsallocv1 "github.com/nsalloc/nsalloc/proto/nsalloc/v1"
	"github.com/nsalloc/nsalloc/server"
	"github.com/nsalloc/nsalloc/store/bolt"
)

// namedCaller is a unary interceptor that names every caller as the auth
// layer would, taking the name from the "test-caller" metadata.
func namedCaller(
	ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler,
) (any, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	if names := md.Get("test-caller"); len(names) == 1 {
		ctx = server.WithCaller(ctx, names[0])
	}
	return handler(ctx, req)
}

func as(ctx context.Context, caller string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "test-caller", caller)
}

func TestHistory(t *testing.T) {
	ts := startLoggedServer(t, nil, nil, grpc.ChainUnaryInterceptor(namedCaller))
	ctx := testCtx(t)

	// math is reserved by the backend and released by an operator; graph is
	// reserved by an anonymous caller and stays active.
	if _, err := ts.client.Reserve(as(ctx, "backend"), &nsallocv1.ReserveRequest{
		AppId: appMath, AppName: "Math",
	}); err != nil {
		t.Fatalf("Reserve math: %v", err)
	}
	if _, err := ts.client.Release(as(ctx, "operator"), &nsallocv1.ReleaseRequest{
		AppId: appMath,
	}); err != nil {
		t.Fatalf("Release math: %v", err)
	}
	ts.reserve(t, appOther, "graph")

	type event struct {
		kind   nsallocv1.EventKind
		caller string
	}
	tests := []struct {
		namespace string
		want      []event
		wantErr   *wantError
	}{
		{"math", []event{
			{nsallocv1.EventKind_EVENT_KIND_RESERVED, "backend"},
			{nsallocv1.EventKind_EVENT_KIND_RETIRED, "operator"},
		}, nil},
		{"graph", []event{{nsallocv1.EventKind_EVENT_KIND_RESERVED, "anonymous"}}, nil},
		{"nothing", nil, &wantError{code: codes.NotFound, reason: "NAMESPACE_NOT_FOUND",
			words: []string{`"nothing"`}}},
		{"Bad_Name", nil, &wantError{code: codes.InvalidArgument, field: "namespace",
			words: []string{"Bad_Name"}}},
	}
	for _, tt := range tests {
		t.Run(tt.namespace, func(t *testing.T) {
			resp, err := ts.client.History(ctx, &nsallocv1.HistoryRequest{
				Namespace: tt.namespace,
			})
			if tt.wantErr != nil {
				checkError(t, err, *tt.wantErr)
				return
			}
			if err != nil {
				t.Fatalf("History: %v", err)
			}

			events := resp.GetEvents()
			if len(events) != len(tt.want) {
				t.Fatalf("got %d events %v, want %d", len(events), events, len(tt.want))
			}
			for i, e := range events {
				if e.GetKind() != tt.want[i].kind || e.GetCaller() != tt.want[i].caller ||
					e.GetNamespace() != tt.namespace || e.GetTime() == nil {
					t.Errorf("event %d = %v, want %v by %s", i, e, tt.want[i].kind,
						tt.want[i].caller)
				}
			}
			for i := 1; i < len(events); i++ {
				if events[i].GetTime().AsTime().Before(events[i-1].GetTime().AsTime()) {
					t.Errorf("events out of order: %v", events)
				}
			}
		})
	}
}

// TestBackupStreamsAStore reads a backup through gRPC into a file and serves
// it as a store of its own.
func TestBackupStreamsAStore(t *testing.T) {
	ts := startServer(t, nil)
	ctx := testCtx(t)
	want := map[string]string{appMath: "math", appOther: "graph", appMath2: "math-x1c2d3e4f"}
	ts.reserve(t, appMath, "math")
	ts.reserve(t, appOther, "graph")
	ts.reserve(t, appMath2, "Math")

	// Enough more that the snapshot spans several chunks.
	var fill sync.WaitGroup
	for w := range 8 {
		fill.Go(func() {
			for n := range 50 {
				_, err := ts.client.Reserve(ctx, &nsallocv1.ReserveRequest{
					AppId:   fmt.Sprintf("cc000000-0000-4000-8000-%012d", w*1000+n),
					AppName: fmt.Sprintf("filler app %d %d", w, n),
				})
				if err != nil {
					t.Errorf("Reserve filler: %v", err)
					return
				}
			}
		})
	}
	fill.Wait()

	stream, err := ts.client.Backup(ctx, &nsallocv1.BackupRequest{})
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	var snapshot bytes.Buffer
	chunks := 0
	for {
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("Backup Recv: %v", err)
		}
		if n := len(chunk.GetData()); n == 0 || n > 64<<10 {
			t.Errorf("chunk of %d bytes, want 1 to 64 KiB", n)
		}
		snapshot.Write(chunk.GetData())
		chunks++
	}
	if want := (snapshot.Len() + 64<<10 - 1) / (64 << 10); chunks != want || chunks < 2 {
		t.Errorf("got %d chunks for %d bytes, want %d", chunks, snapshot.Len(), want)
	}

	path := filepath.Join(t.TempDir(), "restored.db")
	if err := os.WriteFile(path, snapshot.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	restored, err := bolt.Open(path, &bolt.Options{LockTimeout: time.Second})
	if err != nil {
		t.Fatalf("open the backup: %v", err)
	}
	defer restored.Close()
	if err := restored.Check(); err != nil {
		t.Errorf("Check of the backup: %v", err)
	}
	for appID, name := range want {
		rec, err := restored.ByApp(ctx, appID)
		if err != nil || rec.Name != name {
			t.Errorf("app %s in the backup = %+v, %v; want %s", appID, rec, err, name)
		}
	}
}
