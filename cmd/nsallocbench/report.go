package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nsalloc/nsalloc/internal/load"
)

// measurement is one series at one concurrency and store size.
type measurement struct {
	Series string `json:"series"`
	Stored int    `json:"stored"`
	load.Result
}

// goal is one row of the design's goals table, with what this run measured.
type goal struct {
	Figure    string  `json:"figure"`
	Reference string  `json:"reference"`
	Measured  string  `json:"measured"`
	RefValue  string  `json:"reference_value"`
	Ratio     float64 `json:"ratio"`
	Goal      string  `json:"goal"`
	Met       bool    `json:"met"`
}

// report is everything a run found; it is written as JSON as it is.
type report struct {
	Started           time.Time     `json:"started"`
	Machine           string        `json:"machine"`
	Quick             bool          `json:"quick"`
	Duration          time.Duration `json:"duration_ns"`
	Small             int           `json:"small"`
	Large             int           `json:"large"`
	Measurements      []measurement `json:"measurements"`
	BytesPerNamespace float64       `json:"bytes_per_namespace"`
	StartTime         time.Duration `json:"start_time_ns"`
	DaemonRSS         int64         `json:"daemon_rss_bytes"`
	DaemonPeakRSS     int64         `json:"daemon_peak_rss_bytes"`
	Goals             []goal        `json:"goals"`
}

func newReport(cfg config) *report {
	return &report{Started: time.Now(), Machine: machine(), Quick: cfg.quick,
		Duration: cfg.duration, Small: cfg.small, Large: cfg.large}
}

// find returns the measurement of series at clients and stored.
func (r *report) find(series string, clients, stored int) (load.Result, bool) {
	for _, m := range r.Measurements {
		if m.Series == series && m.Clients == clients && m.Stored == stored {
			return m.Result, true
		}
	}
	return load.Result{}, false
}

// evaluate fills in the goals table from the measurements.
func (r *report) evaluate() {
	perSecond := func(series string, clients, stored int) (float64, string) {
		res, ok := r.find(series, clients, stored)
		if !ok {
			return 0, "not measured"
		}
		return res.Throughput, fmt.Sprintf("%.0f/s", res.Throughput)
	}
	p50 := func(series string) (float64, string) {
		res, ok := r.find(series, 1, r.Small)
		if !ok {
			return 0, "not measured"
		}
		return float64(res.P50), fmt.Sprintf("%s p50", res.P50.Round(time.Microsecond))
	}
	atLeast := func(figure, reference string, goalRatio float64,
		got, want func() (float64, string),
	) {
		g, gs := got()
		w, ws := want()
		ratio := 0.0
		if w > 0 {
			ratio = g / w
		}
		r.Goals = append(r.Goals, goal{Figure: figure, Reference: reference, Measured: gs,
			RefValue: ws, Ratio: ratio, Goal: fmt.Sprintf("≥ %.2g×", goalRatio),
			Met: w > 0 && ratio >= goalRatio})
	}
	at := func(series string, clients, stored int) func() (float64, string) {
		return func() (float64, string) { return perSecond(series, clients, stored) }
	}
	s, l := r.Small, r.Large

	atLeast("Reserve throughput, 64 clients", seriesBoltBatch+", 64 writers", 1.0,
		at(seriesReserve, 64, s), at(seriesBoltBatch, 64, s))
	atLeast("Reserve throughput, 64 clients", seriesEtcdCreate+", 64 clients", 2.0,
		at(seriesReserve, 64, s), at(seriesEtcdCreate, 64, s))

	// Latency is better when lower: the goal is a ceiling on the ratio.
	got, gs := p50(seriesReserve)
	ref, rs := p50(seriesBoltUpdate)
	ratio := 0.0
	if ref > 0 {
		ratio = got / ref
	}
	r.Goals = append(r.Goals, goal{Figure: "Reserve latency, 1 client",
		Reference: seriesBoltUpdate + ", 1 client", Measured: gs, RefValue: rs, Ratio: ratio,
		Goal: "≤ 1.3×", Met: got > 0 && ref > 0 && ratio <= 1.3})

	atLeast("Resolve throughput, 64 clients", seriesHealth+", 64 clients", 0.85,
		at(seriesResolve, 64, s), at(seriesHealth, 64, s))
	atLeast("Resolve throughput, 64 clients", seriesEtcdGet+", 64 clients", 3.0,
		at(seriesResolve, 64, s), at(seriesEtcdGet, 64, s))
	atLeast(fmt.Sprintf("Reserve throughput, %s stored", count(l)),
		fmt.Sprintf("the same with %s stored", count(s)), 0.8,
		at(seriesReserve, largeConcurrency, l), at(seriesReserve, largeConcurrency, s))
	atLeast(fmt.Sprintf("Resolve throughput, %s stored", count(l)),
		fmt.Sprintf("the same with %s stored", count(s)), 0.8,
		at(seriesResolve, largeConcurrency, l), at(seriesResolve, largeConcurrency, s))

	r.Goals = append(r.Goals,
		goal{Figure: fmt.Sprintf("disk per namespace, %s stored", count(l)), Reference: "—",
			Measured: fmt.Sprintf("%.0f bytes", r.BytesPerNamespace), RefValue: "—",
			Goal: "≤ 512 bytes", Met: r.BytesPerNamespace > 0 && r.BytesPerNamespace <= 512},
		goal{Figure: fmt.Sprintf("daemon start, %s stored", count(l)), Reference: "—",
			Measured: r.StartTime.Round(time.Millisecond).String(), RefValue: "—",
			Goal: "≤ 1s", Met: r.StartTime > 0 && r.StartTime <= time.Second})
}

// count writes 1000 as 1k and 1000000 as 1M.
func count(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 1_000 && n%1_000 == 0:
		return fmt.Sprintf("%dk", n/1_000)
	default:
		return fmt.Sprint(n)
	}
}

// markdown renders the goals table and every measurement.
func (r *report) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Run of %s on %s; %s per measurement%s.\n\n",
		r.Started.UTC().Format(time.RFC3339), r.Machine, r.Duration, map[bool]string{
			true: " (quick)", false: ""}[r.Quick])

	b.WriteString("| figure | measured | reference | reference value | ratio | goal | met |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- |\n")
	for _, g := range r.Goals {
		ratio, met := "—", "**no**"
		if g.Ratio > 0 {
			ratio = fmt.Sprintf("%.2f×", g.Ratio)
		}
		if g.Met {
			met = "yes"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", g.Figure, g.Measured,
			g.Reference, g.RefValue, ratio, g.Goal, met)
	}

	fmt.Fprintf(&b, "\nDaemon memory with %s stored: %.1f MiB resident, %.1f MiB at peak.\n\n",
		count(r.Large), float64(r.DaemonRSS)/(1<<20), float64(r.DaemonPeakRSS)/(1<<20))

	b.WriteString("| series | stored | clients | per second | p50 | p99 | failed |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- |\n")
	for _, m := range r.Measurements {
		fmt.Fprintf(&b, "| %s | %s | %d | %.0f | %s | %s | %d |\n", m.Series, count(m.Stored),
			m.Clients, m.Throughput, m.P50.Round(time.Microsecond),
			m.P99.Round(time.Microsecond), m.FailedTotal())
	}
	return b.String()
}

// write saves results.md, results.json and throughput.svg in dir and
// returns the Markdown.
func (r *report) write(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	md := r.markdown()
	raw, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", err
	}
	files := map[string][]byte{
		"results.md":     []byte(md),
		"results.json":   append(raw, '\n'),
		"throughput.svg": []byte(r.throughputSVG()),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return "", err
		}
	}
	return md, nil
}
