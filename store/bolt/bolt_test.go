package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/nsalloc/nsalloc/store"
	"github.com/nsalloc/nsalloc/store/storetest"
)

func openTemp(t *testing.T) *DB {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "nsalloc.db"), nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return openTemp(t)
	})
}

func claimOne(t *testing.T, s *DB, n int, name string) store.Record {
	t.Helper()
	rec, _, err := s.Claim(context.Background(), store.Claim{
		AppID: storetest.AppID(n), AppName: name, Candidates: []string{name},
		Time: time.Now(),
	})
	if err != nil {
		t.Fatalf("Claim(%s): %v", name, err)
	}
	return rec
}

func TestReopenKeepsRecordsAndSecret(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nsalloc.db")
	s, err := Open(path, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	want := claimOne(t, s, 1, "math")
	secret, _ := s.Secret(context.Background())
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s, err = Open(path, nil)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()

	got, err := s.ByApp(context.Background(), want.AppID)
	if err != nil {
		t.Fatalf("ByApp after reopen: %v", err)
	}
	if got.Name != want.Name || !got.CreateTime.Equal(want.CreateTime) {
		t.Errorf("after reopen got %+v, want %+v", got, want)
	}
	again, _ := s.Secret(context.Background())
	if string(again) != string(secret) {
		t.Errorf("secret changed across reopen")
	}
	if err := s.Check(); err != nil {
		t.Errorf("Check: %v", err)
	}
}

func TestOpenLockedFileFailsFast(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nsalloc.db")
	s, err := Open(path, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()

	// A second handle in the same process takes its own lock, as another
	// process would.
	start := time.Now()
	_, err = Open(path, &Options{LockTimeout: 300 * time.Millisecond})
	elapsed := time.Since(start)

	if !errors.Is(err, store.ErrLocked) {
		t.Fatalf("second Open: error = %v, want ErrLocked", err)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name the file", err)
	}
	if elapsed > 5*time.Second {
		t.Errorf("second Open took %s, want it to give up near its timeout", elapsed)
	}
}

func TestOpenRejectsOtherSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nsalloc.db")
	s, err := Open(path, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	_ = s.Close()

	raw, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatalf("bbolt.Open: %v", err)
	}
	err = raw.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(metaSchema, []byte{schemaVersion + 1})
	})
	_ = raw.Close()
	if err != nil {
		t.Fatalf("rewrite schema: %v", err)
	}

	if _, err := Open(path, nil); !errors.Is(err, store.ErrSchema) {
		t.Fatalf("Open: error = %v, want ErrSchema", err)
	}
}

func TestOpenRejectsForeignFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notes.txt")
	text := []byte(strings.Repeat("not a database\n", 500))
	if err := os.WriteFile(path, text, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, nil); err == nil {
		t.Fatalf("Open of a text file succeeded, want an error")
	}
}

func TestConcurrentWritersShareCommits(t *testing.T) {
	s := openTemp(t)
	defer s.Close()

	const writers = 64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range writers {
		wg.Go(func() {
			<-start
			for j := range 10 {
				n := i*10 + j
				claimOne(t, s, n, "app"+storetest.AppID(n)[:8])
			}
		})
	}
	close(start)
	wg.Wait()

	st := s.Stats()
	if st.Writes != writers*10 {
		t.Fatalf("Writes = %d, want %d", st.Writes, writers*10)
	}
	if st.Commits >= st.Writes {
		t.Errorf("Commits = %d for %d writes from %d writers, want shared commits",
			st.Commits, st.Writes, writers)
	}
	if err := s.Check(); err != nil {
		t.Errorf("Check: %v", err)
	}
}

func TestLoneWriterCommitsAlone(t *testing.T) {
	s := openTemp(t)
	defer s.Close()

	for i := range 20 {
		claimOne(t, s, i, "solo"+storetest.AppID(i)[:8])
	}

	// Each write was committed on its own: nothing waited for company.
	if st := s.Stats(); st.Commits != 20 || st.Writes != 20 {
		t.Errorf("Stats = %+v, want 20 commits of 20 writes", st)
	}

	// A lone write is applied on its caller's own goroutine, so no hand-off
	// to another goroutine or timer stands between the call and the commit.
	var stack []byte
	err := s.update(context.Background(), func(tx *bbolt.Tx) error {
		stack = make([]byte, 64<<10)
		stack = stack[:runtime.Stack(stack, false)]
		return nil
	})
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	if !bytes.Contains(stack, []byte("TestLoneWriterCommitsAlone")) {
		t.Errorf("the lone write was applied on another goroutine:\n%s", stack)
	}
}

func TestCanceledWriteIsNotApplied(t *testing.T) {
	s := openTemp(t)
	defer s.Close()

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := s.Claim(ctx, store.Claim{
		AppID: storetest.AppID(1), AppName: "x", Candidates: []string{"x"}, Time: time.Now(),
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Claim with a canceled context: error = %v, want context.Canceled", err)
	}
	if _, err := s.ByName(context.Background(), "x"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ByName after a canceled claim: error = %v, want ErrNotFound", err)
	}
}

func TestRecordEncodingRoundTrip(t *testing.T) {
	tests := []store.Record{
		{Name: "math", AppID: storetest.AppID(1), AppName: "Math", State: store.StateActive,
			CreateTime: time.Unix(1700000000, 5).UTC()},
		{Name: "a", AppID: "ffffffff-ffff-ffff-ffff-ffffffffffff", AppName: "日本語 ✓",
			State: store.StateRetired, CreateTime: time.Unix(1, 0).UTC(),
			RetireTime: time.Unix(2, 0).UTC()},
		{Name: "b", AppID: storetest.AppID(2), AppName: "", State: store.StateActive},
		{Name: "c", AppID: storetest.AppID(3), AppName: "With Callers",
			State: store.StateRetired, CreateTime: time.Unix(3, 0).UTC(),
			RetireTime: time.Unix(4, 0).UTC(), CreatedBy: "backend", RetiredBy: "ops ✓"},
	}
	for _, want := range tests {
		t.Run(want.Name, func(t *testing.T) {
			buf, err := encodeRecord(want)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			got, err := decodeRecord([]byte(want.Name), buf)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if got != want {
				t.Errorf("round trip = %+v, want %+v", got, want)
			}
		})
	}

	badState := append([]byte{recordFormat, 7}, make([]byte, 20)...)
	longCaller := append([]byte{recordFormat, 1}, make([]byte, appIDLen)...)
	longCaller = append(longCaller, 0, 0, 200, 'x')
	for _, bad := range [][]byte{nil, {recordFormat}, {9, 1, 0}, badState, longCaller} {
		if _, err := decodeRecord([]byte("x"), bad); !errors.Is(err, store.ErrCorrupt) {
			t.Errorf("decode(%v): error = %v, want ErrCorrupt", bad, err)
		}
	}
}

// TestRecordsWithoutCallersStillRead decodes a record of the first format,
// written before callers were kept: it reads with empty callers.
func TestRecordsWithoutCallersStillRead(t *testing.T) {
	buf := []byte{recordFormatNoCallers, byte(store.StateActive)}
	id, err := appIDBytes(storetest.AppID(1))
	if err != nil {
		t.Fatal(err)
	}
	buf = append(buf, id...)
	buf = append(buf, 2, 0) // create time 1ns, no retire time
	buf = append(buf, "Old App"...)

	got, err := decodeRecord([]byte("old"), buf)
	want := store.Record{Name: "old", AppID: storetest.AppID(1), AppName: "Old App",
		State: store.StateActive, CreateTime: time.Unix(0, 1).UTC()}
	if err != nil || got != want {
		t.Errorf("decode = %+v, %v; want %+v", got, err, want)
	}
}

// TestBackupWhileWriting takes a backup while writers run: the snapshot
// opens as a store of its own, passes the checks, and holds every record
// written before the backup began.
func TestBackupWhileWriting(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	for n := range 200 {
		claimOne(t, s, n+1, fmt.Sprintf("before%d", n))
	}

	// Writers keep claiming while the backup runs.
	stop := make(chan struct{})
	var writers sync.WaitGroup
	for w := range 4 {
		writers.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				claimOne(t, s, 10_000+w*100_000+n, fmt.Sprintf("during%d-x%d", w, n))
			}
		})
	}

	path := filepath.Join(t.TempDir(), "backup.db")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.Backup(context.Background(), f)
	close(stop)
	writers.Wait()
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(path); err != nil || info.Size() != n {
		t.Fatalf("backup file: %v, %v; want %d bytes", info, err, n)
	}

	restored, err := Open(path, nil)
	if err != nil {
		t.Fatalf("open the backup: %v", err)
	}
	defer restored.Close()
	if err := restored.Check(); err != nil {
		t.Errorf("Check of the backup: %v", err)
	}
	for n := range 200 {
		rec, err := restored.ByApp(context.Background(), storetest.AppID(n+1))
		if err != nil || rec.Name != fmt.Sprintf("before%d", n) {
			t.Errorf("app %d in the backup = %+v, %v; want before%d", n+1, rec, err, n)
		}
	}
}

