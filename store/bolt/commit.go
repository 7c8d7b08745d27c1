package bolt

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/nsalloc/nsalloc/store"
)

// write is one caller's change, waiting for its commit.
type write struct {
	ctx context.Context

	// apply makes the change in tx. It either returns an outcome error
	// (see isOutcome) having written nothing, or nil having written all it
	// needs; any other error means tx may hold a partial change.
	apply func(tx *bbolt.Tx) error

	// err is the result, final once wake has been signalled for a commit.
	err error

	// wake is signalled when the write was committed, or when its caller
	// was handed the turn to commit (turn is then set). It is buffered and
	// signalled without blocking (see signal): a committer never waits for
	// another caller.
	wake chan struct{}

	// turn is set, under DB.mu, when the write's caller must commit next.
	turn bool
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

// update applies a change and returns once it is durable.
//
// Callers commit in turns. A caller that finds no commit running commits at
// once. One that finds a commit running queues its write: the next turn goes
// to the first queued caller, which commits every write queued by then in
// one transaction. So a lone writer never waits for company, and writers
// that arrive together share one fsync.
//
// When ctx ends while the write is still queued, update withdraws it and
// returns ctx's error. Once a commit has taken the write, update waits for
// that commit and reports its result: the change is durable or not, whatever
// the caller's deadline says, and apply never runs after update returns.
func (s *DB) update(ctx context.Context, apply func(tx *bbolt.Tx) error) error {
	w := &write{ctx: ctx, apply: apply, wake: make(chan struct{}, 1)}

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return store.ErrClosed
	}
	s.queue = append(s.queue, w)
	if !s.committing {
		s.committing = true
		s.commitTurnLocked()
		return w.err
	}
	s.mu.Unlock()

	select {
	case <-w.wake:
	case <-ctx.Done():
		if s.withdraw(w) {
			return ctx.Err()
		}
		// The write is in a batch, or its caller holds the turn (whose
		// signal is already waiting): either way the answer is near.
		<-w.wake
	}

	s.mu.Lock()
	if w.turn {
		s.commitTurnLocked()
		return w.err
	}
	s.mu.Unlock()
	return w.err
}

// withdraw takes w out of the queue, and reports whether it did. It does
// not when a commit has already taken w, or when w's caller was handed the
// turn: it must then commit for the writes queued behind it.
func (s *DB) withdraw(w *write) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if w.turn {
		return false
	}
	i := slices.Index(s.queue, w)
	if i < 0 {
		return false
	}
	s.queue = slices.Delete(s.queue, i, i+1)
	return true
}

// commitTurnLocked commits the writes queued so far, up to the batch limit,
// then hands the turn to the first write still queued, or ends the turns.
// It is called with s.mu held by the caller whose turn it is, and returns
// with s.mu released.
func (s *DB) commitTurnLocked() {
	n := min(len(s.queue), s.maxBatch)
	batch := make([]*write, n)
	copy(batch, s.queue)
	s.queue = append(s.queue[:0], s.queue[n:]...)
	s.mu.Unlock()

	s.commit(batch)

	s.mu.Lock()
	for _, w := range batch {
		signal(w)
	}
	if len(s.queue) > 0 {
		next := s.queue[0]
		next.turn = true
		signal(next)
	} else {
		s.committing = false
		s.idle.Broadcast()
	}
	s.mu.Unlock()
}

// signal wakes the caller of w. A caller handed the turn may have stopped
// waiting for its signal and gone on to commit; its wake then still holds
// that signal, which is enough, so signal never blocks.
func signal(w *write) {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Stats counts the commits since Open.
type Stats struct {
	// Commits is how many read-write transactions were committed.
	Commits uint64
	// Writes is how many writes those commits carried.
	Writes uint64
}

// counters are updated by the committing callers and read by Stats.
type counters struct {
	commits atomic.Uint64
	writes  atomic.Uint64
}

// Stats returns the commit counters.
func (s *DB) Stats() Stats {
	return Stats{Commits: s.counters.commits.Load(), Writes: s.counters.writes.Load()}
}

// commit applies a batch in one transaction. When the transaction fails,
// each write is tried again in a transaction of its own, so that one bad
// write cannot fail the others.
func (s *DB) commit(batch []*write) {
	start := time.Now()
	err := s.db.Update(func(tx *bbolt.Tx) error {
		s.pending = countDelta{}
		if err := applyAll(tx, batch); err != nil {
			return err
		}
		return s.keepCounts(tx)
	})
	if err == nil {
		s.counters.commits.Add(1)
		s.counters.writes.Add(uint64(len(batch)))
		if s.onCommit != nil {
			s.onCommit(len(batch), time.Since(start))
		}
		return
	}

	if len(batch) == 1 {
		batch[0].err = err
		return
	}
	s.log.Warn("batch commit failed; retrying each write alone",
		"writes", len(batch), "error", err, "duration", time.Since(start))
	for _, w := range batch {
		s.commit([]*write{w})
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
