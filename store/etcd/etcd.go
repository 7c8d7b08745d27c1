// Package etcd is the shared store: the records live in an etcd cluster, so
// that several daemons can serve the same namespaces.
//
// Every write is one etcd transaction that compares before it puts, and is
// retried from a fresh read when another writer got there first; nothing
// takes a lock, so a process that dies holds nothing up. Reads are
// linearizable: a record that one process has written is seen by every
// other at once.
//
// A cluster that cannot be reached, or that has lost its quorum, makes calls
// fail with store.ErrUnavailable within the call's deadline, never with a
// guess.
package etcd

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nsalloc/nsalloc/store"
)

// DefaultPrefix is the key prefix used when Options.Prefix is empty.
const DefaultPrefix = "/nsalloc/"

// DefaultTimeout is the deadline of a call when Options.Timeout is zero.
const DefaultTimeout = 5 * time.Second

// maxAttempts bounds how many times a write is retried after losing a race
// to another writer. Each loss means that some other write succeeded, so
// running out takes a pathological burst on one app or name.
const maxAttempts = 16

// Options configures Open. The zero value, and a nil *Options, mean the
// defaults.
type Options struct {
	// Prefix is put in front of every key; empty means DefaultPrefix.
	// Stores with different prefixes share a cluster without seeing each
	// other. It should end with a slash.
	Prefix string

	// Timeout bounds every call whose context has no earlier deadline;
	// zero means DefaultTimeout. Backup applies it to each request it makes
	// rather than to the whole snapshot.
	Timeout time.Duration
}

// Store is a store.Store kept in etcd. Its methods are safe for concurrent
// use.
type Store struct {
	cli     *clientv3.Client
	prefix  string
	timeout time.Duration
	secret  []byte
	closed  atomic.Bool
}

var _ store.Store = (*Store)(nil)

// Open returns a store kept under opts.Prefix in the cluster that cli talks
// to. It creates the store's secret unless another process has already
// done so, so it needs the cluster to be available. The store does not own
// cli: Close leaves it open, and the caller closes it after the store.
func Open(ctx context.Context, cli *clientv3.Client, opts *Options) (*Store, error) {
	if opts == nil {
		opts = &Options{}
	}
	s := &Store{cli: cli, prefix: opts.Prefix, timeout: opts.Timeout}
	if s.prefix == "" {
		s.prefix = DefaultPrefix
	}
	if s.timeout <= 0 {
		s.timeout = DefaultTimeout
	}

	secret, err := s.loadSecret(ctx)
	if err != nil {
		return nil, err
	}
	s.secret = secret
	return s, nil
}

// loadSecret reads the store's secret, creating it first if no process has.
// Two processes opening a new store at once both propose a secret; the
// transaction keeps the first and hands it to both.
func (s *Store) loadSecret(parent context.Context) ([]byte, error) {
	proposed := make([]byte, secretLen)
	if _, err := io.ReadFull(rand.Reader, proposed); err != nil {
		return nil, fmt.Errorf("etcd store: open: make secret: %w", err)
	}

	ctx, cancel := s.callContext(parent)
	defer cancel()
	key := s.prefix + keySecret
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(proposed))).
		Else(clientv3.OpGet(key)).
		Commit()
	if err != nil {
		return nil, fail(ctx, "open: read secret", err)
	}
	if resp.Succeeded {
		return proposed, nil
	}

	kvs := resp.Responses[0].GetResponseRange().GetKvs()
	if len(kvs) != 1 || len(kvs[0].Value) == 0 {
		return nil, fmt.Errorf("etcd store: open: %w: the secret is empty", store.ErrCorrupt)
	}
	return kvs[0].Value, nil
}

// Secret returns the random bytes created with the store, the same for
// every process that opens it; see store.Store.
func (s *Store) Secret(ctx context.Context) ([]byte, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	return append([]byte(nil), s.secret...), nil
}

// Close makes later calls fail with store.ErrClosed. It does not close the
// client given to Open, which may serve others; calls already running end
// normally. Closing twice returns store.ErrClosed.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return store.ErrClosed
	}
	return nil
}

// errTimeout is the cause of a call's context ending because the store's
// timeout ran out, rather than the caller's context.
var errTimeout = errors.New("etcd store: timed out waiting for the cluster")

// begin checks that the store is open and returns the context of one call:
// parent, with the store's timeout unless parent ends sooner.
func (s *Store) begin(parent context.Context) (context.Context, context.CancelFunc, error) {
	if s.closed.Load() {
		return nil, nil, store.ErrClosed
	}
	ctx, cancel := s.callContext(parent)
	return ctx, cancel, nil
}

// callContext returns parent bounded by the store's timeout.
func (s *Store) callContext(parent context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(parent, s.timeout, errTimeout)
}

// codeError is what the etcd client returns for errors that the server
// sent with a gRPC code.
type codeError interface {
	error
	Code() codes.Code
}

// fail wraps an error from a request made with ctx, a context from
// callContext, with what was being done. When the caller's own context has
// ended, its error is what the caller sees. An error that says the cluster
// could not answer (no leader, no quorum, no connection, or the store's
// timeout running out) also matches store.ErrUnavailable.
func fail(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		if context.Cause(ctx) == errTimeout {
			return fmt.Errorf("etcd store: %s: %w: %w", what, store.ErrUnavailable, errTimeout)
		}
		return fmt.Errorf("etcd store: %s: %w", what, ctx.Err())
	}
	if unavailable(err) {
		return fmt.Errorf("etcd store: %s: %w: %w", what, store.ErrUnavailable, err)
	}
	return fmt.Errorf("etcd store: %s: %w", what, err)
}

// unavailable reports whether err means that the cluster did not answer,
// as opposed to answering no.
func unavailable(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded:
		return true
	}
	var ce codeError
	if errors.As(err, &ce) {
		switch ce.Code() {
		case codes.Unavailable, codes.DeadlineExceeded:
			return true
		}
	}
	return errors.Is(err, context.DeadlineExceeded)
}
