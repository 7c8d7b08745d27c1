package bolt

import (
	"context"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/nsalloc/nsalloc/store"
	"github.com/nsalloc/nsalloc/store/storetest"
)

// timeoutCtx is the context of a test's calls: they must end well within it.
func timeoutCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// wantCounts checks the counts of s.
func wantCounts(t *testing.T, s *DB, active, retired int64) {
	t.Helper()
	gotActive, gotRetired, err := s.Counts()
	if err != nil {
		t.Fatalf("Counts: %v", err)
	}
	if gotActive != active || gotRetired != retired {
		t.Errorf("Counts = %d active, %d retired; want %d, %d",
			gotActive, gotRetired, active, retired)
	}
}

// lastTx returns the id of the last transaction committed to the closed
// file at path.
func lastTx(t *testing.T, path string) int {
	t.Helper()
	raw, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatalf("bbolt.Open: %v", err)
	}
	defer raw.Close()
	tx, err := raw.Begin(false)
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	defer func() { _ = tx.Rollback() }()
	return tx.ID()
}

// rawUpdate changes the closed file at path behind the store's back, as a
// program that does not keep the counts would.
func rawUpdate(t *testing.T, path string, fn func(meta *bbolt.Bucket) error) {
	t.Helper()
	raw, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatalf("bbolt.Open: %v", err)
	}
	err = raw.Update(func(tx *bbolt.Tx) error { return fn(tx.Bucket(bucketMeta)) })
	if closeErr := raw.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		t.Fatalf("change the file: %v", err)
	}
}

func TestCountsFollowClaimsAndRetires(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nsalloc.db")
	s, err := Open(path, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	ctx := timeoutCtx(t)
	claimAs := func(n int, name string) error {
		_, _, err := s.Claim(ctx, store.Claim{
			AppID: storetest.AppID(n), AppName: name, Candidates: []string{name},
			Time: time.Now(),
		})
		return err
	}
	retire := func(n int) error {
		_, err := s.Retire(ctx, storetest.AppID(n), time.Now(), "test")
		return err
	}

	// The steps run in order, each on the state the ones before left.
	steps := []struct {
		name                    string
		do                      func() error
		wantErr                 bool
		wantActive, wantRetired int64
	}{
		{"new file", func() error { return nil }, false, 0, 0},
		{"first claim", func() error { return claimAs(1, "math") }, false, 1, 0},
		{"second claim", func() error { return claimAs(2, "physics") }, false, 2, 0},
		{"same app again", func() error { return claimAs(1, "other") }, false, 2, 0},
		{"taken name", func() error { return claimAs(3, "math") }, true, 2, 0},
		{"retire", func() error { return retire(1) }, false, 1, 1},
		{"retire again", func() error { return retire(1) }, false, 1, 1},
		{"retire unknown app", func() error { return retire(9) }, true, 1, 1},
		{"claim of a retired app", func() error { return claimAs(1, "math") }, true, 1, 1},
		{"third claim", func() error { return claimAs(3, "chemistry") }, false, 2, 1},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			if err := step.do(); (err != nil) != step.wantErr {
				t.Fatalf("got error %v, want an error: %t", err, step.wantErr)
			}
			wantCounts(t, s, step.wantActive, step.wantRetired)
		})
	}
	if err := s.Check(); err != nil {
		t.Errorf("Check: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	// A reopened file keeps its counts, and opening it commits nothing.
	before := lastTx(t, path)
	s, err = Open(path, nil)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	wantCounts(t, s, 2, 1)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := lastTx(t, path); got != before {
		t.Errorf("last transaction after a reopen = %d, want %d: the start committed", got, before)
	}
}

func TestOpenCountsAFileWithoutCurrentCounts(t *testing.T) {
	put := func(key []byte, v uint64) func(meta *bbolt.Bucket) error {
		return func(meta *bbolt.Bucket) error {
			return meta.Put(key, binary.BigEndian.AppendUint64(nil, v))
		}
	}
	tests := []struct {
		name   string
		change func(meta *bbolt.Bucket) error
	}{
		{"no counts, as files written before they were kept", func(meta *bbolt.Bucket) error {
			for _, key := range [][]byte{metaCountActive, metaCountRetired, metaCountedTx} {
				if err := meta.Delete(key); err != nil {
					return err
				}
			}
			return nil
		}},
		{"no stamp", func(meta *bbolt.Bucket) error { return meta.Delete(metaCountedTx) }},
		{"one count missing", func(meta *bbolt.Bucket) error {
			return meta.Delete(metaCountRetired)
		}},
		// A write that kept no counts leaves the stamp behind the file's
		// last transaction, whatever it changed.
		{"stale counts", put(metaCountActive, 40)},
		{"stamp of another transaction", put(metaCountedTx, 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "nsalloc.db")
			s, err := Open(path, nil)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			for i, name := range []string{"math", "physics", "chemistry"} {
				claimOne(t, s, i, name)
			}
			_, err = s.Retire(timeoutCtx(t), storetest.AppID(0), time.Now(), "test")
			if err != nil {
				t.Fatalf("Retire: %v", err)
			}
			_ = s.Close()
			rawUpdate(t, path, tt.change)

			s, err = Open(path, nil)
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			wantCounts(t, s, 2, 1)
			if err := s.Check(); err != nil {
				t.Errorf("Check: %v", err)
			}

			// The counts are kept from then on, and the next start only
			// reads them.
			claimOne(t, s, 3, "biology")
			wantCounts(t, s, 3, 1)
			_ = s.Close()
			before := lastTx(t, path)
			s, err = Open(path, nil)
			if err != nil {
				t.Fatalf("second reopen: %v", err)
			}
			wantCounts(t, s, 3, 1)
			_ = s.Close()
			if got := lastTx(t, path); got != before {
				t.Errorf("last transaction after the second reopen = %d, want %d", got, before)
			}
		})
	}
}