// TestBackupStopsWithItsContext checks that a backup to a slow reader ends
// once its context does.
func TestBackupStopsWithItsContext(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	claimOne(t, s, 1, "math")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Backup(ctx, &bytes.Buffer{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Backup with a canceled context: error = %v, want context.Canceled", err)
	}
}

// TestFailedBatchRetriesEachWrite puts a write that breaks its transaction
// into a batch: the others must still commit, each with its own outcome.
func TestFailedBatchRetriesEachWrite(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	claimOne(t, s, 0, "held")

	claims := []store.Claim{
		{AppID: storetest.AppID(1), AppName: "good", Candidates: []string{"good"}},
		// An empty name is refused by bbolt itself and fails the whole
		// transaction.
		{AppID: storetest.AppID(2), AppName: "bad", Candidates: []string{""}},
		{AppID: storetest.AppID(3), AppName: "held", Candidates: []string{"held"}},
	}
	batch := make([]*write, len(claims))
	records := make([]store.Record, len(claims))
	for i, c := range claims {
		appKey, err := appIDBytes(c.AppID)
		if err != nil {
			t.Fatal(err)
		}
		batch[i] = &write{ctx: context.Background(), apply: func(tx *bbolt.Tx) error {
			var err error
			records[i], _, err = s.claim(tx, appKey, c)
			return err
		}}
	}

	s.commit(batch)

	if batch[0].err != nil || records[0].Name != "good" {
		t.Errorf("good claim: %+v, %v; want it stored", records[0], batch[0].err)
	}
	if batch[1].err == nil || isOutcome(batch[1].err) {
		t.Errorf("bad claim: error = %v, want the transaction's failure", batch[1].err)
	}
	if !errors.Is(batch[2].err, store.ErrNamespaceTaken) {
		t.Errorf("claim of a held name: error = %v, want ErrNamespaceTaken", batch[2].err)
	}

	if _, err := s.ByApp(context.Background(), storetest.AppID(1)); err != nil {
		t.Errorf("good claim not stored: %v", err)
	}
	_, err := s.ByApp(context.Background(), storetest.AppID(2))
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("bad claim left a trace: %v", err)
	}
	if err := s.Check(); err != nil {
		t.Errorf("Check: %v", err)
	}
}

// TestDamagedIndexIsCorrupt deletes a record behind the store's back: every
// path that meets the dangling index entries must say the file is corrupt,
// never that the app is unknown or free.
func TestDamagedIndexIsCorrupt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nsalloc.db")
	s, err := Open(path, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	rec := claimOne(t, s, 1, "math")
	_ = s.Close()

	raw, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatalf("bbolt.Open: %v", err)
	}
	err = raw.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketNames).Delete([]byte(rec.Name))
	})
	_ = raw.Close()
	if err != nil {
		t.Fatalf("delete the record: %v", err)
	}

	s, err = Open(path, nil)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	ctx := context.Background()

	_, byApp := s.ByApp(ctx, rec.AppID)
	_, byKey := s.ByKey(ctx, "math")
	_, _, claimErr := s.Claim(ctx, store.Claim{
		AppID: rec.AppID, AppName: "math", Candidates: []string{"math"}, Time: time.Now(),
	})
	_, retireErr := s.Retire(ctx, rec.AppID, time.Now(), "test")
	for what, err := range map[string]error{
		"ByApp": byApp, "ByKey": byKey, "Claim": claimErr, "Retire": retireErr, "Check": s.Check(),
	} {
		if !errors.Is(err, store.ErrCorrupt) {
			t.Errorf("%s: error = %v, want ErrCorrupt", what, err)
		}
	}
}

