package drill

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/nsalloc/nsalloc/internal/daemon"
	"github.com/nsalloc/nsalloc/internal/load"
	nsallocv1 "github.com/nsalloc/nsalloc/proto/nsalloc/v1"
)

const (
	// maxInFlight and admissionWait are the daemon's admission limit.
	maxInFlight   = 32
	admissionWait = 5 * time.Millisecond
	// overloadConns is how many connections the load is spread over.
	overloadConns = 4
	// callTimeout is every call's deadline under load.
	callTimeout = time.Second
	// maxOutstanding bounds the open loop's calls in flight at the client.
	maxOutstanding = 64 * maxInFlight
	// rssMargin is how far above its idle resident memory the daemon may go.
	rssMargin = 64 << 20
	// goroutineMargin is how many more goroutines than when idle the daemon
	// may run once the load has stopped.
	goroutineMargin = 5
	// settleTimeout is how long the daemon gets to wind down after the load.
	settleTimeout = 5 * time.Second
	// clockTicks is the unit of the CPU times in /proc/PID/stat (USER_HZ).
	clockTicks = 100
)

func TestOverloadDrill(t *testing.T) {
	if !*full {
		t.Skip("the overload drill times latencies against a client that must outrun the" +
			" server; under make test's race detector it cannot, so it runs in make drill")
	}
	phase := 15 * time.Second
	p := startDaemon(t, filepath.Join(t.TempDir(), "nsalloc.db"),
		"--max-in-flight", strconv.Itoa(maxInFlight),
		"--admission-wait", admissionWait.String(),
		"--max-streams", strconv.Itoa(maxOutstanding), // shed by the server, not queued here
		"--debug-listen", "127.0.0.1:0")
	conns := dial(t, p.Addr(), overloadConns)
	reserve := reserveOp(conns)

	// Warm up connections, pages and the Go runtime before anything counts.
	warm := load.Closed(stepCtx(t, phase), 8, phase/3, reserve)
	if warm.OK == 0 {
		t.Fatalf("warm-up: got 0 successful calls, failed %v", warm.Failed)
	}
	idleGoroutines, idleRSS := idleState(t, p)
	t.Logf("warm-up: %d ok, %.0f/s; idle daemon: %d goroutines, RSS %d MiB",
		warm.OK, warm.Throughput, idleGoroutines, idleRSS>>20)

	// Capacity: as many clients as the server admits, each calling back to
	// back, is the most the server takes without shedding.
	cpu := startCPU(t, p)
	capacity := load.Closed(stepCtx(t, phase), maxInFlight, phase, reserve)
	capacityCPU := cpu.used(t)
	perCall := capacityCPU / time.Duration(max(capacity.OK, 1))
	t.Logf("capacity: %d clients, %d ok in %s: T = %.0f/s, p50 %s, P = p99 %s, failed %v;"+
		" daemon CPU %.0f%%, %s a call",
		maxInFlight, capacity.OK, capacity.Elapsed.Round(time.Millisecond),
		capacity.Throughput, capacity.P50, capacity.P99, capacity.Failed,
		share(capacityCPU, capacity.Elapsed), perCall.Round(time.Microsecond))
	if capacity.FailedTotal() > 0 {
		t.Errorf("capacity: got failures %v at %d clients, want none", capacity.Failed,
			maxInFlight)
	}
	if capacity.OK < 100 {
		t.Fatalf("capacity: got %d successful calls in %s, want at least 100",
			capacity.OK, phase)
	}

	// Overload: twice the capacity from an open loop, with memory,
	// goroutines and health watched beside it. The client may hold far
	// more calls than the server admits, so that the excess reaches the
	// server and is shed there rather than dropped here.
	rate := 2 * capacity.Throughput
	watch := startWatch(t, p, conns[0])
	cpu = startCPU(t, p)
	over := load.Open(stepCtx(t, phase), rate, phase, maxOutstanding, reserve)
	overCPU := cpu.used(t)
	seen := watch.stop()
	sent := over.OK + over.FailedTotal()
	sentRate := float64(sent) / over.Elapsed.Seconds()
	shed := over.Failed[codes.ResourceExhausted.String()] +
		over.Failed[codes.DeadlineExceeded.String()]
	t.Logf("overload: offered %.0f/s, sent %.0f/s (%d), dropped at the client %d;"+
		" %d ok (%.0f/s), p50 %s, p99 %s; failed %v",
		rate, sentRate, sent, over.Dropped, over.OK, over.Throughput, over.P50, over.P99,
		over.Failed)
	t.Logf("overload: daemon CPU %.0f%%, about %s a shed call if an admitted one costs %s",
		share(overCPU, over.Elapsed),
		perShed(overCPU, perCall, over.OK, shed).Round(time.Microsecond),
		perCall.Round(time.Microsecond))
	t.Logf("overload: RSS idle %d MiB, sampled peak %d MiB, high-water %d MiB;"+
		" goroutines idle %d, sampled peak %d; health %d probes, %d failed, slowest %s",
		idleRSS>>20, seen.rss>>20, seen.hwm>>20, idleGoroutines, seen.goroutines,
		seen.probes, len(seen.probeErrs), seen.slowestProbe.Round(time.Millisecond))

	// An open loop that could not send what it was asked to tests nothing.
	if sentRate < 0.8*rate {
		t.Fatalf("overload: the client sent %.0f calls/s, want at least 80%% of %.0f/s:"+
			" it could not generate twice the capacity (%d arrivals dropped at the client"+
			" with %d calls outstanding)", sentRate, rate, over.Dropped, maxOutstanding)
	}

	// The admitted calls' latency is held to twice the unloaded p99. An
	// admitted call may first have waited up to admissionWait for a slot,
	// so P is at least admissionWait: 2×max(P, wait) ≥ P + wait.
	p99Bound := 2 * max(capacity.P99, admissionWait)
	peakRSS := max(seen.rss, seen.hwm)
	for code, n := range over.Failed {
		if code != codes.ResourceExhausted.String() && code != codes.DeadlineExceeded.String() {
			t.Errorf("overload: %d calls failed with %s, want only shed calls", n, code)
		}
	}
	checks := []struct {
		name string
		ok   bool
		msg  string
	}{
		{"calls shed", shed > 0, fmt.Sprintf("got %d shed calls, want some", shed)},
		{"calls admitted", over.OK > 0, fmt.Sprintf("got %d ok calls, want some", over.OK)},
		{"admitted p99", over.P99 <= p99Bound,
			fmt.Sprintf("got p99 %s, want at most %s (2×max(P %s, wait %s));"+
				" admitted %.0f/s against T = %.0f/s",
				over.P99, p99Bound, capacity.P99, admissionWait, over.Throughput,
				capacity.Throughput)},
		{"memory", peakRSS <= idleRSS+rssMargin,
			fmt.Sprintf("got RSS peak %d MiB, want at most %d MiB (idle + %d MiB)",
				peakRSS>>20, (idleRSS+rssMargin)>>20, rssMargin>>20)},
		{"health", len(seen.probeErrs) == 0 && seen.probes > 0,
			fmt.Sprintf("got %d of %d probes failed (%v), want none of some",
				len(seen.probeErrs), seen.probes, seen.probeErrs)},
		{"shed logged", over.Failed[codes.ResourceExhausted.String()] == 0 ||
			strings.Contains(p.Logs(), "shedding calls"),
			`got no "shedding calls" warning in the log, want one`},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("overload: %s: %s", c.name, c.msg)
		}
	}

	// Once the load stops, the goroutines of the shed and admitted calls
	// must end.
	start := time.Now()
	after, err := settle(p, idleGoroutines+goroutineMargin)
	t.Logf("settle: %d goroutines after %s", after, time.Since(start).Round(time.Millisecond))
	if err != nil {
		t.Fatalf("settle: %v", err)
	}
	if after > idleGoroutines+goroutineMargin {
		t.Errorf("settle: got %d goroutines %s after the load, want at most %d (idle %d + %d)",
			after, settleTimeout, idleGoroutines+goroutineMargin, idleGoroutines,
			goroutineMargin)
	}
}