// TestCountsUnderSharedCommits has writers claim and retire at once, so that
// commits carry many of both: the counts must add up all the same.
func TestCountsUnderSharedCommits(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	ctx := timeoutCtx(t)

	const writers, each = 16, 10
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			for j := range each {
				n := i*each + j
				claimOne(t, s, n, fmt.Sprintf("w%d", n))
				if j%2 == 0 {
					if _, err := s.Retire(ctx, storetest.AppID(n), time.Now(), "test"); err != nil {
						t.Errorf("Retire(%d): %v", n, err)
					}
				}
			}
		})
	}
	wg.Wait()

	if st := s.Stats(); st.Commits >= st.Writes {
		t.Errorf("Stats = %+v, want shared commits", st)
	}
	wantCounts(t, s, writers*each/2, writers*each/2)
	if err := s.Check(); err != nil {
		t.Errorf("Check: %v", err)
	}
}

func TestCheckFindsWrongCounts(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	claimOne(t, s, 1, "math")

	err := s.update(timeoutCtx(t), func(tx *bbolt.Tx) error {
		return addCounts(tx, 0, 5)
	})
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	if err := s.Check(); err == nil {
		t.Errorf("Check with 5 retired counted and none stored passed, want ErrCorrupt")
	}
}

func TestOnCommitSeesEveryCommit(t *testing.T) {
	var commits, writes int
	var took time.Duration
	s, err := Open(filepath.Join(t.TempDir(), "nsalloc.db"), &Options{
		// Commits never overlap, so the counters need no lock.
		OnCommit: func(n int, d time.Duration) {
			commits++
			writes += n
			took += d
		},
	})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()

	for i := range 5 {
		claimOne(t, s, i, "app"+storetest.AppID(i)[:8])
	}
	st := s.Stats()
	if uint64(commits) != st.Commits || uint64(writes) != st.Writes {
		t.Errorf("OnCommit saw %d commits of %d writes, want %d of %d (Stats)",
			commits, writes, st.Commits, st.Writes)
	}
	if commits != 5 || took <= 0 {
		t.Errorf("OnCommit saw %d commits taking %s, want 5 taking some time", commits, took)
	}
}
