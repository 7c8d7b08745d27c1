package main

import (
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"github.com/nsalloc/nsalloc/internal/load"
)

// syntheticReport returns a report whose every figure is measured, with
// Reserve throughput at 64 clients set to reserve64.
func syntheticReport(reserve64 float64) *report {
	r := &report{Small: 1_000, Large: 1_000_000, BytesPerNamespace: 400,
		StartTime: 300 * time.Millisecond}
	add := func(series string, clients, stored int, perSecond float64, p50 time.Duration) {
		r.Measurements = append(r.Measurements, measurement{Series: series, Stored: stored,
			Result: load.Result{Clients: clients, Throughput: perSecond, P50: p50}})
	}
	for _, c := range []int{1, 16, 64} {
		scale := float64(c)
		add(seriesHealth, c, 1_000, 1000*scale, time.Millisecond)
		add(seriesResolve, c, 1_000, 900*scale, time.Millisecond)
		add(seriesBoltBatch, c, 1_000, 50*scale, time.Millisecond)
		add(seriesEtcdCreate, c, 1_000, 40*scale, time.Millisecond)
		add(seriesEtcdGet, c, 1_000, 100*scale, time.Millisecond)
	}
	add(seriesReserve, 1, 1_000, 800, 1200*time.Microsecond)
	add(seriesReserve, 64, 1_000, reserve64, time.Millisecond)
	add(seriesBoltUpdate, 1, 1_000, 1000, time.Millisecond)
	add(seriesReserve, 64, 1_000_000, reserve64*0.9, time.Millisecond)
	add(seriesResolve, 64, 1_000_000, 900*64*0.5, time.Millisecond)
	return r
}

func TestEvaluate(t *testing.T) {
	r := syntheticReport(6400)
	r.evaluate()

	// Batch 3200/s, etcd 2560/s, health 64000/s, etcd get 6400/s at 64.
	want := []struct {
		figure string
		ratio  float64
		met    bool
	}{
		{"Reserve throughput, 64 clients", 2.0, true},
		{"Reserve throughput, 64 clients", 2.5, true},
		{"Reserve latency, 1 client", 1.2, true},
		{"Resolve throughput, 64 clients", 0.9, true},
		{"Resolve throughput, 64 clients", 9.0, true},
		{"Reserve throughput, 1M stored", 0.9, true},
		{"Resolve throughput, 1M stored", 0.5, false},
		{"disk per namespace, 1M stored", 0, true},
		{"daemon start, 1M stored", 0, true},
	}
	if len(r.Goals) != len(want) {
		t.Fatalf("got %d goals, want %d: %+v", len(r.Goals), len(want), r.Goals)
	}
	for i, w := range want {
		g := r.Goals[i]
		if g.Figure != w.figure || g.Met != w.met || !near(g.Ratio, w.ratio) {
			t.Errorf("goal %d = %q ratio %.3f met %v, want %q ratio %.3f met %v",
				i, g.Figure, g.Ratio, g.Met, w.figure, w.ratio, w.met)
		}
	}
}

func TestEvaluateMissingReference(t *testing.T) {
	r := syntheticReport(6400)
	r.Measurements = r.Measurements[:len(r.Measurements)-2] // no large-store runs
	r.evaluate()
	checked := 0
	for _, g := range r.Goals {
		if !strings.Contains(g.Figure, "1M stored") || !strings.Contains(g.Figure, "throughput") {
			continue
		}
		checked++
		if g.Met || g.Measured != "not measured" {
			t.Errorf("goal %q = %+v, want not measured and not met", g.Figure, g)
		}
	}
	if checked != 2 {
		t.Errorf("checked %d scale goals, want Reserve's and Resolve's", checked)
	}
}

func TestOutputs(t *testing.T) {
	r := syntheticReport(6400)
	r.evaluate()

	md := r.markdown()
	for _, want := range []string{"| Reserve latency, 1 client | 1.2ms p50 |", "| **no** |",
		"| nsalloc Resolve | 1M | 64 |"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}

	svg := r.throughputSVG()
	if err := xml.Unmarshal([]byte(svg), new(struct{})); err != nil {
		t.Fatalf("SVG is not well-formed XML: %v", err)
	}
	// A series is drawn when it has two points or more on the small store:
	// all but bbolt Update, which is measured at one client only.
	if got := strings.Count(svg, "<polyline"); got != 6 {
		t.Errorf("SVG has %d lines, want 6 (five references and Reserve)", got)
	}
}

func TestNiceCeiling(t *testing.T) {
	tests := []struct{ in, want float64 }{
		{0, 1}, {0.3, 0.5}, {1, 1}, {1.1, 2}, {4999, 5000}, {5001, 10000}, {17_477, 20_000},
	}
	for _, tt := range tests {
		if got := niceCeiling(tt.in); !near(got, tt.want) {
			t.Errorf("niceCeiling(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }
