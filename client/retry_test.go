package client_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"maps"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nsalloc/nsalloc/client"
	"github.com/nsalloc/nsalloc/store"
)

func TestRetryAfterRestart(t *testing.T) {
	ts := startServer(t, serverConfig{})
	var attempts attemptCounter
	c := dial(t, ts.Addr(), client.WithRetry(30, 20*time.Millisecond), attempts.option())
	ctx := testCtx(t)
	want := reserve(t, c, appMath, "Math")

	// The server goes away, and a new one on the same address and file
	// comes back while the call below retries.
	if err := ts.shutdown(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	const downtime = 500 * time.Millisecond
	attempts.n.Store(0)
	start := time.Now()
	restarted := make(chan error, 1)
	go func() {
		time.Sleep(downtime)
		restarted <- ts.start()
	}()

	got, err := c.ResolveApp(ctx, appMath)

	elapsed := time.Since(start)
	if err := <-restarted; err != nil {
		t.Fatalf("restart: %v", err)
	}
	if err != nil {
		t.Fatalf("ResolveApp: %v", err)
	}
	if got.Name != want.Name {
		t.Errorf("got %q, want %q", got.Name, want.Name)
	}
	if n := attempts.n.Load(); n < 2 {
		t.Errorf("got %d attempts, want more than 1", n)
	}
	if elapsed < downtime {
		t.Errorf("answered after %v, before the server came back after %v", elapsed, downtime)
	}
}

func TestRetryGivesUp(t *testing.T) {
	ts := startServer(t, serverConfig{})
	addr := ts.Addr()
	if err := ts.shutdown(); err != nil {
		t.Fatalf("stop: %v", err)
	}

	tests := []struct {
		name         string
		attempts     int
		backoff      time.Duration
		ctxTimeout   time.Duration
		wantAttempts int64
		maxElapsed   time.Duration
	}{
		{name: "out of attempts", attempts: 3, backoff: 10 * time.Millisecond,
			ctxTimeout: 20 * time.Second, wantAttempts: 3, maxElapsed: 5 * time.Second},
		{name: "no retry", attempts: 1, backoff: 10 * time.Millisecond,
			ctxTimeout: 20 * time.Second, wantAttempts: 1, maxElapsed: 5 * time.Second},
		// The first wait, at least a second, would outlive the deadline:
		// the call returns at once instead of sleeping into it.
		{name: "wait past the deadline", attempts: 5, backoff: 2 * time.Second,
			ctxTimeout: 500 * time.Millisecond, wantAttempts: 1,
			maxElapsed: 400 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var attempts attemptCounter
			c := dial(t, addr, client.WithRetry(tt.attempts, tt.backoff), attempts.option())
			ctx, cancel := context.WithTimeout(context.Background(), tt.ctxTimeout)
			defer cancel()
			start := time.Now()

			_, err := c.ResolveApp(ctx, appMath)

			elapsed := time.Since(start)
			checkError(t, err, wantError{is: client.ErrUnavailable})
			if got := attempts.n.Load(); got != tt.wantAttempts {
				t.Errorf("got %d attempts, want %d", got, tt.wantAttempts)
			}
			if elapsed > tt.maxElapsed {
				t.Errorf("returned after %v, want at most %v", elapsed, tt.maxElapsed)
			}
		})
	}
}

func TestRetryCanceled(t *testing.T) {
	ts := startServer(t, serverConfig{})
	addr := ts.Addr()
	if err := ts.shutdown(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	c := dial(t, addr, client.WithRetry(5, 10*time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()

	_, err := c.ResolveApp(ctx, appMath)

	checkError(t, err, wantError{is: context.Canceled})
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("returned after %v, want soon after the cancel", elapsed)
	}
}

func TestBackupRetry(t *testing.T) {
	tests := []struct {
		name         string
		failing      int64 // bytes the first backup writes before it fails
		wantErr      *wantError
		wantAttempts int64
		wantWritten  int64 // for a failing backup
	}{
		// Nothing reached w: the backup starts over and succeeds.
		{name: "nothing written", failing: 0, wantAttempts: 2},
		// A full chunk reached w: starting over would duplicate it.
		{name: "chunk written", failing: 64<<10 + 1, wantAttempts: 1, wantWritten: 64 << 10,
			wantErr: &wantError{is: client.ErrUnavailable, reason: client.ReasonUnavailable}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, serverConfig{wrap: func(s store.Store) store.Store {
				return &flakyBackupStore{Store: s, write: tt.failing}
			}})
			var attempts attemptCounter
			c := dial(t, ts.Addr(), client.WithRetry(3, 10*time.Millisecond), attempts.option())
			ctx := testCtx(t)
			reserve(t, c, appMath, "Math")
			attempts.n.Store(0)

			var buf bytes.Buffer
			n, err := c.Backup(ctx, &buf)

			if got := attempts.n.Load(); got != tt.wantAttempts {
				t.Errorf("got %d attempts, want %d", got, tt.wantAttempts)
			}
			if n != int64(buf.Len()) {
				t.Errorf("got n = %d, want %d, the bytes written", n, buf.Len())
			}
			if tt.wantErr != nil {
				checkError(t, err, *tt.wantErr)
				if n != tt.wantWritten {
					t.Errorf("got n = %d, want %d", n, tt.wantWritten)
				}
				return
			}
			if err != nil || n == 0 {
				t.Fatalf("Backup: got %d bytes, %v; want a snapshot", n, err)
			}
		})
	}
}