// stepCtx is the context of one load phase of length d: it ends a while
// after the phase, should the phase hang.
func stepCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d+30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// reserveOp reserves a new app per call, spreading calls over conns, each
// call with callTimeout.
func reserveOp(conns []*grpc.ClientConn) load.Op {
	clients := make([]nsallocv1.NamespaceServiceClient, len(conns))
	for i, conn := range conns {
		clients[i] = nsallocv1.NewNamespaceServiceClient(conn)
	}
	return func(ctx context.Context, worker, seq int) error {
		ctx, cancel := context.WithTimeout(ctx, callTimeout)
		defer cancel()
		appID := load.RandomAppID()
		_, err := clients[(worker+seq)%len(clients)].Reserve(ctx, &nsallocv1.ReserveRequest{
			AppId: appID, AppName: "load " + appID[:8],
		})
		return err
	}
}

// idleState reads the daemon's goroutine count and resident memory once it
// is idle.
func idleState(t *testing.T, p *daemon.Process) (goroutines int, rss int64) {
	t.Helper()

	// Calls of the warm-up may still be ending: take the lowest count seen
	// over a short while.
	goroutines = -1
	for range 5 {
		n, err := p.Goroutines()
		if err != nil {
			t.Fatalf("idle goroutines: %v", err)
		}
		if goroutines < 0 || n < goroutines {
			goroutines = n
		}
		time.Sleep(50 * time.Millisecond)
	}

	rss, _, err := p.RSS()
	if err != nil {
		t.Fatalf("idle RSS: %v", err)
	}
	return goroutines, rss
}

