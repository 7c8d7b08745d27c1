package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nsalloc/nsalloc/client"
	"github.com/nsalloc/nsalloc/naming"
)

// Retries of a row whose call the server shed or rate-limited: the client
// leaves those to its caller.
const (
	busyAttempts    = 10
	busyFirstWait   = 50 * time.Millisecond
	busyLongestWait = 2 * time.Second
)

// outcome is what became of one row.
type outcome int

const (
	outcomeFailed   outcome = iota
	outcomeBase             // a new namespace with the base name
	outcomeTagged           // a new namespace with a tag
	outcomeExisting         // the namespace the app already had
)

// String names the outcome as the report does.
func (o outcome) String() string {
	return [...]string{"failed", "base", "tagged", "existing"}[o]
}

// result is what became of one row.
type result struct {
	row       row
	namespace string
	outcome   outcome
	err       error
}

// importReport is the report of an import, its JSON the document that
// import writes with -o json.
type importReport struct {
	DryRun      bool `json:"dry_run"`
	Rows        int  `json:"rows"`
	Base        int  `json:"base"`
	Tagged      int  `json:"tagged"`
	Existing    int  `json:"existing"`
	Failed      int  `json:"failed"`
	Interrupted bool `json:"interrupted"`
	Unreachable bool `json:"unreachable"`
	// ReadError is why the file could not be read to its end.
	ReadError string `json:"read_error,omitempty"`
	// Failures are the failed rows in line order.
	Failures []rowFailure `json:"failures"`
	// Apps are, for a dry run, what each row would get, in line order.
	Apps []rowPreview `json:"apps,omitempty"`
}

// rowFailure is one failed row.
type rowFailure struct {
	Line   int    `json:"line"`
	AppID  string `json:"app_id"`
	Reason string `json:"reason"`
}

// rowPreview is what a dry run found for one row that did not fail.
type rowPreview struct {
	Line      int    `json:"line"`
	AppID     string `json:"app_id"`
	AppName   string `json:"app_name"`
	Namespace string `json:"namespace"`
	Outcome   string `json:"outcome"`
}

// add counts one result.
func (rep *importReport) add(res result) {
	rep.Rows++
	switch res.outcome {
	case outcomeBase:
		rep.Base++
	case outcomeTagged:
		rep.Tagged++
	case outcomeExisting:
		rep.Existing++
	case outcomeFailed:
		rep.Failed++
		rep.Failures = append(rep.Failures, rowFailure{
			Line: res.row.line, AppID: res.row.appID, Reason: reason(res.err),
		})
		if isUnreachable(res.err) {
			rep.Unreachable = true
		}
	}
	if rep.DryRun && res.outcome != outcomeFailed {
		rep.Apps = append(rep.Apps, rowPreview{
			Line: res.row.line, AppID: res.row.appID, AppName: res.row.appName,
			Namespace: res.namespace, Outcome: res.outcome.String(),
		})
	}
}

// reason words a row's failure: the server's message and code, without the
// client's prefix.
func reason(err error) string {
	var e *client.Error
	if errors.As(err, &e) {
		return fmt.Sprintf("%s: %s", e.Code, e.Message)
	}
	return err.Error()
}

// importApps reserves, or with --dry-run previews, the apps of a file.
func (a *app) importApps(ctx context.Context, args []string) error {
	flags := a.flagSet("import")
	dryRun := flags.Bool("dry-run", false, "preview each app instead of reserving it")
	concurrency := flags.Int("concurrency", 16, "calls in flight at most")
	every := flags.Int("progress-every", 1000,
		"when standard error is no terminal, a progress line every `N` rows")
	pos, err := a.parse(flags, args, 1, 1)
	if err != nil {
		return err
	}
	if *concurrency < 1 || *every < 1 {
		return usagef("import: --concurrency and --progress-every must be at least 1")
	}
	in, total, err := a.openInput(pos[0])
	if err != nil {
		return err
	}
	defer func() { _ = in.Close() }()
	c, err := a.g.dial()
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()

	im := importer{c: c, dryRun: *dryRun, concurrency: *concurrency,
		progress: newProgress(a.stderr, total, *every)}
	rep := im.run(ctx, newRowReader(in))

	if err := a.emitReport(rep); err != nil {
		return err
	}
	return reportError(rep)
}