// flakyBackupStore fails its first Backup as a closing store does, after
// writing some bytes.
type flakyBackupStore struct {
	store.Store
	write int64
	calls atomic.Int64
}

func (s *flakyBackupStore) Backup(ctx context.Context, w io.Writer) (int64, error) {
	if s.calls.Add(1) > 1 {
		return s.Store.Backup(ctx, w)
	}
	n, err := w.Write(make([]byte, s.write))
	return int64(n), errors.Join(err, store.ErrClosed)
}

func TestDeadline(t *testing.T) {
	const timeout = 300 * time.Millisecond
	tests := []struct {
		name string
		opts []client.Option
		ctx  func() (context.Context, context.CancelFunc)
	}{
		{
			name: "default timeout",
			opts: []client.Option{client.WithTimeout(timeout)},
			// No deadline: the client's default is under test. The call
			// ends by it, or the test's own timeout fails it.
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithCancel(context.Background())
			},
		},
		{
			name: "context deadline",
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), timeout)
			},
		},
		{
			name: "context deadline before the default",
			opts: []client.Option{client.WithTimeout(time.Hour)},
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), timeout)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, serverConfig{wrap: func(s store.Store) store.Store {
				return stuckStore{s}
			}})
			var attempts attemptCounter
			c := dial(t, ts.Addr(), append(tt.opts, attempts.option())...)
			start := time.Now()
			ctx, cancel := tt.ctx()
			defer cancel()

			type result struct{ err error }
			done := make(chan result, 1)
			go func() {
				_, _, err := c.Reserve(ctx, appMath, "Math")
				done <- result{err}
			}()
			var err error
			select {
			case r := <-done:
				err = r.err
			case <-time.After(20 * time.Second):
				t.Fatal("Reserve still running after 20s")
			}

			elapsed := time.Since(start)
			checkError(t, err, wantError{is: context.DeadlineExceeded})
			if got := status.Code(err); got != codes.DeadlineExceeded {
				t.Errorf("status.Code = %s, want DeadlineExceeded", got)
			}
			if elapsed < timeout || elapsed > timeout+3*time.Second {
				t.Errorf("returned after %v, want soon after %v", elapsed, timeout)
			}
			if got := attempts.n.Load(); got != 1 {
				t.Errorf("got %d attempts, want 1", got)
			}
		})
	}
}

// stuckStore never finishes a Claim: it waits for the call's end.
type stuckStore struct{ store.Store }

func (s stuckStore) Claim(ctx context.Context, _ store.Claim) (store.Record, bool, error) {
	<-ctx.Done()
	return store.Record{}, false, ctx.Err()
}

