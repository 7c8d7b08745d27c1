package main

import (
	"fmt"
	"html"
	"math"
	"slices"
	"strings"
)

// Chart geometry, in SVG user units.
const (
	chartWidth   = 760
	chartHeight  = 420
	plotLeft     = 70
	plotRight    = 500
	plotTop      = 30
	plotBottom   = 370
	legendLeft   = 520
	legendLineDY = 22
)

// seriesColors gives each plotted series a color, in plotting order.
var seriesColors = []string{
	"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
}

// throughputSVG draws throughput against concurrency, one line a series, for
// the measurements on the small store. Concurrency is on a log scale.
func (r *report) throughputSVG() string {
	// Gather the points of every series measured at more than one
	// concurrency.
	points := map[string]map[int]float64{}
	var order []string
	for _, m := range r.Measurements {
		if m.Stored != r.Small || m.Clients == 0 {
			continue
		}
		if points[m.Series] == nil {
			points[m.Series] = map[int]float64{}
			order = append(order, m.Series)
		}
		points[m.Series][m.Clients] = m.Throughput
	}
	order = slices.DeleteFunc(order, func(s string) bool { return len(points[s]) < 2 })

	var clients []int
	top := 0.0
	for _, s := range order {
		for c, v := range points[s] {
			if !slices.Contains(clients, c) {
				clients = append(clients, c)
			}
			top = max(top, v)
		}
	}
	slices.Sort(clients)
	top = niceCeiling(top)

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" `+
		`font-family="sans-serif" font-size="12">`+"\n", chartWidth, chartHeight)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="18" font-size="14">Throughput (calls/s) by concurrent `+
		`clients, %s stored</text>`+"\n", plotLeft, count(r.Small))

	// Axes, grid and labels.
	x := func(c int) float64 { return xPosition(clients, c) }
	y := func(v float64) float64 {
		return plotBottom - v/math.Max(top, 1)*(plotBottom-plotTop)
	}
	for i := 0; i <= 5; i++ {
		v := top * float64(i) / 5
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`+"\n",
			plotLeft, y(v), plotRight, y(v))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%.0f</text>`+"\n",
			plotLeft-6, y(v)+4, v)
	}
	for _, c := range clients {
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%d</text>`+"\n",
			x(c), plotBottom+18, c)
	}
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n",
		plotLeft, plotBottom, plotRight, plotBottom)
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n",
		plotLeft, plotTop, plotLeft, plotBottom)
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">concurrent clients</text>`+"\n",
		(plotLeft+plotRight)/2, plotBottom+40)

	// One line and a legend entry a series.
	for i, s := range order {
		color := seriesColors[i%len(seriesColors)]
		var coords []string
		for _, c := range clients {
			if v, ok := points[s][c]; ok {
				coords = append(coords, fmt.Sprintf("%.1f,%.1f", x(c), y(v)))
			}
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n",
			color, strings.Join(coords, " "))
		for _, xy := range coords {
			cx, cy, _ := strings.Cut(xy, ",")
			fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="3" fill="%s"/>`+"\n", cx, cy, color)
		}
		ly := plotTop + 10 + i*legendLineDY
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"/>`+
			"\n", legendLeft, ly, legendLeft+20, ly, color)
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`+"\n", legendLeft+26, ly+4,
			html.EscapeString(s))
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// xPosition spaces the concurrencies by their logarithm across the plot.
func xPosition(clients []int, c int) float64 {
	if len(clients) < 2 {
		return (plotLeft + plotRight) / 2
	}
	lo, hi := math.Log2(float64(clients[0])), math.Log2(float64(clients[len(clients)-1]))
	return plotLeft + 20 + (math.Log2(float64(c))-lo)/(hi-lo)*(plotRight-plotLeft-40)
}

// niceCeiling rounds v up to 1, 2 or 5 times a power of ten.
func niceCeiling(v float64) float64 {
	if v <= 0 {
		return 1
	}
	scale := math.Pow(10, math.Floor(math.Log10(v)))
	for _, step := range []float64{1, 2, 5, 10} {
		if v <= step*scale {
			return step * scale
		}
	}
	return 10 * scale
}