// openInput opens the file to import, "-" for standard input. On a
// terminal it also counts the file's lines, for the progress bar; total is
// 0 when unknown.
func (a *app) openInput(name string) (in io.ReadCloser, total int, err error) {
	if name == "-" {
		return io.NopCloser(a.stdin), 0, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, 0, fmt.Errorf("import: %w", err)
	}
	if isTerminal(a.stderr) {
		total = countLines(f)
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			_ = f.Close()
			return nil, 0, fmt.Errorf("import: %w", err)
		}
	}
	return f, total, nil
}

// reportError returns the error an import ends with: none when every row
// was imported; exit code 5 when the server was unreachable, 1 otherwise.
func reportError(rep importReport) error {
	var problems []string
	if rep.Failed > 0 {
		problems = append(problems, fmt.Sprintf("%d of %d rows failed", rep.Failed, rep.Rows))
	}
	if rep.ReadError != "" {
		problems = append(problems, "reading stopped: "+rep.ReadError)
	}
	if rep.Interrupted {
		problems = append(problems, "interrupted; run it again to go on")
	}
	if len(problems) == 0 {
		return nil
	}
	err := errors.New("import: " + strings.Join(problems, "; "))
	if rep.Unreachable {
		return codedError{code: exitUnreachable, err: err}
	}
	return codedError{code: exitError, err: err}
}

// importer runs the rows of one file through the service.
type importer struct {
	c           *client.Client
	dryRun      bool
	concurrency int
	progress    *progress
}

// run imports every row rr reads and returns the report. When ctx ends,
// or the server turns out unreachable, it sends no more rows, waits for
// the calls in flight, and reports what was done.
func (im *importer) run(ctx context.Context, rr *rowReader) importReport {
	rep := importReport{DryRun: im.dryRun, Failures: []rowFailure{}}

	// Rows are read in a goroutine of their own, so that a stop is noticed
	// even while standard input has nothing to give.
	feedCtx, stopFeeding := context.WithCancel(ctx)
	defer stopFeeding()
	read := make(chan row)
	var readErr error
	go func() {
		defer close(read)
		readErr = readAll(feedCtx, rr, read)
	}()

	// Calls in flight finish after a stop: their context is not ctx.
	callCtx := context.WithoutCancel(ctx)
	rows := make(chan row)
	results := make(chan result)
	var workers sync.WaitGroup
	for range im.concurrency {
		workers.Go(func() {
			for r := range rows {
				results <- im.handle(callCtx, ctx, r)
			}
		})
	}
	go func() {
		workers.Wait()
		close(results)
	}()

	var interrupted bool
	go func() {
		defer close(rows)
		interrupted = feed(feedCtx, read, rows)
	}()

	for res := range results {
		rep.add(res)
		if isUnreachable(res.err) {
			stopFeeding()
		}
		im.progress.update(&rep)
	}
	im.progress.done(&rep)

	// Once results is closed, the feeder has finished; the reader may
	// still wait on its input after a stop, and is left to the exit.
	rep.Interrupted = interrupted && !rep.Unreachable
	if !interrupted && readErr != nil && !errors.Is(readErr, io.EOF) {
		rep.ReadError = readErr.Error()
	}
	slices.SortFunc(rep.Failures, func(x, y rowFailure) int { return x.Line - y.Line })
	slices.SortFunc(rep.Apps, func(x, y rowPreview) int { return x.Line - y.Line })
	return rep
}

