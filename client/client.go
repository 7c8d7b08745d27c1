package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	nsallocv1 "github.com/nsalloc/nsalloc/proto/nsalloc/v1"
)

// minConnectTimeout is the least time one connection attempt gets, as in
// gRPC's default, however short the back-off between attempts.
const minConnectTimeout = 20 * time.Second

// Client calls one nsalloc server. It is safe for concurrent use: make one
// per server and share it.
type Client struct {
	conn    *grpc.ClientConn
	rpc     nsallocv1.NamespaceServiceClient
	timeout time.Duration
	retry   retryPolicy
}

// Dial returns a Client for the server at addr, a gRPC target such as
// "nsalloc.internal:443", "127.0.0.1:50051" or "unix:///run/nsalloc.sock".
// It connects over TLS with the system's roots unless the options say
// otherwise, and only when the first call needs it, so an unreachable server
// shows in the calls' errors, not in Dial's. Dial fails when the options
// are wrong or disagree, and with ErrPlaintextToken when a token would be
// sent in plaintext over the network.
func Dial(addr string, opts ...Option) (*Client, error) {
	cfg, err := newConfig(addr, opts)
	if err != nil {
		return nil, err
	}

	// Reconnections follow the retries' back-off, so that a retried call
	// finds a restarted server instead of a connection still waiting out
	// gRPC's one-second first back-off.
	policy := retryPolicy{attempts: cfg.attempts, base: cfg.backoff}
	dialOpts := []grpc.DialOption{
		grpc.WithTransportCredentials(cfg.transport()),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: backoff.Config{
				BaseDelay: policy.base, Multiplier: 1.6, Jitter: 0.2, MaxDelay: policy.maxWait(),
			},
			MinConnectTimeout: minConnectTimeout,
		}),
	}
	if cfg.token != "" {
		creds := bearer{token: cfg.token, plaintextOK: cfg.insecure}
		dialOpts = append(dialOpts, grpc.WithPerRPCCredentials(creds))
	}
	dialOpts = append(dialOpts, cfg.extra...)

	conn, err := grpc.NewClient(addr, dialOpts...)
	if err != nil {
		return nil, fmt.Errorf("nsalloc: dial %s: %w", addr, err)
	}
	return &Client{
		conn:    conn,
		rpc:     nsallocv1.NewNamespaceServiceClient(conn),
		timeout: cfg.timeout,
		retry:   policy,
	}, nil
}

// Close closes the connection; calls in flight fail with codes.Canceled.
func (c *Client) Close() error {
	return c.conn.Close()
}

// invoke runs call with a deadline of timeout when ctx has none, and runs
// it again after a back-off while it fails with UNAVAILABLE, until it
// succeeds, fails otherwise, runs out of attempts, or the next wait would
// outlive the deadline. A call returns final(err) to stop the retries and
// return err as it is.
func (c *Client) invoke(
	ctx context.Context, timeout time.Duration, call func(context.Context) error,
) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}

	for attempt := 1; ; attempt++ {
		err := call(ctx)
		if err == nil {
			return nil
		}

		var f finalError
		if errors.As(err, &f) {
			return f.err
		}
		if status.Code(err) != codes.Unavailable || attempt >= c.retry.attempts {
			return fromStatus(err)
		}

		wait := c.retry.wait(attempt)
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
			return fromStatus(err)
		}
		if !sleep(ctx, wait) {
			return interrupted(ctx, err)
		}
	}
}

// finalError marks an error that must neither be retried nor converted.
type finalError struct{ err error }

// Error returns the message of the error marked.
func (f finalError) Error() string { return f.err.Error() }

// final marks err as the call's answer.
func final(err error) error { return finalError{err: err} }

// sleep waits for d and reports whether it did before ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// retryPolicy is how often and how patiently a call is retried.
type retryPolicy struct {
	attempts int
	base     time.Duration
}

// maxWait is the longest wait between two attempts.
func (p retryPolicy) maxWait() time.Duration {
	return max(maxBackoff, p.base)
}

// wait returns the back-off after the given failed attempt (1 for the
// first): base doubled for each attempt before, capped, and drawn at random
// from the upper half of that.
func (p retryPolicy) wait(attempt int) time.Duration {
	limit := p.maxWait()
	d := p.base
	for i := 1; i < attempt && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	half := d / 2
	return d - half + rand.N(half+1)
}
