package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/nsalloc/nsalloc/internal/daemon"
	"github.com/nsalloc/nsalloc/internal/embedetcd"
	"github.com/nsalloc/nsalloc/internal/load"
)

// Series names, as they appear in the report.
const (
	seriesReserve       = "nsalloc Reserve"
	seriesResolve       = "nsalloc Resolve"
	seriesHealth        = "gRPC health Check (no-op)"
	seriesBoltBatch     = "bbolt Batch, same writes"
	seriesBoltUpdate    = "bbolt Update, same writes"
	seriesEtcdCreate    = "etcd create-if-absent txn"
	seriesEtcdGet       = "etcd linearizable get"
	seriesReserveOnEtcd = "nsalloc Reserve on etcd"
	seriesResolveOnEtcd = "nsalloc Resolve on etcd"
	connsPerEndpoint    = 4 // client connections to each server under test
	stopTimeout         = 30 * time.Second
	largeConcurrency    = 64 // clients of the scale measurements
	callTimeout         = 10 * time.Second
)

// bench runs the measurements and fills the report.
type bench struct {
	cfg      config
	work     string // temporary directory for files
	progress io.Writer
	report   *report

	// daemon is the nsallocd being measured, if any; it is profiled when
	// cfg.profile is set.
	daemon *daemon.Process
}

// runAll runs every phase in order.
func (b *bench) runAll(ctx context.Context) error {
	phases := []struct {
		name string
		run  func(context.Context) error
	}{
		{"seed the stores", b.seed},
		{"nsalloc and the no-op call", b.measureDaemon},
		{"raw bbolt", b.measureBolt},
		{"single-node etcd", b.measureEtcd},
		{"scale", b.measureScale},
	}
	for _, p := range phases {
		start := time.Now()
		fmt.Fprintf(b.progress, "== %s\n", p.name)
		if err := p.run(ctx); err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		fmt.Fprintf(b.progress, "   done in %s\n", time.Since(start).Round(time.Millisecond))
	}
	b.report.evaluate()
	return nil
}

func (b *bench) smallDB() string { return filepath.Join(b.work, "small.db") }
func (b *bench) largeDB() string { return filepath.Join(b.work, "large.db") }

// seed fills the small and the large store files.
func (b *bench) seed(ctx context.Context) error {
	if _, err := b.seedOrCopy(ctx, b.smallDB(), b.cfg.small); err != nil {
		return err
	}
	size, err := b.seedOrCopy(ctx, b.largeDB(), b.cfg.large)
	if err != nil {
		return err
	}
	b.report.BytesPerNamespace = float64(size) / float64(b.cfg.large)
	return nil
}

// seedOrCopy creates the store file at path with count namespaces. With
// -cache, a store seeded by an earlier run is copied instead, and a new one
// is kept there for the next run. It returns the file's size.
func (b *bench) seedOrCopy(ctx context.Context, path string, count int) (int64, error) {
	if b.cfg.cache == "" {
		return b.seedTimed(ctx, path, count)
	}

	cached := filepath.Join(b.cfg.cache, fmt.Sprintf("seeded-%d.db", count))
	if _, err := os.Stat(cached); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(b.cfg.cache, 0o755); err != nil {
			return 0, err
		}
		if _, err := b.seedTimed(ctx, cached+".partial", count); err != nil {
			return 0, err
		}
		if err := os.Rename(cached+".partial", cached); err != nil {
			return 0, err
		}
	} else if err != nil {
		return 0, err
	}
	fmt.Fprintf(b.progress, "   %d namespaces copied from %s\n", count, cached)
	return copyFile(cached, path)
}

// seedTimed seeds path and reports how long it took.
func (b *bench) seedTimed(ctx context.Context, path string, count int) (int64, error) {
	start := time.Now()
	size, err := seedStore(ctx, path, count)
	if err != nil {
		return 0, err
	}
	fmt.Fprintf(b.progress, "   %d namespaces stored in %s, %d bytes\n",
		count, time.Since(start).Round(time.Millisecond), size)
	return size, nil
}

// copyFile copies from to to and returns the number of bytes copied.
func copyFile(from, to string) (int64, error) {
	src, err := os.Open(from)
	if err != nil {
		return 0, err
	}
	defer func() { _ = src.Close() }()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, err
	}
	// Sync the copy, so that the daemon's start is not charged for
	// writing it out.
	n, err := io.Copy(dst, src)
	if err == nil {
		err = dst.Sync()
	}
	if err != nil {
		_ = dst.Close()
		return 0, err
	}
	return n, dst.Close()
}

