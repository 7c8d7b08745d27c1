package etcd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nsalloc/nsalloc/internal/embedetcd"
	"github.com/nsalloc/nsalloc/naming"
	"github.com/nsalloc/nsalloc/store"
	"github.com/nsalloc/nsalloc/store/bolt"
	"github.com/nsalloc/nsalloc/store/storetest"
)

// shared is one single-member cluster for every test that needs no cluster
// of its own; each test keeps to a prefix of its own.
var shared *embedetcd.Cluster

func TestMain(m *testing.M) {
	os.Exit(embedetcd.RunShared(m, 1, func(c *embedetcd.Cluster) { shared = c }))
}

// prefixes numbers the prefixes handed out by newPrefix.
var prefixes atomic.Int64

// newPrefix returns a prefix that no other test uses.
func newPrefix() string {
	return fmt.Sprintf("/test/%d/", prefixes.Add(1))
}

// when is a fixed time, so that records compare exactly.
var when = time.Date(2026, 3, 1, 12, 30, 0, 123456789, time.UTC)

// client returns a client of c closed at the end of the test.
func client(t *testing.T, c *embedetcd.Cluster) *clientv3.Client {
	t.Helper()
	cli, err := c.Client()
	if err != nil {
		t.Fatalf("Client: %v", err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// open returns a store on cli closed at the end of the test.
func open(t *testing.T, cli *clientv3.Client, opts *Options) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	s, err := Open(ctx, cli, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// start runs a cluster of its own for the length of the test.
func start(t *testing.T, members int) *embedetcd.Cluster {
	t.Helper()
	c, err := embedetcd.Start(t.TempDir(), members, nil)
	if err != nil {
		t.Fatalf("Start(%d): %v", members, err)
	}
	t.Cleanup(c.Close)
	return c
}

func waitLeader(t *testing.T, c *embedetcd.Cluster) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	i, err := c.WaitLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return i
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestConformance(t *testing.T) {
	cli := client(t, shared)
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, cli, &Options{Prefix: newPrefix()})
	})
}

func TestRecordEncoding(t *testing.T) {
	tests := []store.Record{
		{Name: "math", AppID: storetest.AppID(1), AppName: "Math", State: store.StateActive,
			CreateTime: when},
		{Name: "x-y", AppID: storetest.AppID(2), AppName: "", State: store.StateRetired,
			CreateTime: when, RetireTime: when.Add(time.Second), CreatedBy: "a",
			RetiredBy: "b"},
	}
	for _, want := range tests {
		buf, err := encodeRecord(want)
		if err != nil {
			t.Fatalf("encodeRecord(%+v): %v", want, err)
		}
		got, err := decodeRecord(want.Name, buf)
		if err != nil {
			t.Fatalf("decodeRecord(%s): %v", buf, err)
		}
		if got != want {
			t.Errorf("decodeRecord(encodeRecord(r)) = %+v, want %+v", got, want)
		}
	}

	for _, bad := range []string{"", "{", `{"state":"gone"}`} {
		if _, err := decodeRecord("x", []byte(bad)); !errors.Is(err, store.ErrCorrupt) {
			t.Errorf("decodeRecord(%q) error = %v, want ErrCorrupt", bad, err)
		}
	}
}

func TestSecretShared(t *testing.T) {
	ctx := ctxFor(t)
	prefix := newPrefix()
	a := open(t, client(t, shared), &Options{Prefix: prefix})
	b := open(t, client(t, shared), &Options{Prefix: prefix})
	other := open(t, client(t, shared), &Options{Prefix: newPrefix()})

	secrets := make([][]byte, 3)
	for i, s := range []*Store{a, b, other} {
		var err error
		if secrets[i], err = s.Secret(ctx); err != nil {
			t.Fatalf("Secret: %v", err)
		}
		if len(secrets[i]) != secretLen {
			t.Errorf("Secret is %d bytes, want %d", len(secrets[i]), secretLen)
		}
	}
	if !bytes.Equal(secrets[0], secrets[1]) {
		t.Error("two stores on one prefix have different secrets")
	}
	if bytes.Equal(secrets[0], secrets[2]) {
		t.Error("stores on two prefixes have the same secret")
	}
}

func TestIndexToMissingRecordIsCorrupt(t *testing.T) {
	ctx := ctxFor(t)
	cli := client(t, shared)
	prefix := newPrefix()
	s := open(t, cli, &Options{Prefix: prefix})

	app := storetest.AppID(1)
	if _, err := cli.Put(ctx, prefix+dirApps+app, "ghost"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, prefix+dirKeys+"ghost", "ghost"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ByApp(ctx, app); !errors.Is(err, store.ErrCorrupt) {
		t.Errorf("ByApp error = %v, want ErrCorrupt", err)
	}
	if _, err := s.ByKey(ctx, "ghost"); !errors.Is(err, store.ErrCorrupt) {
		t.Errorf("ByKey error = %v, want ErrCorrupt", err)
	}
}

// TestConcurrentReplicas races claims through two stores on two clients, as
// two daemons sharing a cluster would.
func TestConcurrentReplicas(t *testing.T) {
	ctx := ctxFor(t)
	prefix := newPrefix()
	replicas := []*Store{
		open(t, client(t, shared), &Options{Prefix: prefix}),
		open(t, client(t, shared), &Options{Prefix: prefix}),
	}
	const perReplica = 32
	// Each base comes in two spellings with one key.
	bases := [][2]string{{"alpha", "al-pha"}, {"beta", "be-ta"}, {"gamma", "gam-ma"},
		{"delta", "del-ta"}}

	type result struct {
		rec store.Record
		err error
	}
	results := make([]result, len(replicas)*perReplica)
	var wg sync.WaitGroup
	for r, s := range replicas {
		for g := range perReplica {
			i := r*perReplica + g
			wg.Go(func() {
				base := bases[i%len(bases)]
				first := base[i/len(bases)%2]
				rec, _, err := s.Claim(ctx, store.Claim{
					AppID: storetest.AppID(i), AppName: base[0], Time: when,
					Candidates: []string{first, fmt.Sprintf("%s-x%d", base[0], i)},
				})
				results[i] = result{rec, err}
			})
		}
	}
	wg.Wait()

	owners := map[string]string{}
	holders := map[string]int{}
	for i, res := range results {
		if res.err != nil {
			t.Fatalf("app %d: %v", i, res.err)
		}
		if prev, ok := owners[res.rec.Name]; ok {
			t.Fatalf("namespace %q given to %s and %s", res.rec.Name, prev, res.rec.AppID)
		}
		owners[res.rec.Name] = res.rec.AppID
		holders[naming.Key(res.rec.Name)]++
	}
	for _, base := range bases {
		if n := holders[naming.Key(base[0])]; n != 1 {
			t.Errorf("%d records hold key %q, want exactly 1", n, naming.Key(base[0]))
		}
	}

	for i, res := range results {
		for r, s := range replicas {
			got, err := s.ByApp(ctx, storetest.AppID(i))
			if err != nil {
				t.Fatalf("replica %d: ByApp(%d): %v", r, i, err)
			}
			if got != res.rec {
				t.Errorf("replica %d: ByApp(%d) = %+v, want %+v", r, i, got, res.rec)
			}
		}
	}
}

func TestBackup(t *testing.T) {
	ctx := ctxFor(t)
	s := open(t, client(t, shared), &Options{Prefix: newPrefix()})
	for i, name := range []string{"math", "physics", "art", "music", "law"} {
		_, _, err := s.Claim(ctx, store.Claim{
			AppID: storetest.AppID(i), AppName: name, Candidates: []string{name},
			Time: when.Add(time.Duration(i) * time.Minute), Caller: "maker",
		})
		if err != nil {
			t.Fatalf("Claim(%s): %v", name, err)
		}
	}
	for _, i := range []int{1, 3} {
		if _, err := s.Retire(ctx, storetest.AppID(i), when.Add(time.Hour), "retirer"); err != nil {
			t.Fatalf("Retire(%d): %v", i, err)
		}
	}

	var buf bytes.Buffer
	n, err := s.Backup(ctx, &buf)
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	if n != int64(buf.Len()) {
		t.Errorf("Backup returned %d bytes, wrote %d", n, buf.Len())
	}

	path := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, nil)
	if err != nil {
		t.Fatalf("open the backup: %v", err)
	}
	defer func() { _ = db.Close() }()
	if err := db.Check(); err != nil {
		t.Errorf("Check of the backup: %v", err)
	}

	want, _, err := s.List(ctx, store.ListQuery{Limit: 100})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	got, _, err := db.List(ctx, store.ListQuery{Limit: 100})
	if err != nil {
		t.Fatalf("List of the backup: %v", err)
	}
	if len(got) != len(want) {
		t.Fatalf("backup has %d records, want %d", len(got), len(want))
	}
	for i := range want {
		if !got[i].CreateTime.Equal(want[i].CreateTime) ||
			!got[i].RetireTime.Equal(want[i].RetireTime) {
			t.Errorf("backup record %d times = %v, %v; want %v, %v", i,
				got[i].CreateTime, got[i].RetireTime, want[i].CreateTime, want[i].RetireTime)
		}
		got[i].CreateTime, got[i].RetireTime = want[i].CreateTime, want[i].RetireTime
		if got[i] != want[i] {
			t.Errorf("backup record %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestClosedStoreKeepsClient(t *testing.T) {
	ctx := ctxFor(t)
	cli := client(t, shared)
	s := open(t, cli, &Options{Prefix: newPrefix()})
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); !errors.Is(err, store.ErrClosed) {
		t.Errorf("second Close = %v, want ErrClosed", err)
	}
	if _, err := s.Secret(ctx); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Secret after Close: error = %v, want ErrClosed", err)
	}
	if _, err := s.Backup(ctx, &bytes.Buffer{}); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Backup after Close: error = %v, want ErrClosed", err)
	}
	if _, err := cli.Get(ctx, "anything"); err != nil {
		t.Errorf("client after the store's Close: %v", err)
	}
}

// TestQuorumLost checks that a cluster without quorum gives
// store.ErrUnavailable within the store's timeout, not an answer.
func TestQuorumLost(t *testing.T) {
	t.Parallel()
	c := start(t, 3)
	s := open(t, client(t, c), &Options{Prefix: newPrefix(), Timeout: 2 * time.Second})
	ctx := ctxFor(t)
	if _, _, err := s.Claim(ctx, store.Claim{
		AppID: storetest.AppID(1), AppName: "a", Candidates: []string{"a"}, Time: when,
	}); err != nil {
		t.Fatalf("Claim with quorum: %v", err)
	}

	leader := waitLeader(t, c)
	c.StopMember(leader)
	c.StopMember((leader + 1) % 3)

	calls := map[string]func() error{
		"Claim": func() error {
			_, _, err := s.Claim(ctx, store.Claim{
				AppID: storetest.AppID(2), AppName: "b", Candidates: []string{"b"}, Time: when,
			})
			return err
		},
		"ByApp": func() error {
			_, err := s.ByApp(ctx, storetest.AppID(1))
			return err
		},
	}
	for name, call := range calls {
		begin := time.Now()
		err := call()
		took := time.Since(begin)
		t.Logf("%s without quorum: %v after %v", name, err, took)
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s without quorum: error = %v, want ErrUnavailable", name, err)
		}
		if took > 3*time.Second {
			t.Errorf("%s without quorum took %v, want at most 3s", name, took)
		}
	}
}