// TestWriteWithdrawnWhileQueued holds a commit open and gives up on a write
// queued behind it: the write returns at once, is never applied, and the
// write queued after it still commits.
func TestWriteWithdrawnWhileQueued(t *testing.T) {
	s := openTemp(t)
	defer s.Close()

	release, first := holdCommit(s)

	ctx, cancel := context.WithCancel(context.Background())
	withdrawn := make(chan error, 1)
	go func() {
		_, _, err := s.Claim(ctx, store.Claim{
			AppID: storetest.AppID(1), AppName: "gone", Candidates: []string{"gone"},
			Time: time.Now(),
		})
		withdrawn <- err
	}()
	waitQueued(t, s, 1)

	last := make(chan error, 1)
	go func() {
		_, _, err := s.Claim(context.Background(), store.Claim{
			AppID: storetest.AppID(2), AppName: "kept", Candidates: []string{"kept"},
			Time: time.Now(),
		})
		last <- err
	}()
	waitQueued(t, s, 2)

	cancel()
	if err := <-withdrawn; !errors.Is(err, context.Canceled) {
		t.Fatalf("withdrawn write: error = %v, want context.Canceled", err)
	}

	close(release)
	if err := <-first; err != nil {
		t.Fatalf("first write: %v", err)
	}
	if err := <-last; err != nil {
		t.Fatalf("write queued behind the withdrawn one: %v", err)
	}
	if _, err := s.ByName(context.Background(), "gone"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("withdrawn write was applied: %v", err)
	}
}

// holdCommit starts a commit that runs until release is closed, so that
// later writes queue behind it. The commit's result arrives on done.
func holdCommit(s *DB) (release chan struct{}, done <-chan error) {
	entered, release := make(chan struct{}), make(chan struct{})
	result := make(chan error, 1)
	go func() {
		result <- s.update(context.Background(), func(tx *bbolt.Tx) error {
			close(entered)
			<-release
			return nil
		})
	}()
	<-entered
	return release, result
}

// waitQueued waits until n writes wait behind the running commit.
func waitQueued(t *testing.T, s *DB, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		queued := len(s.queue)
		s.mu.Unlock()
		if queued == n {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("%d writes never queued", n)
}

// TestCanceledWritersNeverStall has many writers give up at random moments,
// including just as they are handed the turn to commit. Every write that
// succeeded must be stored, and nobody may be left waiting.
func TestCanceledWritersNeverStall(t *testing.T) {
	s := openTemp(t)
	defer s.Close()

	const writers, each = 32, 20
	var wg sync.WaitGroup
	stored := make([][]bool, writers)
	for i := range writers {
		stored[i] = make([]bool, each)
		wg.Go(func() {
			for j := range each {
				n := i*each + j
				timeout := time.Duration(n%7) * 300 * time.Microsecond
				ctx, cancel := context.WithTimeout(context.Background(), timeout)
				name := fmt.Sprintf("w%d", n)
				_, _, err := s.Claim(ctx, store.Claim{
					AppID: storetest.AppID(n), AppName: name, Candidates: []string{name},
					Time: time.Now(),
				})
				cancel()
				stored[i][j] = err == nil
				if err != nil && !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("write %d: %v", n, err)
				}
			}
		})
	}

	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatalf("writers still waiting after 60s")
	}

	for i := range writers {
		for j, ok := range stored[i] {
			n := i*each + j
			if _, err := s.ByApp(context.Background(), storetest.AppID(n)); ok && err != nil {
				t.Errorf("write %d succeeded but is not stored: %v", n, err)
			}
		}
	}
	if err := s.Check(); err != nil {
		t.Errorf("Check: %v", err)
	}
}

// TestCloseCommitsQueuedWrites closes the store while writes wait behind a
// running commit: Close waits for them, and they are in the file after.
func TestCloseCommitsQueuedWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nsalloc.db")
	s, err := Open(path, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}

	release, _ := holdCommit(s)

	queued := make(chan error, 2)
	for i := range 2 {
		go func() {
			name := fmt.Sprintf("queued%d", i)
			_, _, err := s.Claim(context.Background(), store.Claim{
				AppID: storetest.AppID(i), AppName: name, Candidates: []string{name},
				Time: time.Now(),
			})
			queued <- err
		}()
	}
	waitQueued(t, s, 2)

	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	close(release)
	for range 2 {
		if err := <-queued; err != nil {
			t.Errorf("write queued before Close: %v", err)
		}
	}
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}

	s, err = Open(path, nil)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	for i := range 2 {
		if _, err := s.ByApp(context.Background(), storetest.AppID(i)); err != nil {
			t.Errorf("queued write %d lost: %v", i, err)
		}
	}
}
