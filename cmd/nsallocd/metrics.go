package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"

	"github.com/nsalloc/nsalloc/server"
	"github.com/nsalloc/nsalloc/store/bolt"
)

// metrics is what the daemon measures for Prometheus, in a registry of its
// own: the calls and the answers of the server (server.Metrics), the store
// (storeCollector and the commit histogram), and the Go runtime and the
// process. A nil *metrics means metrics are off: its methods then give
// nothing to install.
type metrics struct {
	registry *prometheus.Registry
	server   *server.Metrics
	commits  prometheus.Histogram
}

// newMetrics makes the daemon's metrics, or returns nil when addr, the
// address to serve them on, is empty.
func newMetrics(addr string) (*metrics, error) {
	if addr == "" {
		return nil, nil
	}
	reg := prometheus.NewRegistry()
	srv, err := server.NewMetrics(reg)
	if err != nil {
		return nil, err
	}

	// A commit writes and syncs a few pages: a millisecond or so on a
	// local disk, more on a network one. The buckets span 100µs to 1.6s.
	commits := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "nsalloc_store_commit_duration_seconds",
		Help: "Time of each group commit of the store, from the start of its " +
			"transaction until its writes are synced.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 15),
	})
	for _, c := range []prometheus.Collector{
		commits,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return &metrics{registry: reg, server: srv, commits: commits}, nil
}

// onCommit is the store's bolt.Options.OnCommit; nil when metrics are off.
func (m *metrics) onCommit() func(writes int, took time.Duration) {
	if m == nil {
		return nil
	}
	return func(_ int, took time.Duration) { m.commits.Observe(took.Seconds()) }
}

// observer is the service's server.Options.Observer; nil when metrics are
// off.
func (m *metrics) observer() server.Observer {
	if m == nil {
		return nil
	}
	return m.server
}

// serverOptions install the call metrics on the server; none when metrics
// are off. They stand outside every other interceptor, whatever the order
// of the options (see server.Metrics.ServerOptions).
func (m *metrics) serverOptions() []grpc.ServerOption {
	if m == nil {
		return nil
	}
	return m.server.ServerOptions()
}

// serve adds the metrics read from db at each scrape, and serves them all
// at /metrics on addr. db is nil on etcd, whose cluster has metrics of its
// own: the store's figures are then left out. A failure after the start is
// sent on failed.
func (m *metrics) serve(
	addr string, db *bolt.DB, logger *slog.Logger, failed chan<- error,
) (*http.Server, error) {
	if db != nil {
		if err := m.registry.Register(storeCollector{db: db}); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listen on %s: %w", addr, err)
	}

	// A scrape that meets an error still gets every metric it can, and the
	// error goes to the log.
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      m.registry,
	}))
	srv := &http.Server{Addr: lis.Addr().String(), Handler: mux, ReadHeaderTimeout: 5 * time.Second}

	go func() {
		if err := srv.Serve(lis); !errors.Is(err, http.ErrServerClosed) {
			failed <- err
		}
	}()
	return srv, nil
}

// storeCollector reads the store's figures at each scrape. Each costs a
// constant time, whatever the number of namespaces: two numbers read in a
// read-only transaction, two counters, and the file's size.
type storeCollector struct {
	db *bolt.DB
}

var (
	namespacesDesc = prometheus.NewDesc("nsalloc_namespaces",
		"Namespaces in the store, by state: active or retired.", []string{"state"}, nil)
	commitsDesc = prometheus.NewDesc("nsalloc_store_commits_total",
		"Read-write transactions the store committed; writers that arrive "+
			"together share one.", nil, nil)
	writesDesc = prometheus.NewDesc("nsalloc_store_writes_total",
		"Writes (claims and retirements, including those that changed nothing) "+
			"that the store's commits carried.", nil, nil)
	sizeDesc = prometheus.NewDesc("nsalloc_store_size_bytes",
		"Size of the store's bbolt file.", nil, nil)
)

// Describe sends the descriptions of the store's metrics.
func (c storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{namespacesDesc, commitsDesc, writesDesc, sizeDesc} {
		ch <- d
	}
}

// Collect reads the store's figures. One that cannot be read is sent as an
// invalid metric, which the scrape reports without losing the others.
func (c storeCollector) Collect(ch chan<- prometheus.Metric) {
	active, retired, err := c.db.Counts()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(namespacesDesc, err)
	} else {
		ch <- prometheus.MustNewConstMetric(namespacesDesc, prometheus.GaugeValue,
			float64(active), "active")
		ch <- prometheus.MustNewConstMetric(namespacesDesc, prometheus.GaugeValue,
			float64(retired), "retired")
	}

	st := c.db.Stats()
	ch <- prometheus.MustNewConstMetric(commitsDesc, prometheus.CounterValue, float64(st.Commits))
	ch <- prometheus.MustNewConstMetric(writesDesc, prometheus.CounterValue, float64(st.Writes))

	size, err := c.db.Size()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(sizeDesc, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(sizeDesc, prometheus.GaugeValue, float64(size))
}