// TestErrorMapping checks how each refusal a server may send reaches the
// caller, and that only UNAVAILABLE is retried. The server answers every
// call with the status of the case.
func TestErrorMapping(t *testing.T) {
	var answer atomic.Pointer[status.Status]
	ts := startServer(t, serverConfig{opts: []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(func(
			context.Context, any, *grpc.UnaryServerInfo, grpc.UnaryHandler,
		) (any, error) {
			return nil, answer.Load().Err()
		}),
	}})
	var attempts attemptCounter
	c := dial(t, ts.Addr(), client.WithRetry(3, time.Millisecond), attempts.option())
	ctx := testCtx(t)

	tests := []struct {
		name         string
		status       *status.Status
		want         wantError
		wantAttempts int64
		wantMeta     map[string]string
	}{
		{name: "app not found",
			status:   refusal(codes.NotFound, client.ReasonAppNotFound, "app_id", appMath),
			want:     wantError{is: client.ErrNotFound, reason: client.ReasonAppNotFound},
			wantMeta: map[string]string{"app_id": appMath}},
		{name: "reserved",
			status: refusal(codes.AlreadyExists, client.ReasonNamespaceReserved),
			want:   wantError{is: client.ErrTaken, reason: client.ReasonNamespaceReserved}},
		{name: "app retired",
			status: refusal(codes.FailedPrecondition, client.ReasonAppRetired),
			want:   wantError{is: client.ErrRetired, reason: client.ReasonAppRetired}},
		{name: "other precondition",
			status: refusal(codes.FailedPrecondition, "SOMETHING_ELSE"),
			want:   wantError{reason: "SOMETHING_ELSE"}},
		{name: "invalid",
			status: badRequest("app_id", "app_id \"x\": not a UUID"),
			want:   wantError{is: client.ErrInvalid, field: "app_id"}},
		{name: "unauthenticated",
			status: refusal(codes.Unauthenticated, client.ReasonUnauthenticated),
			want: wantError{is: client.ErrUnauthenticated,
				reason: client.ReasonUnauthenticated}},
		{name: "unauthenticated without details",
			status: status.New(codes.Unauthenticated, "missing bearer token"),
			want:   wantError{is: client.ErrUnauthenticated}},
		{name: "permission denied",
			status: refusal(codes.PermissionDenied, client.ReasonPermissionDenied),
			want: wantError{is: client.ErrPermissionDenied,
				reason: client.ReasonPermissionDenied}},
		{name: "overloaded",
			status: refusal(codes.ResourceExhausted, client.ReasonOverloaded),
			want:   wantError{is: client.ErrOverloaded, reason: client.ReasonOverloaded}},
		{name: "rate limited",
			status: refusal(codes.ResourceExhausted, client.ReasonRateLimited),
			want:   wantError{is: client.ErrRateLimited, reason: client.ReasonRateLimited}},
		{name: "exhausted otherwise",
			status: status.New(codes.ResourceExhausted, "message too large"),
			want:   wantError{}},
		{name: "unavailable", wantAttempts: 3,
			status: refusal(codes.Unavailable, client.ReasonUnavailable),
			want:   wantError{is: client.ErrUnavailable, reason: client.ReasonUnavailable}},
		{name: "deadline at the server",
			status: status.New(codes.DeadlineExceeded, "context deadline exceeded"),
			want:   wantError{is: context.DeadlineExceeded}},
		{name: "internal",
			status: refusal(codes.Internal, client.ReasonInternal),
			want:   wantError{reason: client.ReasonInternal}},
		{name: "another domain",
			status: withInfo(codes.NotFound, &errdetails.ErrorInfo{
				Domain: "proxy.example", Reason: "ROUTE_NOT_FOUND",
			}),
			want: wantError{is: client.ErrNotFound}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			answer.Store(tt.status)
			attempts.n.Store(0)

			_, err := c.ResolveApp(ctx, appMath)

			e := checkError(t, err, tt.want)
			if e.Code != tt.status.Code() || e.Message != tt.status.Message() {
				t.Errorf("got %s %q, want %s %q",
					e.Code, e.Message, tt.status.Code(), tt.status.Message())
			}
			if tt.wantMeta != nil && !maps.Equal(e.Metadata, tt.wantMeta) {
				t.Errorf("got metadata %v, want %v", e.Metadata, tt.wantMeta)
			}
			wantAttempts := max(tt.wantAttempts, 1)
			if got := attempts.n.Load(); got != wantAttempts {
				t.Errorf("got %d attempts, want %d", got, wantAttempts)
			}
		})
	}
}

// refusal builds a status as the service sends it: an ErrorInfo in domain
// nsalloc with a reason and metadata given as key, value pairs.
func refusal(code codes.Code, reason string, meta ...string) *status.Status {
	info := &errdetails.ErrorInfo{Domain: client.ErrorDomain, Reason: reason}
	if len(meta) > 0 {
		info.Metadata = map[string]string{}
		for i := 0; i+1 < len(meta); i += 2 {
			info.Metadata[meta[i]] = meta[i+1]
		}
	}
	return withInfo(code, info)
}

func withInfo(code codes.Code, info *errdetails.ErrorInfo) *status.Status {
	st, err := status.New(code, "refused: "+info.GetReason()).WithDetails(info)
	if err != nil {
		panic(err)
	}
	return st
}

// badRequest builds an INVALID_ARGUMENT with one field violation.
func badRequest(field, description string) *status.Status {
	st, err := status.New(codes.InvalidArgument, description).WithDetails(
		&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
			{Field: field, Description: description},
		}})
	if err != nil {
		panic(err)
	}
	return st
}
