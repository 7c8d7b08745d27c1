package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/nsalloc/nsalloc/internal/metricstest"
	nsallocv1 "github.com/nsalloc/nsalloc/proto/nsalloc/v1"
)

// scrape fetches and parses the daemon's /metrics.
func (d testDaemon) scrape(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	if d.MetricsAddr() == "" {
		t.Fatalf("the daemon logged no metrics_address:\n%s", d.Logs())
	}
	return metricstest.Scrape(testCtx(t), t, "http://"+d.MetricsAddr()+"/metrics")
}

// metricSum adds up the series of family name whose labels include the
// name and value pairs of labels: the values of counters and gauges, the
// counts of histograms. It fails the test when no series matches.
func metricSum(
	t *testing.T, families map[string]*dto.MetricFamily, name string, labels ...string,
) float64 {
	t.Helper()
	total, ok := metricstest.Sum(families, name, labels...)
	if !ok {
		t.Fatalf("no series of %s with %v", name, labels)
	}
	return total
}

// TestMetricsEndpoint drives the daemon with calls of every outcome, then
// reads /metrics as Prometheus would: every figure must match the calls.
func TestMetricsEndpoint(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "nsalloc.db")
	d := startDaemon(t, dbPath, "--metrics-listen", "127.0.0.1:0")
	client := d.client(t)
	ctx := testCtx(t)

	calls := []struct {
		appID, name string
		wantName    string
	}{
		{"9423dfaa-2bd8-43fa-bcd9-b0599ea44d5e", "Math", "math"},
		{"5b1e6c4a-0f3d-4e2b-9a8c-7d6e5f4a3b2c", "Physics", "physics"},
		{"0c9a8b7d-6e5f-4a3b-8c2d-1e0f9a8b7c6d", "Chemistry", "chemistry"},
		{"aa000000-0000-4000-8000-000000000001", "math", "math-xaa000000"},
		{"9423dfaa-2bd8-43fa-bcd9-b0599ea44d5e", "Math", "math"},
		{"5b1e6c4a-0f3d-4e2b-9a8c-7d6e5f4a3b2c", "Other", "physics"},
	}
	for _, c := range calls {
		resp, err := client.Reserve(ctx, &nsallocv1.ReserveRequest{AppId: c.appID, AppName: c.name})
		if err != nil {
			t.Fatalf("Reserve(%s, %q): %v", c.appID, c.name, err)
		}
		if got := resp.GetNamespace().GetName(); got != c.wantName {
			t.Fatalf("Reserve(%s, %q) = %q, want %q", c.appID, c.name, got, c.wantName)
		}
	}
	_, err := client.Release(ctx, &nsallocv1.ReleaseRequest{AppId: calls[2].appID})
	if err != nil {
		t.Fatalf("Release: %v", err)
	}

	families := d.scrape(t)
	reserveOK := []string{"grpc_method", "Reserve", "grpc_code", "OK"}
	tests := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"nsalloc_reservations_total", []string{"outcome", "base"}, 3},
		{"nsalloc_reservations_total", []string{"outcome", "tagged"}, 1},
		{"nsalloc_reservations_total", []string{"outcome", "existing"}, 2},
		{"nsalloc_namespaces", []string{"state", "active"}, 3},
		{"nsalloc_namespaces", []string{"state", "retired"}, 1},
		{"grpc_server_handled_total", reserveOK, 6},
		{"grpc_server_handled_total", []string{"grpc_method", "Release", "grpc_code", "OK"}, 1},
		{"grpc_server_handling_seconds", []string{"grpc_method", "Reserve"}, 6},
		{"nsalloc_store_writes_total", nil, 7},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.name, tt.labels), func(t *testing.T) {
			if got := metricSum(t, families, tt.name, tt.labels...); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}

	// Every write of these calls came alone, so each had a commit of its
	// own; the histogram times each commit the counter counts.
	commits := metricSum(t, families, "nsalloc_store_commits_total")
	timed := metricSum(t, families, "nsalloc_store_commit_duration_seconds")
	if commits < 1 || timed != commits {
		t.Errorf("got %v commits and %v timed, want at least 1 and the same", commits, timed)
	}
	if size := metricSum(t, families, "nsalloc_store_size_bytes"); size <= 0 {
		t.Errorf("got size %v, want more than 0", size)
	}
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes"} {
		if _, ok := families[name]; !ok {
			t.Errorf("no %s: the Go and process collectors are missing", name)
		}
	}
	d.stop(t, syscall.SIGTERM)

	// The counts live in the file: a restart reads them, without counting.
	again := startDaemon(t, dbPath, "--metrics-listen", "127.0.0.1:0")
	families = again.scrape(t)
	active := metricSum(t, families, "nsalloc_namespaces", "state", "active")
	retired := metricSum(t, families, "nsalloc_namespaces", "state", "retired")
	if active != 3 || retired != 1 {
		t.Errorf("after a restart got %v active and %v retired, want 3 and 1", active, retired)
	}
	if strings.Contains(again.Logs(), "namespaces counted") {
		t.Errorf("the restart counted the namespaces again:\n%s", again.Logs())
	}
	again.stop(t, syscall.SIGTERM)
}

func TestMetricsOffByDefault(t *testing.T) {
	d := startDaemon(t, filepath.Join(t.TempDir(), "nsalloc.db"))
	if d.MetricsAddr() != "" || strings.Contains(d.Logs(), "metrics_address") {
		t.Errorf("metrics are served without --metrics-listen:\n%s", d.Logs())
	}
	d.stop(t, syscall.SIGTERM)
}
