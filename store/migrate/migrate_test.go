package migrate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nsalloc/nsalloc/internal/embedetcd"
	"github.com/nsalloc/nsalloc/naming"
	"github.com/nsalloc/nsalloc/store"
	"github.com/nsalloc/nsalloc/store/bolt"
	"github.com/nsalloc/nsalloc/store/etcd"
	"github.com/nsalloc/nsalloc/store/storetest"
)

// cluster is one single-member etcd cluster shared by every test; each
// store on it keeps to a prefix of its own.
var cluster *embedetcd.Cluster

func TestMain(m *testing.M) {
	os.Exit(embedetcd.RunShared(m, 1, func(c *embedetcd.Cluster) { cluster = c }))
}

// when is a fixed time, so that records compare exactly.
var when = time.Date(2026, 3, 1, 12, 30, 0, 123456789, time.UTC)

// prefixes numbers the prefixes handed out by openEtcd.
var prefixes atomic.Int64

// testContext returns a context that ends with the test or after a minute.
func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// openBolt returns a bbolt store in a new file, closed at the end of the
// test.
func openBolt(t *testing.T) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "nsalloc.db"), nil)
	if err != nil {
		t.Fatalf("bolt.Open: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// openEtcd returns an etcd store under a prefix no other store uses, closed
// at the end of the test.
func openEtcd(t *testing.T) *etcd.Store {
	t.Helper()
	cli, err := cluster.Client()
	if err != nil {
		t.Fatalf("Client: %v", err)
	}
	t.Cleanup(func() { _ = cli.Close() })

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	prefix := fmt.Sprintf("/migrate-test/%d/", prefixes.Add(1))
	s, err := etcd.Open(ctx, cli, &etcd.Options{Prefix: prefix})
	if err != nil {
		t.Fatalf("etcd.Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// sample returns record i of the test data: a third retired, a quarter under
// a tagged name, and some without callers.
func sample(i int) store.Record {
	appID := storetest.AppID(i)
	rec := store.Record{
		Name:       fmt.Sprintf("svc%03d", i),
		AppID:      appID,
		AppName:    fmt.Sprintf("Service %d", i),
		State:      store.StateActive,
		CreateTime: when.Add(time.Duration(i)*time.Second + time.Duration(i)),
		CreatedBy:  fmt.Sprintf("deployer-%d", i%7),
	}
	if i%4 == 0 {
		rec.Name = "svc-" + naming.Tag(appID, 8)
	}
	if i%5 == 0 {
		rec.CreatedBy = ""
	}
	if i%3 == 0 {
		rec.State = store.StateRetired
		rec.RetireTime = rec.CreateTime.Add(time.Hour + time.Duration(i)*time.Millisecond)
		rec.RetiredBy = "cleaner"
		if i%2 == 0 {
			rec.RetiredBy = ""
		}
	}
	return rec
}

// put writes rec into s as the calls that made it would have.
func put(ctx context.Context, t *testing.T, s store.Store, rec store.Record) {
	t.Helper()
	_, created, err := s.Claim(ctx, store.Claim{
		AppID:      rec.AppID,
		AppName:    rec.AppName,
		Candidates: []string{rec.Name},
		Time:       rec.CreateTime,
		Caller:     rec.CreatedBy,
	})
	if err != nil || !created {
		t.Fatalf("Claim %q: created %v, %v", rec.Name, created, err)
	}
	if rec.State == store.StateRetired {
		if _, err := s.Retire(ctx, rec.AppID, rec.RetireTime, rec.RetiredBy); err != nil {
			t.Fatalf("Retire %q: %v", rec.Name, err)
		}
	}
}

// seed writes the first n sample records into s and returns them.
func seed(ctx context.Context, t *testing.T, s store.Store, n int) []store.Record {
	t.Helper()
	recs := make([]store.Record, n)
	for i := range recs {
		recs[i] = sample(i)
		put(ctx, t, s, recs[i])
	}
	return recs
}

// retiredCount returns how many of recs are retired.
func retiredCount(recs []store.Record) int {
	n := 0
	for _, rec := range recs {
		if rec.State == store.StateRetired {
			n++
		}
	}
	return n
}

// checkReport fails the test when got differs from want.
func checkReport(t *testing.T, got, want Report) {
	t.Helper()
	if got.Read != want.Read || got.Created != want.Created ||
		got.AlreadyThere != want.AlreadyThere || got.Retired != want.Retired ||
		len(got.Conflicts) != len(want.Conflicts) {
		t.Fatalf("report %+v, want %+v", got, want)
	}
}

// checkHolds fails the test when s does not hold every one of recs as it is.
func checkHolds(ctx context.Context, t *testing.T, s store.Store, recs []store.Record) {
	t.Helper()
	for _, want := range recs {
		got, err := s.ByName(ctx, want.Name)
		if err != nil {
			t.Fatalf("ByName %q: %v", want.Name, err)
		}
		if diff := differences(got, want); len(diff) > 0 {
			t.Fatalf("record %q differs in %v: got %+v, want %+v", want.Name, diff, got, want)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	ctx := testContext(t)
	first, middle, last := openBolt(t), openEtcd(t), openBolt(t)
	recs := seed(ctx, t, first, 300)
	want := Report{Read: len(recs), Created: len(recs), Retired: retiredCount(recs)}

	// bbolt to etcd.
	rep, err := Copy(ctx, first, middle, Options{})
	if err != nil {
		t.Fatalf("Copy to etcd: %v", err)
	}
	checkReport(t, rep, want)
	if err := Verify(ctx, first, middle); err != nil {
		t.Fatalf("Verify bbolt against etcd: %v", err)
	}
	if err := Verify(ctx, middle, first); err != nil {
		t.Fatalf("Verify etcd against bbolt: %v", err)
	}

	// etcd back to bbolt, with small pages to cross many page boundaries.
	rep, err = Copy(ctx, middle, last, Options{Concurrency: 4, PageSize: 7})
	if err != nil {
		t.Fatalf("Copy to bbolt: %v", err)
	}
	checkReport(t, rep, want)
	if err := Verify(ctx, first, last); err != nil {
		t.Fatalf("Verify first against last bbolt: %v", err)
	}
	checkHolds(ctx, t, last, recs)
	if err := last.Check(); err != nil {
		t.Fatalf("Check: %v", err)
	}
}

func TestCopyAgain(t *testing.T) {
	tests := []struct {
		name string
		open func(*testing.T) store.Store
	}{
		{"bbolt", func(t *testing.T) store.Store { return openBolt(t) }},
		{"etcd", func(t *testing.T) store.Store { return openEtcd(t) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testContext(t)
			from, to := openBolt(t), tt.open(t)
			recs := seed(ctx, t, from, 60)

			if _, err := Copy(ctx, from, to, Options{}); err != nil {
				t.Fatalf("first Copy: %v", err)
			}
			rep, err := Copy(ctx, from, to, Options{})
			if err != nil {
				t.Fatalf("second Copy: %v", err)
			}
			checkReport(t, rep, Report{Read: len(recs), AlreadyThere: len(recs)})
			if err := Verify(ctx, from, to); err != nil {
				t.Fatalf("Verify: %v", err)
			}
		})
	}
}

func TestCopyResumes(t *testing.T) {
	ctx := testContext(t)
	from, to := openBolt(t), openEtcd(t)
	recs := seed(ctx, t, from, 30)

	// The target holds a few records already: one as the source does, and
	// one still active though the source retired it since.
	same, stale := recs[1], recs[3]
	put(ctx, t, to, same)
	staleActive := stale
	staleActive.State, staleActive.RetireTime, staleActive.RetiredBy = store.StateActive,
		time.Time{}, ""
	put(ctx, t, to, staleActive)

	rep, err := Copy(ctx, from, to, Options{})
	if err != nil {
		t.Fatalf("Copy: %v", err)
	}
	checkReport(t, rep, Report{
		Read:         len(recs),
		Created:      len(recs) - 2,
		AlreadyThere: 2,
		Retired:      retiredCount(recs),
	})
	if err := Verify(ctx, from, to); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}

func TestConflicts(t *testing.T) {
	const n = 30
	const k = 8 // the record the target contradicts; it has a tagged name
	src := sample(k)
	tests := []struct {
		name   string
		target store.Record // held by the target before the copy
		reason string       // part of the conflict's reason
	}{
		{
			name: "key held by another app",
			target: store.Record{
				Name: naming.Key(src.Name), AppID: storetest.AppID(1000), AppName: "Other",
				State: store.StateActive, CreateTime: when,
			},
			reason: fmt.Sprintf("holds namespace %q for app %s",
				naming.Key(src.Name), storetest.AppID(1000)),
		},
		{
			name: "app under another name",
			target: store.Record{
				Name: "elsewhere", AppID: src.AppID, AppName: src.AppName,
				State: store.StateActive, CreateTime: src.CreateTime,
			},
			reason: `holds the app under namespace "elsewhere"`,
		},
		{
			name: "app name differs",
			target: store.Record{
				Name: src.Name, AppID: src.AppID, AppName: "Renamed",
				State: store.StateActive, CreateTime: src.CreateTime, CreatedBy: src.CreatedBy,
			},
			reason: "differs in app name",
		},
		{
			name: "retired in target only",
			target: store.Record{
				Name: src.Name, AppID: src.AppID, AppName: src.AppName,
				State: store.StateRetired, CreateTime: src.CreateTime,
				RetireTime: when.Add(48 * time.Hour), CreatedBy: src.CreatedBy,
			},
			reason: "differs in state, retire time",
		},
	}
	if src.State != store.StateActive {
		t.Fatalf("sample %d is retired; the cases expect it active", k)
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testContext(t)
			from, to := openBolt(t), openEtcd(t)
			recs := seed(ctx, t, from, n)
			put(ctx, t, to, tt.target)

			rep, err := Copy(ctx, from, to, Options{})
			if err != nil {
				t.Fatalf("Copy: %v", err)
			}
			if len(rep.Conflicts) != 1 {
				t.Fatalf("conflicts %+v, want one", rep.Conflicts)
			}
			c := rep.Conflicts[0]
			if c.Name != src.Name || c.AppID != src.AppID ||
				!strings.Contains(c.Reason, tt.reason) {
				t.Fatalf("conflict %+v, want %q for app %s with reason containing %q",
					c, src.Name, src.AppID, tt.reason)
			}
			checkReport(t, rep, Report{
				Read:      n,
				Created:   n - 1,
				Retired:   retiredCount(recs),
				Conflicts: rep.Conflicts,
			})

			// The rest copied, and the target's own record is untouched.
			rest := append(recs[:k:k], recs[k+1:]...)
			checkHolds(ctx, t, to, rest)
			checkHolds(ctx, t, to, []store.Record{tt.target})

			err = Verify(ctx, from, to)
			if !errors.Is(err, ErrMismatch) {
				t.Fatalf("Verify: %v, want ErrMismatch", err)
			}
		})
	}
}

func TestVerifyReports(t *testing.T) {
	ctx := testContext(t)
	from, to := openBolt(t), openBolt(t)
	recs := seed(ctx, t, from, 20)
	for _, rec := range recs[:15] {
		put(ctx, t, to, rec)
	}

	err := Verify(ctx, from, to)
	if !errors.Is(err, ErrMismatch) {
		t.Fatalf("Verify: %v, want ErrMismatch", err)
	}
	for _, want := range []string{"source holds 20 records, target 15", "5 differences",
		fmt.Sprintf("%q missing from target", recs[15].Name)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Verify error %q does not say %q", err, want)
		}
	}
}

func TestCopyStopsOnError(t *testing.T) {
	ctx := testContext(t)
	from, to := openBolt(t), openBolt(t)
	seed(ctx, t, from, 40)
	if err := to.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	_, err := Copy(ctx, from, to, Options{Concurrency: 3})
	if !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Copy into a closed store: %v, want ErrClosed", err)
	}
}
