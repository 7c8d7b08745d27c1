package server_test

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	nsallocv1 "github.com/nsalloc/nsalloc/proto/nsalloc/v1"
	"github.com/nsalloc/nsalloc/server"
	"github.com/nsalloc/nsalloc/store"
)

func TestOversizedRequestIsRefused(t *testing.T) {
	ts := startGuardedServer(t, nil, server.Limits{MaxRequestBytes: 1 << 10}, nil)
	ctx := withToken(testCtx(t), writerToken)

	tests := []struct {
		name    string
		appName string
		want    codes.Code
	}{
		{"within the limit", "math", codes.OK},
		{"past the limit", strings.Repeat("m", 2<<10), codes.ResourceExhausted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ts.client.Reserve(ctx, &nsallocv1.ReserveRequest{
				AppId: appMath, AppName: tt.appName,
			})
			if got := status.Code(err); got != tt.want {
				t.Errorf("Reserve with a %d-byte name = %v, want %s",
					len(tt.appName), err, tt.want)
			}
		})
	}
}

// TestRateLimitPerCaller exhausts one caller's burst and checks that the
// next call is refused, that other callers keep their own rate, and that
// health is never limited.
func TestRateLimitPerCaller(t *testing.T) {
	const burst = 3
	// A rate this low refills nothing while the test runs.
	ts := startGuardedServer(t, nil, server.Limits{Rate: 0.01, Burst: burst}, nil)
	ctx := testCtx(t)
	list := func(token string) error {
		_, err := ts.client.List(withToken(ctx, token), &nsallocv1.ListRequest{})
		return err
	}

	for i := range burst {
		if err := list(writerToken); err != nil {
			t.Fatalf("call %d within the burst: %v", i+1, err)
		}
	}
	checkError(t, list(writerToken), wantError{
		code: codes.ResourceExhausted, reason: server.ReasonRateLimited,
		words: []string{`"backend"`, "rate limit of 0.01 calls a second", "burst 3"},
	})
	if err := list(readerToken); err != nil {
		t.Errorf("another caller after the first ran out: %v, want an answer", err)
	}
	if _, err := ts.health.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Errorf("health after the caller ran out: %v", err)
	}

	// A refused token spends no caller's rate: it is refused first.
	checkError(t, list(badToken), wantError{
		code: codes.Unauthenticated, reason: server.ReasonUnauthenticated})
}

// TestAnonymousCallersShareOneRate checks a guard without callers: every
// call is anonymous and all of them draw on one limit.
func TestAnonymousCallersShareOneRate(t *testing.T) {
	guard := server.NewGuard(nil, server.Limits{Rate: 0.01, Burst: 2})
	ts := startLoggedServer(t, nil, nil, guard.ServerOptions()...)
	ctx := testCtx(t)

	tests := []struct {
		token string // ignored: the guard has no callers
		want  codes.Code
	}{
		{"", codes.OK},
		{writerToken, codes.OK},
		{readerToken, codes.ResourceExhausted},
	}
	for i, tt := range tests {
		_, err := ts.client.List(withToken(ctx, tt.token), &nsallocv1.ListRequest{})
		if got := status.Code(err); got != tt.want {
			t.Errorf("anonymous call %d = %v, want %s", i+1, err, tt.want)
		}
	}
}

func TestRateLimitOff(t *testing.T) {
	guard := server.NewGuard(nil, server.Limits{Rate: rate.Inf, Burst: 1})
	ts := startLoggedServer(t, nil, nil, guard.ServerOptions()...)
	ctx := testCtx(t)
	for i := range 20 {
		if _, err := ts.client.List(ctx, &nsallocv1.ListRequest{}); err != nil {
			t.Fatalf("call %d without a rate limit: %v", i+1, err)
		}
	}
}

// noDeadlineCtx returns a context without a deadline, so that the server's
// default applies; a timer still cancels it should the server never answer.
func noDeadlineCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	timer := time.AfterFunc(30*time.Second, cancel)
	t.Cleanup(func() {
		timer.Stop()
		cancel()
	})
	return ctx
}

