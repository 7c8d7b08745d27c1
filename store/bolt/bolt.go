// Package bolt is the embedded store: one bbolt file, one process.
//
// Reads run in their own read-only transactions and never wait for writers.
// Writers commit in turns (group commit): a writer that finds no commit
// running commits at once, in its own goroutine. Writers that arrive while
// a commit runs queue up; when it ends, the first of them takes the turn and
// applies every queued write in one read-write transaction, so they share
// the cost of its fsync. There is no timer: a lone writer never waits for
// company, and under load each commit carries whatever arrived during the
// one before.
package bolt

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	bbolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/nsalloc/nsalloc/store"
)

// DefaultLockTimeout is how long Open waits for another process to release
// the file before it gives up.
const DefaultLockTimeout = 2 * time.Second

// DefaultMaxBatch is the most writes that share one commit.
const DefaultMaxBatch = 1024

// Options configures Open. The zero value, and a nil *Options, mean the
// defaults.
type Options struct {
	// LockTimeout is how long to wait for the file lock; zero means
	// DefaultLockTimeout.
	LockTimeout time.Duration

	// MaxBatch caps how many writes share one commit; zero means
	// DefaultMaxBatch.
	MaxBatch int

	// Logger receives warnings about failed commits, and a line when Open
	// counts the namespaces of a file; nil discards them.
	Logger *slog.Logger

	// OnCommit, when not nil, is called after each committed transaction
	// with how many writes it carried and how long it took. It runs on the
	// committing goroutine while the writers wait for their answer, so it
	// must be quick; it is never called by two commits at once.
	OnCommit func(writes int, took time.Duration)
}

// DB is a store.Store kept in one bbolt file.
type DB struct {
	db       *bbolt.DB
	secret   []byte
	maxBatch int
	log      *slog.Logger
	counters counters
	onCommit func(writes int, took time.Duration) // nil when not asked for

	// pending is how the writes of the commit being made change the
	// namespace counts; only the caller holding the turn to commit uses it.
	pending countDelta

	mu         sync.Mutex // guards queue, committing and closed
	idle       sync.Cond  // signalled, with mu, when committing turns false
	queue      []*write   // writes waiting for the next commit
	committing bool       // some caller holds the turn to commit
	closed     bool       // Close was called; new writes are refused
}

var _ store.Store = (*DB)(nil)

// Open opens or creates the database file at path. It fails with
// store.ErrLocked when another process holds the file for longer than the
// lock timeout, and with store.ErrSchema when the file was written by an
// incompatible version. A file last written by a program that does not keep
// the namespace counts (see Counts) is counted once, in a pass over every
// record.
func Open(path string, opts *Options) (*DB, error) {
	if opts == nil {
		opts = &Options{}
	}
	lockTimeout := opts.LockTimeout
	if lockTimeout <= 0 {
		lockTimeout = DefaultLockTimeout
	}
	maxBatch := opts.MaxBatch
	if maxBatch <= 0 {
		maxBatch = DefaultMaxBatch
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}

	// Take the file lock, waiting at most lockTimeout for another holder.
	// The map freelist finds free pages in constant time, where the array
	// one scans a list that grows with the file.
	bdb, err := bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout: lockTimeout, FreelistType: bbolt.FreelistMapType,
	})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("open %s: %w (waited %s; is another nsallocd using it?)",
			path, store.ErrLocked, lockTimeout)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}

	// Create the buckets of a new file, or check the schema of an old one.
	secret, err := prepare(bdb, logger)
	if err != nil {
		_ = bdb.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}

	// Ready the commit queue.
	s := &DB{db: bdb, secret: secret, maxBatch: maxBatch, log: logger, onCommit: opts.OnCommit}
	s.idle.L = &s.mu
	return s, nil
}

// prepare makes sure that every bucket exists, that the schema is one this
// package understands and that the namespace counts are current, and returns
// the store's secret.
func prepare(bdb *bbolt.DB, logger *slog.Logger) ([]byte, error) {
	// A known file with current counts is only read, so that a start costs
	// no commit.
	var secret []byte
	var counted bool
	err := bdb.View(func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketMeta) == nil {
			return nil
		}
		var err error
		secret, err = checkLayout(tx)
		counted = countsKept(tx)
		return err
	})
	if err != nil || (secret != nil && counted) {
		return secret, err
	}

	// A known file last written without keeping the counts is counted once.
	if secret != nil {
		return secret, recountFile(bdb, logger)
	}

	// A file without a meta bucket is new: lay it out.
	err = bdb.Update(func(tx *bbolt.Tx) error { return initialize(tx, &secret) })
	return secret, err
}

// checkLayout checks the schema version and the buckets of a file laid out
// before, and returns its secret.
func checkLayout(tx *bbolt.Tx) ([]byte, error) {
	meta := tx.Bucket(bucketMeta)
	version := meta.Get(metaSchema)
	if len(version) != 1 || version[0] != schemaVersion {
		return nil, fmt.Errorf("%w: file has %v, this build reads %d",
			store.ErrSchema, version, schemaVersion)
	}
	for _, name := range [][]byte{bucketNames, bucketApps, bucketKeys} {
		if tx.Bucket(name) == nil {
			return nil, fmt.Errorf("%w: bucket %q is missing", store.ErrCorrupt, name)
		}
	}

	secret := append([]byte(nil), meta.Get(metaSecret)...)
	if len(secret) == 0 {
		return nil, fmt.Errorf("%w: the secret is missing", store.ErrCorrupt)
	}
	return secret, nil
}

// initialize creates the buckets and the meta entries of a new file.
func initialize(tx *bbolt.Tx, secret *[]byte) error {
	for _, name := range [][]byte{bucketMeta, bucketNames, bucketApps, bucketKeys} {
		if _, err := tx.CreateBucket(name); err != nil {
			return fmt.Errorf("create bucket %q: %w", name, err)
		}
	}

	*secret = make([]byte, 32)
	if _, err := io.ReadFull(rand.Reader, *secret); err != nil {
		return fmt.Errorf("make secret: %w", err)
	}

	meta := tx.Bucket(bucketMeta)
	if err := meta.Put(metaSchema, []byte{schemaVersion}); err != nil {
		return err
	}
	if err := meta.Put(metaSecret, *secret); err != nil {
		return err
	}
	return recount(tx)
}

// Close refuses new writes, waits until every write already accepted is
// committed, and closes the file.
func (s *DB) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return store.ErrClosed
	}
	s.closed = true
	for s.committing {
		s.idle.Wait()
	}
	s.mu.Unlock()

	return s.db.Close()
}

// Secret returns the random bytes made when the file was created.
func (s *DB) Secret(ctx context.Context) ([]byte, error) {
	return append([]byte(nil), s.secret...), nil
}

// Size returns the size of the file in bytes.
func (s *DB) Size() (int64, error) {
	fi, err := os.Stat(s.db.Path())
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}