// cpuMeter measures the CPU time a process uses from a starting point.
type cpuMeter struct {
	pid   int
	start time.Duration
}

// startCPU starts measuring p's CPU time.
func startCPU(t *testing.T, p *daemon.Process) cpuMeter {
	t.Helper()
	m := cpuMeter{pid: p.PID()}
	m.start = m.read(t)
	return m
}

// used returns the CPU time used since the start.
func (m cpuMeter) used(t *testing.T) time.Duration {
	t.Helper()
	return m.read(t) - m.start
}

// read returns the process's user and system CPU time so far.
func (m cpuMeter) read(t *testing.T) time.Duration {
	t.Helper()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", m.pid))
	if err != nil {
		t.Fatalf("CPU time: %v", err)
	}

	// The command name, in parentheses, may hold spaces; utime and stime
	// are the 12th and 13th fields after it.
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	var ticks int64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			t.Fatalf("CPU time in %q: %v", stat, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks
}

// share is cpu as a percentage of one CPU over elapsed.
func share(cpu, elapsed time.Duration) float64 {
	return 100 * cpu.Seconds() / elapsed.Seconds()
}

// perShed estimates the CPU time of one shed call: what the run used beyond
// its admitted calls, each costing perCall, divided among the shed ones.
func perShed(cpu, perCall time.Duration, ok, shed int64) time.Duration {
	if shed == 0 {
		return 0
	}
	return max(cpu-perCall*time.Duration(ok), 0) / time.Duration(shed)
}

// watched is what a watch saw during the overload.
type watched struct {
	rss, hwm     int64         // peak sampled RSS, and the kernel's high-water mark
	goroutines   int           // peak sampled goroutine count
	probes       int           // health checks made
	probeErrs    []error       // health checks that failed or did not answer SERVING
	slowestProbe time.Duration // the longest health check
}

// watch samples a daemon's memory and goroutines, and probes its health,
// until stopped.
type watch struct {
	p    *daemon.Process
	done chan struct{}
	wg   sync.WaitGroup
	mu   sync.Mutex // guards seen
	seen watched
}

// healthProbes are the services a health probe asks about, in turn.
var healthProbes = []string{"", nsallocv1.NamespaceService_ServiceDesc.ServiceName}

// startWatch starts sampling p, and probing its health over conn.
func startWatch(t *testing.T, p *daemon.Process, conn *grpc.ClientConn) *watch {
	t.Helper()
	w := &watch{p: p, done: make(chan struct{})}
	health := healthpb.NewHealthClient(conn)

	// Resident memory is cheap to read: often.
	w.every(50*time.Millisecond, func(int) {
		if rss, _, err := p.RSS(); err == nil {
			w.mu.Lock()
			w.seen.rss = max(w.seen.rss, rss)
			w.mu.Unlock()
		}
	})

	// A goroutine profile briefly stops the daemon's world: seldom.
	w.every(500*time.Millisecond, func(int) {
		if n, err := p.Goroutines(); err == nil {
			w.mu.Lock()
			w.seen.goroutines = max(w.seen.goroutines, n)
			w.mu.Unlock()
		}
	})

	w.every(100*time.Millisecond, func(i int) {
		start := time.Now()
		err := probe(health, healthProbes[i%len(healthProbes)])
		took := time.Since(start)
		w.mu.Lock()
		defer w.mu.Unlock()
		w.seen.probes++
		w.seen.slowestProbe = max(w.seen.slowestProbe, took)
		if err != nil {
			w.seen.probeErrs = append(w.seen.probeErrs, err)
		}
	})
	return w
}

// every runs sample at once and then every interval until the watch stops;
// sample gets the number of its run.
func (w *watch) every(interval time.Duration, sample func(i int)) {
	w.wg.Go(func() {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for i := 0; ; i++ {
			sample(i)
			select {
			case <-w.done:
				return
			case <-tick.C:
			}
		}
	})
}

// stop ends the sampling and returns what was seen, with the daemon's
// high-water mark of resident memory.
func (w *watch) stop() watched {
	close(w.done)
	w.wg.Wait()
	if _, hwm, err := w.p.RSS(); err == nil {
		w.seen.hwm = hwm
	}
	return w.seen
}

// probe asks health about service and requires SERVING within callTimeout.
func probe(health healthpb.HealthClient, service string) error {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	resp, err := health.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		return fmt.Errorf("health check %q: %w", service, err)
	}
	if got := resp.GetStatus(); got != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("health check %q: got %v, want %v", service, got,
			healthpb.HealthCheckResponse_SERVING)
	}
	return nil
}

// settle polls p's goroutine count until it is at most want, or until
// settleTimeout; it returns the last count.
func settle(p *daemon.Process, want int) (int, error) {
	deadline := time.Now().Add(settleTimeout)
	for {
		n, err := p.Goroutines()
		if err != nil || n <= want || time.Now().After(deadline) {
			return n, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}