// TestDefaultDeadline holds a Reserve in the store and checks when it ends:
// at the server's default deadline when the call carries none, and at its
// own when it does.
func TestDefaultDeadline(t *testing.T) {
	const callTimeout = 200 * time.Millisecond
	gate := gateStore{entered: make(chan struct{}, 8), gate: make(chan struct{})}
	ts := startGuardedServer(t, func(s store.Store) store.Store {
		gate.Store = s
		return gate
	}, server.Limits{CallTimeout: callTimeout}, nil)

	tests := []struct {
		name     string
		own      time.Duration // the call's own timeout; 0: none
		min, max time.Duration
	}{
		{"no deadline gets the default", 0, callTimeout, 3 * callTimeout},
		{"a longer deadline of its own is kept", 3 * callTimeout,
			3 * callTimeout, 10 * callTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := noDeadlineCtx(t)
			if tt.own > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.own)
				defer cancel()
			}
			start := time.Now()
			_, err := ts.client.Reserve(withToken(ctx, writerToken),
				&nsallocv1.ReserveRequest{AppId: appMath, AppName: "math"})
			took := time.Since(start)
			if got := status.Code(err); got != codes.DeadlineExceeded {
				t.Fatalf("held Reserve = %v, want DEADLINE_EXCEEDED", err)
			}
			if took < tt.min || took > tt.max {
				t.Errorf("held Reserve ended after %s, want between %s and %s",
					took, tt.min, tt.max)
			}
		})
	}
}

// blockedBackupStore holds every Backup until its context ends.
type blockedBackupStore struct{ store.Store }

func (blockedBackupStore) Backup(ctx context.Context, _ io.Writer) (int64, error) {
	<-ctx.Done()
	return 0, ctx.Err()
}

// TestBackupGetsTheStreamDeadline checks that a Backup without a deadline
// gets the longer default of streams, not that of unary calls.
func TestBackupGetsTheStreamDeadline(t *testing.T) {
	const callTimeout, streamTimeout = 50 * time.Millisecond, 500 * time.Millisecond
	ts := startGuardedServer(t, func(s store.Store) store.Store {
		return blockedBackupStore{s}
	}, server.Limits{CallTimeout: callTimeout, StreamTimeout: streamTimeout}, nil)

	start := time.Now()
	stream, err := ts.client.Backup(withToken(noDeadlineCtx(t), adminToken),
		&nsallocv1.BackupRequest{})
	if err == nil {
		_, err = stream.Recv()
	}
	took := time.Since(start)
	if got := status.Code(err); got != codes.DeadlineExceeded {
		t.Fatalf("held Backup = %v, want DEADLINE_EXCEEDED", err)
	}
	if took < streamTimeout || took > 3*streamTimeout {
		t.Errorf("held Backup ended after %s, want about %s", took, streamTimeout)
	}
}

// TestMaxStreamsPerConnection holds one call in the store on a connection
// that may carry one, and checks that a second call on it waits at the
// client until its deadline.
func TestMaxStreamsPerConnection(t *testing.T) {
	gate := gateStore{entered: make(chan struct{}, 8), gate: make(chan struct{})}
	ts := startGuardedServer(t, func(s store.Store) store.Store {
		gate.Store = s
		return gate
	}, server.Limits{MaxStreams: 1}, nil)
	ctx := withToken(testCtx(t), writerToken)

	held := make(chan error, 1)
	go func() {
		_, err := ts.client.Reserve(ctx, &nsallocv1.ReserveRequest{AppId: appMath, AppName: "math"})
		held <- err
	}()
	<-gate.entered

	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	_, err := ts.client.List(short, &nsallocv1.ListRequest{})
	if got := status.Code(err); got != codes.DeadlineExceeded {
		t.Errorf("second call while one is open = %v, want DEADLINE_EXCEEDED", err)
	}

	close(gate.gate)
	if err := <-held; err != nil {
		t.Errorf("held Reserve: %v", err)
	}
	if _, err := ts.client.List(ctx, &nsallocv1.ListRequest{}); err != nil {
		t.Errorf("call after the held one ended: %v", err)
	}
}
