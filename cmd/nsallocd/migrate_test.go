package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nsalloc/nsalloc/internal/embedetcd"
	nsallocv1 "github.com/nsalloc/nsalloc/proto/nsalloc/v1"
	"github.com/nsalloc/nsalloc/store"
	"github.com/nsalloc/nsalloc/store/bolt"
)

// TestMigrateRoundTrip moves a daemon's file into etcd, serves it from there,
// runs the move again, and moves it back into a new file: the records come
// back identical, retired ones and their callers included.
func TestMigrateRoundTrip(t *testing.T) {
	cluster, err := embedetcd.Start(t.TempDir(), 1, nil)
	if err != nil {
		t.Fatalf("start etcd: %v", err)
	}
	t.Cleanup(cluster.Close)
	endpoints := strings.Join(cluster.Endpoints(), ",")
	ctx := testCtx(t)

	// A daemon on a file reserves 40 apps and releases every fourth.
	source := filepath.Join(t.TempDir(), "source.db")
	d := startDaemon(t, source, "--rate-limit", "0")
	client := d.client(t)
	for n := range 40 {
		appID := fmt.Sprintf("ab000000-0000-4000-8000-%012d", n)
		if _, err := client.Reserve(ctx, &nsallocv1.ReserveRequest{
			AppId: appID, AppName: []string{"math", "Math", "graph", "app " + appID[:4]}[n%4],
		}); err != nil {
			t.Fatalf("Reserve: %v", err)
		}
		if n%4 == 0 {
			if _, err := client.Release(ctx, &nsallocv1.ReleaseRequest{AppId: appID}); err != nil {
				t.Fatalf("Release: %v", err)
			}
		}
	}
	d.stop(t, syscall.SIGTERM)

	// Into etcd, twice: the second run writes nothing.
	migrateArgs := []string{"--etcd-endpoints", endpoints, "--etcd-prefix", "/moved/"}
	out := migrateRun(t, append([]string{"bolt-to-etcd", "--db", source}, migrateArgs...)...)
	for _, want := range []string{"40 read, 40 created", "10 retired", "0 conflicts",
		"verified: both hold the same 40 records"} {
		if !strings.Contains(out, want) {
			t.Errorf("first migrate output lacks %q:\n%s", want, out)
		}
	}
	out = migrateRun(t, append([]string{"bolt-to-etcd", "--db", source}, migrateArgs...)...)
	if !strings.Contains(out, "40 read, 0 created, 40 already there, 0 retired") {
		t.Errorf("second migrate output, want nothing written:\n%s", out)
	}

	// A daemon on etcd serves what was moved.
	onEtcd := startDaemon(t, "unused.db", "--store", "etcd", "--etcd-endpoints", endpoints,
		"--etcd-prefix", "/moved/")
	resp, err := onEtcd.client(t).Resolve(ctx, &nsallocv1.ResolveRequest{
		Key: &nsallocv1.ResolveRequest_Namespace{Namespace: "graph"}, IncludeRetired: true,
	})
	if err != nil || resp.GetNamespace().GetAppId() != "ab000000-0000-4000-8000-000000000002" {
		t.Errorf("Resolve graph on etcd = %v, %v; want app ...002", resp, err)
	}
	onEtcd.stop(t, syscall.SIGTERM)

	// Back into a new file: the same records.
	back := filepath.Join(t.TempDir(), "back.db")
	migrateRun(t, append([]string{"etcd-to-bolt", "--db", back}, migrateArgs...)...)
	want, got := allRecords(t, ctx, source), allRecords(t, ctx, back)
	if len(got) != 40 || !reflect.DeepEqual(got, want) {
		t.Errorf("records after bolt → etcd → bolt differ:\ngot  %v\nwant %v", got, want)
	}
}

// migrateRun runs nsallocd migrate with args, requires success, and returns
// its output.
func migrateRun(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "nsallocd"),
		append([]string{"migrate"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("nsallocd migrate %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// allRecords opens a bbolt file, checks it, and lists every record, with
// times in UTC so that they compare.
func allRecords(t *testing.T, ctx context.Context, path string) []store.Record {
	t.Helper()
	db, err := bolt.Open(path, nil)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer func() { _ = db.Close() }()
	if err := db.Check(); err != nil {
		t.Errorf("Check %s: %v", path, err)
	}
	recs, more, err := db.List(ctx, store.ListQuery{Limit: 1000})
	if err != nil || more {
		t.Fatalf("List %s: %v (more %v)", path, err, more)
	}
	for i := range recs {
		recs[i].CreateTime = recs[i].CreateTime.UTC()
		recs[i].RetireTime = recs[i].RetireTime.UTC()
	}
	return recs
}
