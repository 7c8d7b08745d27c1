package server_test

import (
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	bbolt "go.etcd.io/bbolt"

	nsallocv1 "github.com/nsalloc/nsalloc/proto/nsalloc/v1"
)

// benchClients are the numbers of concurrent clients the benchmarks run.
var benchClients = []int{1, 64}

// runClients calls op b.N times in all, from clients goroutines at once.
func runClients(b *testing.B, clients int, op func(i int) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for range clients {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				if err := op(i); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

func benchAppID(i int) string {
	return fmt.Sprintf("%08x-%04x-4000-8000-%012x", i+1, i&0xffff, i)
}

// BenchmarkReserve measures Reserve of new apps through a real server.
func BenchmarkReserve(b *testing.B) {
	for _, clients := range benchClients {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			ts := startServer(b, nil)
			ctx := b.Context()
			runClients(b, clients, func(i int) error {
				_, err := ts.client.Reserve(ctx, &nsallocv1.ReserveRequest{
					AppId: benchAppID(i), AppName: fmt.Sprintf("bench app %d", i),
				})
				return err
			})
		})
	}
}

// BenchmarkResolve measures Resolve by app id through a real server.
func BenchmarkResolve(b *testing.B) {
	for _, clients := range benchClients {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			ts := startServer(b, nil)
			ctx := b.Context()
			const stored = 1000
			for i := range stored {
				if _, err := ts.client.Reserve(ctx, &nsallocv1.ReserveRequest{
					AppId: benchAppID(i), AppName: "app",
				}); err != nil {
					b.Fatal(err)
				}
			}
			runClients(b, clients, func(i int) error {
				_, err := ts.client.Resolve(ctx, &nsallocv1.ResolveRequest{
					Key: &nsallocv1.ResolveRequest_AppId{AppId: benchAppID(i % stored)},
				})
				return err
			})
		})
	}
}

// BenchmarkBoltUpdate is the reference for a lone writer: one bbolt
// read-write transaction per write, committed and synced.
func BenchmarkBoltUpdate(b *testing.B) {
	db, err := bbolt.Open(filepath.Join(b.TempDir(), "ref.db"), 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	runClients(b, 1, func(i int) error {
		return db.Update(func(tx *bbolt.Tx) error {
			bucket, err := tx.CreateBucketIfNotExists([]byte("ref"))
			if err != nil {
				return err
			}
			return bucket.Put([]byte(benchAppID(i)), []byte("namespace"))
		})
	})
}