// TestLeaderStopped stops the leader under writers and checks that they go
// on after the election, that every claim they were told of is kept, and
// that no name or key is given twice.
func TestLeaderStopped(t *testing.T) {
	t.Parallel()
	c := start(t, 3)
	prefix := newPrefix()
	s := open(t, client(t, c), &Options{Prefix: prefix, Timeout: 3 * time.Second})
	ctx := ctxFor(t)

	const writers = 4
	var (
		acked   [writers][]store.Record
		total   atomic.Int64
		stopped atomic.Bool
		after   [writers]atomic.Int64 // claims acknowledged after the new leader
		errs    atomic.Int64
	)
	done := make(chan struct{})
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := 0; ; {
				select {
				case <-done:
					return
				default:
				}
				rec, _, err := s.Claim(ctx, store.Claim{
					AppID: storetest.AppID(w*100000 + i), AppName: "app", Time: when,
					Candidates: []string{fmt.Sprintf("shared%d", i%8),
						fmt.Sprintf("w%d-n%d", w, i)},
				})
				if err != nil {
					// Not acknowledged: try the same app again.
					errs.Add(1)
					time.Sleep(10 * time.Millisecond)
					continue
				}
				acked[w] = append(acked[w], rec)
				total.Add(1)
				if stopped.Load() {
					after[w].Add(1)
				}
				i++
			}
		})
	}

	// Stop the leader once the writers are going, then let them go on
	// until each has had claims acknowledged by the new leader.
	deadline := time.Now().Add(20 * time.Second)
	for total.Load() < 20 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	old := waitLeader(t, c)
	c.StopMember(old)
	if nu := waitLeader(t, c); nu == old {
		t.Fatalf("member %d still leads after being stopped", old)
	}
	stopped.Store(true)
	for time.Now().Before(deadline) {
		least := int64(-1)
		for w := range writers {
			if n := after[w].Load(); least < 0 || n < least {
				least = n
			}
		}
		if least >= 10 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(done)
	wg.Wait()
	t.Logf("%d claims acknowledged, %d failed and retried", total.Load(), errs.Load())
	for w := range writers {
		if n := after[w].Load(); n < 10 {
			t.Errorf("writer %d: %d claims acknowledged after the election, want 10", w, n)
		}
	}

	// Every acknowledged claim is there, through a new client.
	check := open(t, client(t, c), &Options{Prefix: prefix})
	for w := range writers {
		for _, want := range acked[w] {
			got, err := check.ByApp(ctx, want.AppID)
			if err != nil {
				t.Fatalf("ByApp(%s): %v", want.AppID, err)
			}
			if got != want {
				t.Errorf("ByApp(%s) = %+v, want %+v", want.AppID, got, want)
			}
		}
	}

	// No app, name or key is held twice.
	recs, more, err := check.List(ctx, store.ListQuery{Limit: 100000})
	if err != nil || more {
		t.Fatalf("List = more %v, error %v", more, err)
	}
	apps, keys := map[string]int{}, map[string]int{}
	for _, rec := range recs {
		apps[rec.AppID]++
		keys[naming.Key(rec.Name)]++
	}
	for app, n := range apps {
		if n > 1 {
			t.Errorf("app %s has %d records", app, n)
		}
	}
	for key, n := range keys {
		if n > 1 {
			t.Errorf("key %q is held by %d records", key, n)
		}
	}
}

func TestUnavailable(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{rpctypes.ErrNoLeader, true},
		{rpctypes.ErrGRPCNoLeader, true},
		{rpctypes.ErrTimeout, true},
		{status.Error(codes.Unavailable, "connection refused"), true},
		{fmt.Errorf("wrapped: %w", context.DeadlineExceeded), true},
		{rpctypes.ErrTooManyOps, false},
		{context.Canceled, false},
		{errors.New("other"), false},
	}
	for _, tt := range tests {
		if got := unavailable(tt.err); got != tt.want {
			t.Errorf("unavailable(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