// readAll sends every row of rr to out until the input ends or ctx does,
// and returns why it stopped.
func readAll(ctx context.Context, rr *rowReader, out chan<- row) error {
	for {
		r, err := rr.next()
		if err != nil {
			return err
		}
		select {
		case out <- r:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// feed passes rows from read to rows until read is closed or ctx ends, and
// reports whether ctx ended first.
func feed(ctx context.Context, read <-chan row, rows chan<- row) bool {
	for {
		var r row
		var ok bool
		select {
		case r, ok = <-read:
			if !ok {
				return false
			}
		case <-ctx.Done():
			return true
		}
		select {
		case rows <- r:
		case <-ctx.Done():
			return true
		}
	}
}

// handle imports one row. callCtx carries the calls; stop ends the waits
// between retries of a busy server.
func (im *importer) handle(callCtx, stop context.Context, r row) result {
	if r.err != nil {
		return result{row: r, err: r.err}
	}
	if im.dryRun {
		return im.preview(callCtx, stop, r)
	}

	var ns client.Namespace
	var created bool
	err := retryBusy(stop, func() (err error) {
		ns, created, err = im.c.Reserve(callCtx, r.appID, r.appName)
		return err
	})

	res := result{row: r, namespace: ns.Name, err: err}
	base, _ := naming.Base(r.appName)
	switch {
	case err != nil:
		res.outcome = outcomeFailed
	case !created:
		res.outcome = outcomeExisting
	case ns.Name == base:
		res.outcome = outcomeBase
	default:
		res.outcome = outcomeTagged
	}
	return res
}

// preview finds out what Reserve would do with one row.
func (im *importer) preview(callCtx, stop context.Context, r row) result {
	var p client.Preview
	err := retryBusy(stop, func() (err error) {
		p, err = im.c.Preview(callCtx, r.appName, r.appID)
		return err
	})

	res := result{row: r, namespace: p.Namespace, err: err}
	switch {
	case err != nil:
		res.outcome = outcomeFailed
	case p.Existing.State == client.StateRetired:
		res.outcome = outcomeFailed
		res.err = fmt.Errorf("app was released; its namespace %q is retired", p.Existing.Name)
	case p.Existing.Name != "":
		res.outcome, res.namespace = outcomeExisting, p.Existing.Name
	case p.Namespace == "":
		res.outcome = outcomeFailed
		res.err = errors.New("the base name and every tagged name are taken")
	case p.Namespace == p.BaseName:
		res.outcome = outcomeBase
	default:
		res.outcome = outcomeTagged
	}
	return res
}

// retryBusy runs call, and runs it again after a growing wait while the
// server sheds it or rate-limits the caller, until stop ends.
func retryBusy(stop context.Context, call func() error) error {
	wait := busyFirstWait
	for attempt := 1; ; attempt++ {
		err := call()
		busy := errors.Is(err, client.ErrOverloaded) || errors.Is(err, client.ErrRateLimited)
		if !busy || attempt == busyAttempts {
			return err
		}

		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
		case <-stop.Done():
			timer.Stop()
			return err
		}
		wait = min(2*wait, busyLongestWait)
	}
}

// emitReport writes the report of an import.
func (a *app) emitReport(rep importReport) error {
	return a.emit(rep, func(w io.Writer) {
		verb := ""
		if rep.DryRun {
			verb = "would get "
		}
		fmt.Fprintf(w, "rows\t%d\n", rep.Rows)
		fmt.Fprintf(w, "%sbase name\t%d\n", verb, rep.Base)
		fmt.Fprintf(w, "%stagged name\t%d\n", verb, rep.Tagged)
		fmt.Fprintf(w, "existing\t%d\n", rep.Existing)
		fmt.Fprintf(w, "failed\t%d\n", rep.Failed)
		if rep.Interrupted {
			fmt.Fprintf(w, "interrupted\tyes: rows after these were not sent\n")
		}
		if rep.Unreachable {
			fmt.Fprintf(w, "unreachable\tyes: the server stopped answering\n")
		}
		if rep.ReadError != "" {
			fmt.Fprintf(w, "read error\t%s\n", rep.ReadError)
		}
		if len(rep.Apps) > 0 {
			fmt.Fprintf(w, "\nLINE\tAPP ID\tAPP NAME\tNAMESPACE\tOUTCOME\n")
			for _, p := range rep.Apps {
				fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\n", p.Line, p.AppID, p.AppName,
					p.Namespace, p.Outcome)
			}
		}
		if len(rep.Failures) > 0 {
			fmt.Fprintf(w, "\nLINE\tAPP ID\tREASON\n")
			for _, f := range rep.Failures {
				fmt.Fprintf(w, "%d\t%s\t%s\n", f.Line, orDash(f.AppID), f.Reason)
			}
		}
	})
}
