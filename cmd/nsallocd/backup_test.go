package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	nsallocv1 "github.com/nsalloc/nsalloc/proto/nsalloc/v1"
	"github.com/nsalloc/nsalloc/store/bolt"
)

// TestBackupWhileWritersRun takes a backup from a daemon while clients keep
// reserving, then serves the backup with a second daemon: every reservation
// acknowledged before the backup began must resolve there, and the file must
// pass bbolt's consistency check.
func TestBackupWhileWritersRun(t *testing.T) {
	// The writers reserve as fast as they can, past one caller's rate.
	d := startDaemon(t, filepath.Join(t.TempDir(), "nsalloc.db"), "--rate-limit", "0")
	client := d.client(t)
	ctx := testCtx(t)

	// Writers reserve until told to stop, noting when each answer came.
	type ack struct {
		appID, namespace string
		at               time.Time
	}
	var (
		mu    sync.Mutex
		acks  []ack
		stop  = make(chan struct{})
		wg    sync.WaitGroup
		fails = make(chan error, 8)
	)
	for w := range 8 {
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				appID := fmt.Sprintf("dd%06x-0000-4000-8000-%012x", w, n)
				resp, err := client.Reserve(ctx, &nsallocv1.ReserveRequest{
					AppId: appID, AppName: fmt.Sprintf("writer %d app %d", w, n),
				})
				if err != nil {
					fails <- err
					return
				}
				mu.Lock()
				acks = append(acks, ack{appID, resp.GetNamespace().GetName(), time.Now()})
				mu.Unlock()
			}
		})
	}
	time.Sleep(300 * time.Millisecond)

	// Take the backup while the writers go on.
	backupPath := filepath.Join(t.TempDir(), "backup.db")
	began := time.Now()
	size := backupTo(t, ctx, client, backupPath)
	time.Sleep(100 * time.Millisecond)
	close(stop)
	wg.Wait()
	close(fails)
	for err := range fails {
		t.Fatalf("writer: %v", err)
	}

	var before []ack
	for _, a := range acks {
		if a.at.Before(began) {
			before = append(before, a)
		}
	}
	if len(before) < 50 || len(before) == len(acks) {
		t.Fatalf("got %d of %d reservations before the backup, want writes on both sides",
			len(before), len(acks))
	}

	// The file is sound, and a daemon serves it.
	db, err := bolt.Open(backupPath, nil)
	if err != nil {
		t.Fatalf("open the backup: %v", err)
	}
	if err := db.Check(); err != nil {
		t.Errorf("Check of the backup: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	restored := startDaemon(t, backupPath, "--rate-limit", "0")
	restoredClient := restored.client(t)
	for _, a := range before {
		resp, err := restoredClient.Resolve(ctx, &nsallocv1.ResolveRequest{
			Key: &nsallocv1.ResolveRequest_AppId{AppId: a.appID},
		})
		if err != nil || resp.GetNamespace().GetName() != a.namespace {
			t.Errorf("app %s on the restored daemon = %v, %v; want %s",
				a.appID, resp, err, a.namespace)
		}
	}
	t.Logf("backup of %d bytes; %d of %d reservations acknowledged before it, all restored",
		size, len(before), len(acks))
	restored.stop(t, syscall.SIGTERM)
	d.stop(t, syscall.SIGTERM)
}

// backupTo streams a backup into path and returns its size.
func backupTo(
	t *testing.T, ctx context.Context, client nsallocv1.NamespaceServiceClient, path string,
) int64 {
	t.Helper()
	stream, err := client.Backup(ctx, &nsallocv1.BackupRequest{})
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()

	var size int64
	for {
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return size
		}
		if err != nil {
			t.Fatalf("Backup Recv: %v", err)
		}
		n, err := f.Write(chunk.GetData())
		if err != nil {
			t.Fatal(err)
		}
		size += int64(n)
	}
}