// measureDaemon measures Reserve, Resolve and the no-op call on a daemon
// over the small store, at every concurrency.
func (b *bench) measureDaemon(ctx context.Context) error {
	p, conns, err := b.startDaemon(b.smallDB())
	if err != nil {
		return err
	}
	defer b.stopDaemon(p, conns)

	// Reads first, so that they see the store at its seeded size.
	for _, clients := range b.cfg.clients {
		b.measure(ctx, seriesHealth, b.cfg.small, clients, healthOp(conns))
		b.measure(ctx, seriesResolve, b.cfg.small, clients, resolveOp(conns, b.cfg.small))
	}
	for _, clients := range b.cfg.clients {
		b.measure(ctx, seriesReserve, b.cfg.small, clients, reserveOp(conns))
	}
	return nil
}

// measureBolt measures the same writes through raw bbolt, without gRPC.
func (b *bench) measureBolt(ctx context.Context) error {
	db, err := openRaw(filepath.Join(b.work, "raw.db"), b.cfg.small)
	if err != nil {
		return err
	}
	defer func() { _ = db.Close() }()

	for _, clients := range b.cfg.clients {
		b.measure(ctx, seriesBoltBatch, b.cfg.small, clients, rawBatchOp(db))
	}
	b.measure(ctx, seriesBoltUpdate, b.cfg.small, 1, rawUpdateOp(db))
	return nil
}

// measureEtcd measures a single-node etcd, embedded in this process and
// reached over gRPC on loopback.
func (b *bench) measureEtcd(ctx context.Context) error {
	cluster, err := embedetcd.Start(filepath.Join(b.work, "etcd"), 1, nil)
	if err != nil {
		return err
	}
	defer cluster.Close()

	var clients []*clientv3.Client
	defer func() {
		for _, c := range clients {
			_ = c.Close()
		}
	}()
	for range connsPerEndpoint {
		c, err := cluster.Client()
		if err != nil {
			return err
		}
		clients = append(clients, c)
	}
	if err := seedEtcd(ctx, clients[0], b.cfg.small); err != nil {
		return err
	}

	getOp := func(c *clientv3.Client) load.Op { return etcdGetOp(c, b.cfg.small) }
	for _, n := range b.cfg.clients {
		b.measure(ctx, seriesEtcdGet, b.cfg.small, n, spread(clients, getOp))
		b.measure(ctx, seriesEtcdCreate, b.cfg.small, n, spread(clients, etcdCreateOp))
	}
	return b.measureDaemonOnEtcd(ctx, cluster)
}

// measureDaemonOnEtcd measures Reserve and Resolve through a daemon that
// keeps its namespaces on the same cluster, at 64 clients: the figures of
// nsalloc's etcd backend beside those of bbolt.
func (b *bench) measureDaemonOnEtcd(ctx context.Context, cluster *embedetcd.Cluster) error {
	p, conns, err := b.startDaemon("unused.db", "--store", "etcd",
		"--etcd-endpoints", strings.Join(cluster.Endpoints(), ","), "--etcd-prefix", "/nsalloc/")
	if err != nil {
		return err
	}
	defer b.stopDaemon(p, conns)

	// Store the apps Resolve looks up, through the daemon itself.
	if err := seedThroughDaemon(ctx, conns, b.cfg.small); err != nil {
		return fmt.Errorf("daemon on etcd: %w", err)
	}

	b.measure(ctx, seriesResolveOnEtcd, b.cfg.small, largeConcurrency,
		resolveOp(conns, b.cfg.small))
	b.measure(ctx, seriesReserveOnEtcd, b.cfg.small, largeConcurrency, reserveOp(conns))
	return nil
}

// spread gives each client an op of its own and lets worker w use client w
// modulo their number.
func spread(clients []*clientv3.Client, opFor func(*clientv3.Client) load.Op) load.Op {
	ops := make([]load.Op, len(clients))
	for i, c := range clients {
		ops[i] = opFor(c)
	}
	return func(ctx context.Context, worker, seq int) error {
		return ops[worker%len(ops)](ctx, worker, seq)
	}
}

