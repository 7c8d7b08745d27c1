package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// barRedraw is how often the progress bar is drawn at most.
const barRedraw = 100 * time.Millisecond

// barWidth is the number of cells of the progress bar.
const barWidth = 30

// progress shows how far an import is: a bar redrawn in place on a
// terminal, otherwise a line every so many rows. Only the goroutine that
// counts the results calls it.
type progress struct {
	w     io.Writer
	tty   bool
	total int // lines in the file, 0 when unknown
	every int
	drawn time.Time
	dirty bool
}

// newProgress returns the progress of an import that writes to w.
func newProgress(w io.Writer, total, every int) *progress {
	return &progress{w: w, tty: isTerminal(w), total: total, every: every}
}

// update shows the counts of rep after one more row.
func (p *progress) update(rep *importReport) {
	if !p.tty {
		if rep.Rows%p.every == 0 {
			fmt.Fprintf(p.w, "import: %s\n", counts(rep))
		}
		return
	}
	p.dirty = true
	if time.Since(p.drawn) >= barRedraw {
		p.draw(rep)
	}
}

// done shows the final counts and ends the bar's line.
func (p *progress) done(rep *importReport) {
	if p.tty && p.dirty {
		p.draw(rep)
		fmt.Fprintln(p.w)
	}
}

// draw redraws the bar in place.
func (p *progress) draw(rep *importReport) {
	bar := ""
	if p.total > 0 {
		filled := min(barWidth, rep.Rows*barWidth/p.total)
		bar = fmt.Sprintf("[%s%s] ", strings.Repeat("=", filled),
			strings.Repeat(" ", barWidth-filled))
	}
	// \r returns to the line's start and \x1b[K clears what is left of it.
	fmt.Fprintf(p.w, "\r%simport: %s\x1b[K", bar, counts(rep))
	p.drawn = time.Now()
}

// counts words the counts of a report for a progress line.
func counts(rep *importReport) string {
	return fmt.Sprintf("%d rows: %d base, %d tagged, %d existing, %d failed",
		rep.Rows, rep.Base, rep.Tagged, rep.Existing, rep.Failed)
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

// countLines counts the lines of r, for the length of the progress bar.
func countLines(r io.Reader) int {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLineBytes+1)
	n := 0
	for sc.Scan() {
		n++
	}
	return n
}
