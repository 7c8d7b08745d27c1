// Package load drives calls at a service and measures what came back:
// throughput, latency percentiles and errors by gRPC code. It is shared by
// the benchmark harness and the drills.
package load

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/status"
)

// Op is one call. worker is the client making it (0 in open-loop runs) and
// seq counts that client's calls, so that ops can spread over distinct keys.
type Op func(ctx context.Context, worker, seq int) error

// Result is what one run measured.
type Result struct {
	// Clients is the number of concurrent clients of a closed-loop run;
	// zero for an open-loop run.
	Clients int `json:"clients,omitempty"`
	// Rate is the arrival rate of an open-loop run, calls per second.
	Rate float64 `json:"rate,omitempty"`
	// Elapsed is how long the run took.
	Elapsed time.Duration `json:"elapsed_ns"`
	// OK counts calls that succeeded.
	OK int64 `json:"ok"`
	// Failed counts failed calls by gRPC code name ("ResourceExhausted").
	Failed map[string]int64 `json:"failed,omitempty"`
	// Dropped counts open-loop arrivals not sent because too many calls
	// were already outstanding at the client.
	Dropped int64 `json:"dropped,omitempty"`
	// Throughput is successful calls per second.
	Throughput float64 `json:"throughput"`
	// P50 and P99 are latency percentiles of the successful calls.
	P50 time.Duration `json:"p50_ns"`
	P99 time.Duration `json:"p99_ns"`
}

// FailedTotal returns how many calls failed, whatever their code.
func (r Result) FailedTotal() int64 {
	var n int64
	for _, c := range r.Failed {
		n += c
	}
	return n
}

// recorder gathers one goroutine's outcomes; merged at the end of a run.
type recorder struct {
	latencies []time.Duration
	failed    map[string]int64
}

func (r *recorder) record(start time.Time, err error) {
	if err == nil {
		r.latencies = append(r.latencies, time.Since(start))
		return
	}
	if r.failed == nil {
		r.failed = make(map[string]int64)
	}
	r.failed[status.Code(err).String()]++
}

// Closed runs clients goroutines that each call op back to back for d, and
// measures them. Calls are not cut off at the end of d: each runs to its end
// under ctx, and counts. The run stops early when ctx ends.
func Closed(ctx context.Context, clients int, d time.Duration, op Op) Result {
	recorders := make([]recorder, clients)
	var wg sync.WaitGroup
	start := time.Now()
	end := start.Add(d)
	for w := range clients {
		wg.Go(func() {
			rec := &recorders[w]
			for seq := 0; ctx.Err() == nil && time.Now().Before(end); seq++ {
				callStart := time.Now()
				rec.record(callStart, op(ctx, w, seq))
			}
		})
	}
	wg.Wait()

	res := summarize(recorders, time.Since(start))
	res.Clients = clients
	return res
}

// Open sends calls at rate per second for d, whatever the service's pace, as
// independent callers would. At most maxOutstanding calls are in flight; an
// arrival beyond that is counted as dropped rather than sent, which keeps the
// client's own memory bounded. Calls still running at the end are awaited.
func Open(ctx context.Context, rate float64, d time.Duration, maxOutstanding int, op Op) Result {
	interval := time.Duration(float64(time.Second) / rate)
	slots := make(chan struct{}, maxOutstanding)

	var (
		mu       sync.Mutex
		merged   recorder
		dropped  atomic.Int64
		wg       sync.WaitGroup
		seq      int
		deadline = time.Now().Add(d)
	)
	start := time.Now()
	for next := start; next.Before(deadline) && ctx.Err() == nil; next = next.Add(interval) {
		time.Sleep(time.Until(next))
		select {
		case slots <- struct{}{}:
		default:
			dropped.Add(1)
			continue
		}
		n := seq
		seq++
		wg.Go(func() {
			defer func() { <-slots }()
			callStart := time.Now()
			err := op(ctx, 0, n)
			mu.Lock()
			merged.record(callStart, err)
			mu.Unlock()
		})
	}
	wg.Wait()

	res := summarize([]recorder{merged}, time.Since(start))
	res.Rate = rate
	res.Dropped = dropped.Load()
	return res
}

// summarize merges recorders into a Result.
func summarize(recorders []recorder, elapsed time.Duration) Result {
	var all []time.Duration
	failed := make(map[string]int64)
	for _, r := range recorders {
		all = append(all, r.latencies...)
		for code, n := range r.failed {
			failed[code] += n
		}
	}
	slices.Sort(all)

	res := Result{Elapsed: elapsed, OK: int64(len(all)), P50: percentile(all, 50),
		P99: percentile(all, 99)}
	if len(failed) > 0 {
		res.Failed = failed
	}
	if elapsed > 0 {
		res.Throughput = float64(res.OK) / elapsed.Seconds()
	}
	return res
}

// percentile returns the p-th percentile of sorted latencies, nearest rank.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := (len(sorted)*p + 99) / 100
	return sorted[max(rank, 1)-1]
}