// measureScale starts a daemon on the large store, timing its start, and
// measures Reserve and Resolve there and its memory.
func (b *bench) measureScale(ctx context.Context) error {
	p, conns, err := b.startDaemon(b.largeDB())
	if err != nil {
		return err
	}
	defer b.stopDaemon(p, conns)
	b.report.StartTime = p.Serving.Sub(p.Started)

	b.measure(ctx, seriesResolve, b.cfg.large, largeConcurrency, resolveOp(conns, b.cfg.large))
	b.measure(ctx, seriesReserve, b.cfg.large, largeConcurrency, reserveOp(conns))

	rss, peak, err := p.RSS()
	if err != nil {
		return err
	}
	b.report.DaemonRSS, b.report.DaemonPeakRSS = rss, peak
	return nil
}

// measure runs op from clients goroutines, first unmeasured for the warm-up
// and then for the configured duration, and adds the result to the report.
func (b *bench) measure(ctx context.Context, series string, stored, clients int, op load.Op) {
	timed := func(ctx context.Context, worker, seq int) error {
		ctx, cancel := context.WithTimeout(ctx, callTimeout)
		defer cancel()
		return op(ctx, worker, seq)
	}
	load.Closed(ctx, clients, b.cfg.warmup, timed)
	profiled := b.startProfile(series, stored, clients)
	res := load.Closed(ctx, clients, b.cfg.duration, timed)
	if err := <-profiled; err != nil {
		fmt.Fprintf(b.progress, "   profile of %s: %v\n", series, err)
	}

	m := measurement{Series: series, Stored: stored, Result: res}
	b.report.Measurements = append(b.report.Measurements, m)
	fmt.Fprintf(b.progress, "   %-28s stored=%-8d clients=%-4d %9.0f/s p50=%-9s p99=%-9s%s\n",
		series, stored, clients, res.Throughput, res.P50.Round(time.Microsecond),
		res.P99.Round(time.Microsecond), failedNote(res))
}

// startProfile saves a CPU profile of the daemon, taken while a measurement
// runs at 64 clients, when -profile asks for it. The channel reports when the
// profile is saved.
func (b *bench) startProfile(series string, stored, clients int) <-chan error {
	done := make(chan error, 1)
	if b.cfg.profile == "" || b.daemon == nil || clients != largeConcurrency ||
		!(strings.HasPrefix(series, "nsalloc") || series == seriesHealth) {
		done <- nil
		return done
	}

	name := fmt.Sprintf("%s-%s-%d.pprof",
		strings.ToLower(strings.ReplaceAll(series, " ", "-")), count(stored), clients)
	seconds := max(int(b.cfg.duration.Seconds()), 1)
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", b.daemon.DebugAddr(), seconds)
	go func() { done <- download(url, filepath.Join(b.cfg.profile, name)) }()
	return done
}

// download saves what url answers in path.
func download(url, path string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

func failedNote(r load.Result) string {
	if len(r.Failed) == 0 {
		return ""
	}
	return fmt.Sprintf(" failed=%v", r.Failed)
}

// startDaemon runs nsallocd on dbPath, with extra flags, and dials it. The harness measures
// what the server can do, not what one caller may, so the rate limit is off.
func (b *bench) startDaemon(
	dbPath string, extra ...string,
) (*daemon.Process, []*grpc.ClientConn, error) {
	args := append([]string{"--listen", "127.0.0.1:0", "--db", dbPath, "--rate-limit", "0"},
		extra...)
	if b.cfg.profile != "" {
		args = append(args, "--debug-listen", "127.0.0.1:0")
	}
	p, err := daemon.Start(b.cfg.daemon, args...)
	if err != nil {
		return nil, nil, err
	}
	b.daemon = p
	var conns []*grpc.ClientConn
	for range connsPerEndpoint {
		conn, err := grpc.NewClient(p.Addr(),
			grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			b.stopDaemon(p, conns)
			return nil, nil, err
		}
		conns = append(conns, conn)
	}
	return p, conns, nil
}

// stopDaemon closes the connections and stops the daemon cleanly.
func (b *bench) stopDaemon(p *daemon.Process, conns []*grpc.ClientConn) {
	b.daemon = nil
	for _, conn := range conns {
		_ = conn.Close()
	}
	if err := p.Stop(syscall.SIGTERM, stopTimeout); err != nil {
		fmt.Fprintf(os.Stderr, "nsallocbench: %v\n", err)
	}
}
