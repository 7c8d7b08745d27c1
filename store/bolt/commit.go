package bolt

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/nsalloc/nsalloc/store"
)

// write is one caller's change, waiting for the commit loop.
type write struct {
	ctx context.Context

	// apply makes the change in tx. It either returns an outcome error
	// (see isOutcome) having written nothing, or nil having written all it
	// needs; any other error means tx may hold a partial change.
	apply func(tx *bbolt.Tx) error

	err  error         // the result, set by the loop before done is closed
	done chan struct{} // closed when err is final
}

// isOutcome reports whether err is an answer for one caller rather than a
// failure of the transaction: such an error leaves the other writes of the
// batch intact.
func isOutcome(err error) bool {
	return errors.Is(err, store.ErrAppRetired) ||
		errors.Is(err, store.ErrNamespaceTaken) ||
		errors.Is(err, store.ErrNotFound) ||
		errors.Is(err, context.Canceled) ||
		errors.Is(err, context.DeadlineExceeded)
}

// update hands apply to the commit loop and waits until it is durable.
// When ctx ends first, update returns ctx's error; the change may still be
// committed, which is harmless because every write is idempotent.
func (s *DB) update(ctx context.Context, apply func(tx *bbolt.Tx) error) error {
	w := &write{ctx: ctx, apply: apply, done: make(chan struct{})}

	select {
	case s.writes <- w:
	case <-s.closing:
		return store.ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}

	select {
	case <-w.done:
		return w.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// commitLoop runs until Close. Each turn it waits for one write, takes every
// other write that is already waiting, and commits them together.
func (s *DB) commitLoop() {
	defer close(s.loopDone)

	batch := make([]*write, 0, s.maxBatch)
	for {
		batch = batch[:0]
		select {
		case w := <-s.writes:
			batch = append(batch, w)
		case <-s.closing:
			return
		}

		batch = s.gather(batch)
		s.commit(batch)
		for _, w := range batch {
			close(w.done)
		}
	}
}

// gather appends the writes whose callers are already waiting, up to the
// batch limit, without blocking.
func (s *DB) gather(batch []*write) []*write {
	for len(batch) < s.maxBatch {
		select {
		case w := <-s.writes:
			batch = append(batch, w)
		default:
			return batch
		}
	}
	return batch
}

// Stats counts the work of the commit loop since Open.
type Stats struct {
	// Commits is how many read-write transactions were committed.
	Commits uint64
	// Writes is how many writes those commits carried.
	Writes uint64
}

// counters are updated by the commit loop and read by Stats.
type counters struct {
	commits atomic.Uint64
	writes  atomic.Uint64
}

// Stats returns the commit loop's counters.
func (s *DB) Stats() Stats {
	return Stats{Commits: s.counters.commits.Load(), Writes: s.counters.writes.Load()}
}

// commit applies a batch in one transaction. When the transaction fails,
// each write is tried again in a transaction of its own, so that one bad
// write cannot fail the others.
func (s *DB) commit(batch []*write) {
	start := time.Now()
	err := s.db.Update(func(tx *bbolt.Tx) error {
		return applyAll(tx, batch)
	})
	if err == nil {
		s.counters.commits.Add(1)
		s.counters.writes.Add(uint64(len(batch)))
		return
	}

	if len(batch) == 1 {
		batch[0].err = err
		return
	}
	s.log.Warn("batch commit failed; retrying each write alone",
		"writes", len(batch), "error", err, "duration", time.Since(start))
	for _, w := range batch {
		// applyAll leaves the write's own outcome in w.err; a failed
		// transaction replaces it.
		err := s.db.Update(func(tx *bbolt.Tx) error {
			return applyAll(tx, []*write{w})
		})
		if err != nil {
			w.err = err
			continue
		}
		s.counters.commits.Add(1)
		s.counters.writes.Add(1)
	}
}

// applyAll applies each write of a batch in order, so that each one sees the
// changes of those before it. It stops at the first error that is not an
// outcome.
func applyAll(tx *bbolt.Tx, batch []*write) error {
	for _, w := range batch {
		if err := w.ctx.Err(); err != nil {
			w.err = err
			continue
		}

		w.err = w.apply(tx)
		if w.err != nil && !isOutcome(w.err) {
			return w.err
		}
	}
	return nil
}
