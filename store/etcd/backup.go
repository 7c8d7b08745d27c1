package etcd

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/nsalloc/nsalloc/store"
	"github.com/nsalloc/nsalloc/store/bolt"
)

// backupPage is how many records Backup reads per request.
const backupPage = 500

// replayWorkers is how many records Backup writes into its file at once.
const replayWorkers = 32

// Backup writes a snapshot of every record to w as a bbolt file in the
// layout of package store/bolt; see store.Store. The records are read at
// one revision of the cluster, so the snapshot is consistent while writers
// go on, and replayed into a temporary file that is then copied to w.
//
// The snapshot carries every record with its times and callers, but not the
// store's secret: the file gets a secret of its own, so page tokens signed
// by daemons on this store are not accepted by a daemon serving the copy.
//
// The store's timeout bounds each request to the cluster rather than the
// whole backup; ctx bounds the whole of it. A revision compacted away while
// the records are read fails the backup, which may then be retried.
func (s *Store) Backup(ctx context.Context, w io.Writer) (int64, error) {
	if s.closed.Load() {
		return 0, store.ErrClosed
	}

	dir, err := os.MkdirTemp("", "nsalloc-etcd-backup-")
	if err != nil {
		return 0, fmt.Errorf("etcd store: backup: %w", err)
	}
	defer func() { _ = os.RemoveAll(dir) }()

	db, err := bolt.Open(filepath.Join(dir, "snapshot.db"), nil)
	if err != nil {
		return 0, fmt.Errorf("etcd store: backup: %w", err)
	}
	n, err := s.backupInto(ctx, db, w)
	if cerr := db.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("etcd store: backup: close snapshot: %w", cerr)
	}
	return n, err
}

// backupInto copies every record into db, then writes db to w.
func (s *Store) backupInto(ctx context.Context, db *bolt.DB, w io.Writer) (int64, error) {
	base := s.prefix + dirNames
	end := clientv3.GetPrefixRangeEnd(base)
	start := base
	var rev int64
	for {
		// The first page fixes the revision that every later page reads.
		recs, last, more, r, err := s.backupPage(ctx, start, end, rev)
		if err != nil {
			return 0, err
		}
		rev = r
		if err := replayAll(ctx, db, recs); err != nil {
			return 0, err
		}
		if !more {
			break
		}
		start = last + "\x00"
	}

	n, err := db.Backup(ctx, w)
	if err != nil {
		return n, fmt.Errorf("etcd store: backup: write snapshot: %w", err)
	}
	return n, nil
}

// backupPage reads the records with keys from start up to end at revision
// rev, or at the current revision when rev is 0. It returns them, the key
// of the last, whether more follow, and the revision read.
func (s *Store) backupPage(
	parent context.Context, start, end string, rev int64,
) ([]store.Record, string, bool, int64, error) {
	ctx, cancel := s.callContext(parent)
	defer cancel()

	opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(backupPage)}
	if rev != 0 {
		opts = append(opts, clientv3.WithRev(rev))
	}
	resp, err := s.cli.Get(ctx, start, opts...)
	if err != nil {
		return nil, "", false, 0, fail(ctx, "backup", err)
	}
	if rev == 0 {
		rev = resp.Header.Revision
	}

	base := s.prefix + dirNames
	recs := make([]store.Record, 0, len(resp.Kvs))
	last := ""
	for _, kv := range resp.Kvs {
		last = string(kv.Key)
		rec, err := decodeRecord(strings.TrimPrefix(last, base), kv.Value)
		if err != nil {
			return nil, "", false, 0, fmt.Errorf("etcd store: backup: %w", err)
		}
		recs = append(recs, rec)
	}
	return recs, last, resp.More, rev, nil
}

// replayAll writes recs into db from several goroutines at once, so that
// db's group commit shares each fsync among many of them.
func replayAll(ctx context.Context, db *bolt.DB, recs []store.Record) error {
	errs := make([]error, len(recs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(replayWorkers, len(recs)) {
		wg.Go(func() {
			for i := range next {
				errs[i] = replay(ctx, db, recs[i])
			}
		})
	}
	for i := range recs {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// replay writes rec into db as the calls that made it would have: a claim,
// and a retirement for a retired record.
func replay(ctx context.Context, db *bolt.DB, rec store.Record) error {
	got, created, err := db.Claim(ctx, store.Claim{
		AppID:      rec.AppID,
		AppName:    rec.AppName,
		Candidates: []string{rec.Name},
		Time:       rec.CreateTime,
		Caller:     rec.CreatedBy,
	})
	if err == nil && (!created || got.Name != rec.Name) {
		err = fmt.Errorf("%w: another record holds its app or key", store.ErrCorrupt)
	}
	if err == nil && rec.State == store.StateRetired {
		_, err = db.Retire(ctx, rec.AppID, rec.RetireTime, rec.RetiredBy)
	}
	if err != nil {
		return fmt.Errorf("etcd store: backup: copy namespace %q: %w", rec.Name, err)
	}
	return nil
}
