package bolt

import (
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nsalloc/nsalloc/store"
)

// BenchmarkClaim measures claims of new apps straight on the store, from one
// writer and from many at once. With durable=false the commits skip fsync,
// which leaves the processor's share of a claim, steadier than the disk's.
func BenchmarkClaim(b *testing.B) {
	for _, durable := range []bool{true, false} {
		for _, writers := range []int{1, 64} {
			name := fmt.Sprintf("durable=%t/writers=%d", durable, writers)
			b.Run(name, func(b *testing.B) { benchmarkClaim(b, writers, durable) })
		}
	}
}

// benchmarkClaim runs b.N claims from writers goroutines at once.
func benchmarkClaim(b *testing.B, writers int, durable bool) {
	s, err := Open(filepath.Join(b.TempDir(), "nsalloc.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	s.db.NoSync = !durable

	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for range writers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				name := fmt.Sprintf("app%d", i)
				_, _, err := s.Claim(b.Context(), store.Claim{
					AppID:   fmt.Sprintf("%08x-0000-4000-8000-%012x", i+1, i),
					AppName: name, Candidates: []string{name}, Time: time.Now(),
				})
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "claims/s")
}
