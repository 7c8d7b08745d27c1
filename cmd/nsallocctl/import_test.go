package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// appID returns the app id of generated app i: its first eight digits
// differ for each app, and so does its tag.
func appID(i int) string {
	return fmt.Sprintf("%08x-0000-4000-8000-%012x", i+1, i+1)
}

// importFile is a generated import file and what a first import of it
// into an empty store must report, worked out from how it was made.
type importFile struct {
	text        string
	rows        int
	groups      int    // distinct keys among usable names: one base name each
	groupRows   int    // rows with those names
	unusable    int    // rows with names of no usable characters or reserved
	duplicates  int    // rows repeating an earlier row's app
	bangID      string // the app named "!!!"
	failedLines []int
}

// generateImport makes an import file of n rows. Apps come in groups of one
// to three whose names fold to one key ("Qabc", "qabc", "qa-bc"), so each
// group gets one base name and tags for the rest; names with no usable
// characters and reserved names get tags; some rows repeat an app; and
// malformed rows of every kind are spread among them.
func generateImport(n int) importFile {
	var f importFile
	var lines []string
	next := 0 // app ids used so far
	newID := func() string { next++; return appID(next - 1) }

	malformed := []func() string{
		func() string { return "not-a-uuid,Name" },
		func() string { return newID() + "," },
		func() string { return newID() + ",a,b" },
		func() string { return newID() },
		func() string { return newID() + `,na"me` },
		func() string { return "00000000-0000-0000-0000-000000000000,Nil" },
		func() string { return ",No id" },
		func() string { return "9423dfaa-2bd8-43fa-bcd9-b0599ea44d5eXX,Long" },
	}
	const malformedRows, unusableRows, duplicateRows = 100, 60, 100
	var bad []string
	for i := range malformedRows {
		bad = append(bad, malformed[i%len(malformed)]())
	}
	unusableNames := []string{"!!!", "---", "日本語", "Admin", "wasi", "Spin"}
	f.bangID = appID(next)
	for i := range unusableRows {
		lines = append(lines, newID()+","+unusableNames[i%len(unusableNames)])
	}
	f.unusable = unusableRows

	var groupLines []string
	for g := 0; len(groupLines) < n-malformedRows-unusableRows-duplicateRows; g++ {
		word := fmt.Sprintf("q%c%c%c", 'a'+g/676%26, 'a'+g/26%26, 'a'+g%26)
		variants := []string{strings.ToUpper(word[:1]) + word[1:], word, word[:2] + "-" + word[2:]}
		size := min(g%3+1, n-malformedRows-unusableRows-duplicateRows-len(groupLines))
		for _, name := range variants[:size] {
			groupLines = append(groupLines, newID()+","+name)
		}
		f.groups++
	}
	f.groupRows = len(groupLines)
	lines = append(lines, groupLines...)
	for i := range duplicateRows {
		lines = append(lines, groupLines[i*37%len(groupLines)])
	}
	f.duplicates = duplicateRows

	// Shuffle the good rows, put the malformed ones in among them, and
	// number the lines: a header, and a blank line every thousand rows.
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(lines), func(i, j int) { lines[i], lines[j] = lines[j], lines[i] })
	for i, b := range bad {
		at := (i*97 + 13) % len(lines)
		lines = slices.Insert(lines, at, "\x00"+b)
	}
	var text strings.Builder
	text.WriteString("app_id,app_name\n")
	line := 1
	for i, l := range lines {
		if i%1000 == 999 {
			text.WriteString("\n")
			line++
		}
		line++
		if bad, ok := strings.CutPrefix(l, "\x00"); ok {
			f.failedLines = append(f.failedLines, line)
			l = bad
		}
		text.WriteString(l + "\n")
	}
	f.text = text.String()
	f.rows = len(lines)
	return f
}

// failedLines returns the lines of a report's failures.
func failedLines(rep importReport) []int {
	var got []int
	for _, f := range rep.Failures {
		got = append(got, f.Line)
	}
	return got
}

// checkCounts compares a report's counts with the wanted ones.
func checkCounts(t *testing.T, got importReport, rows, base, tagged, existing, failed int) {
	t.Helper()
	if got.Rows != rows || got.Base != base || got.Tagged != tagged ||
		got.Existing != existing || got.Failed != failed {
		t.Errorf("got rows %d, base %d, tagged %d, existing %d, failed %d; "+
			"want %d, %d, %d, %d, %d", got.Rows, got.Base, got.Tagged, got.Existing,
			got.Failed, rows, base, tagged, existing, failed)
	}
	if sum := got.Base + got.Tagged + got.Existing + got.Failed; sum != got.Rows {
		t.Errorf("base+tagged+existing+failed = %d, want rows, %d", sum, got.Rows)
	}
}

// countNamespaces lists the daemon's namespaces through nsallocctl.
func countNamespaces(t *testing.T, addr string) int {
	t.Helper()
	r := ctl(t, invocation{}, "--addr", addr, "list", "-o", "json")
	if r.code != exitOK {
		t.Fatalf("list: exit code %d; stderr:\n%s", r.code, r.stderr)
	}
	return len(decode[[]namespaceJSON](t, r))
}

func TestImport(t *testing.T) {
	f := generateImport(10_000)
	if f.rows != 10_000 {
		t.Fatalf("generated %d rows, want 10000", f.rows)
	}
	path := filepath.Join(t.TempDir(), "apps.csv")
	if err := os.WriteFile(path, []byte(f.text), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t)
	good := f.rows - len(f.failedLines)
	importJSON := func(t *testing.T, extra ...string) (importReport, ctlRun) {
		t.Helper()
		args := append([]string{"--addr", d.Addr(), "-o", "json", "import", path}, extra...)
		r := ctl(t, invocation{}, args...)
		if r.code != exitError {
			t.Errorf("got exit code %d, want %d for the malformed rows; stderr:\n%s",
				r.code, exitError, r.stderr)
		}
		rep := decode[importReport](t, r)
		if got := failedLines(rep); !slices.Equal(got, f.failedLines) {
			t.Errorf("got failed lines %v, want %v", got, f.failedLines)
		}
		return rep, r
	}

	t.Run("dry run on an empty store", func(t *testing.T) {
		rep, _ := importJSON(t, "--dry-run")

		// Rows of one file do not see each other in a dry run: every
		// usable name would get its base name.
		checkCounts(t, rep, f.rows, f.groupRows+f.duplicates, f.unusable, 0,
			len(f.failedLines))
		if !rep.DryRun || len(rep.Apps) != good {
			t.Errorf("got dry_run %v and %d apps, want true and %d", rep.DryRun,
				len(rep.Apps), good)
		}
		if n := countNamespaces(t, d.Addr()); n != 0 {
			t.Errorf("a dry run left %d namespaces, want 0", n)
		}
	})

	t.Run("first run", func(t *testing.T) {
		rep, r := importJSON(t)

		checkCounts(t, rep, f.rows, f.groups, f.groupRows-f.groups+f.unusable, f.duplicates,
			len(f.failedLines))
		if !strings.Contains(r.stderr, "import: 10000 rows: ") {
			t.Errorf("stderr lacks the progress line of 10000 rows:\n%.2000s", r.stderr)
		}
		if n := countNamespaces(t, d.Addr()); n != rep.Base+rep.Tagged {
			t.Errorf("got %d namespaces, want %d, one for each created", n,
				rep.Base+rep.Tagged)
		}
	})

	t.Run("second run", func(t *testing.T) {
		rep, _ := importJSON(t)

		checkCounts(t, rep, f.rows, 0, 0, good, len(f.failedLines))
		if n := countNamespaces(t, d.Addr()); n != f.rows-len(f.failedLines)-f.duplicates {
			t.Errorf("got %d namespaces after the second run, want %d unchanged", n,
				f.rows-len(f.failedLines)-f.duplicates)
		}
	})

	t.Run("dry run on a full store", func(t *testing.T) {
		rep, _ := importJSON(t, "--dry-run")
		checkCounts(t, rep, f.rows, 0, 0, good, len(f.failedLines))
	})

	t.Run("names of no usable characters", func(t *testing.T) {
		r := ctl(t, invocation{}, "--addr", d.Addr(), "resolve", f.bangID, "-o", "json")
		got := decode[namespaceJSON](t, r)
		if got.AppName != "!!!" || got.Name != "app-x"+f.bangID[:8] {
			t.Errorf("got %+v, want app-x and the id's first 8 digits for \"!!!\"", got)
		}
	})
}

func TestImportJSONLinesFromStdin(t *testing.T) {
	d := startDaemon(t)
	input := strings.Join([]string{
		`{"app_id": "` + appMath + `", "app_name": "Math"}`,
		``,
		`{"app_id": "` + appMath2 + `", "app_name": "math"}`,
		`{"app_id": "` + appOther + `"}`,
		`{"app_id": "` + appUnknown + `", "app_name": "Graph"`,
		`app_id,app_name`,
		`{"app_id": "` + appUnknown + `", "app_name": "bell\u0007"}`,
	}, "\n")

	r := ctl(t, invocation{stdin: input}, "--addr", d.Addr(), "import", "-")

	if r.code != exitError {
		t.Errorf("got exit code %d, want %d; stderr:\n%s", r.code, exitError, r.stderr)
	}
	for _, want := range []string{
		"rows         6", "base name    1", "tagged name  1", "failed       4",
		"4     " + appOther + "  missing app_name",
		"5     -", "bad JSON",
		"6     -", "bad JSON",
		"7     " + appUnknown + "  InvalidArgument: app_name",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("report lacks %q:\n%s", want, r.stdout)
		}
	}

	t.Run("all good", func(t *testing.T) {
		r := ctl(t, invocation{stdin: input[:strings.Index(input, "\n\n")]}, "--addr",
			d.Addr(), "import", "-", "-o", "json")
		if r.code != exitOK {
			t.Errorf("got exit code %d, want 0; stderr:\n%s", r.code, r.stderr)
		}
		checkCounts(t, decode[importReport](t, r), 1, 0, 0, 1, 0)
	})
}

// TestImportInterrupted stops an import with SIGINT while it waits for
// more input, and runs it again on the whole file.
func TestImportInterrupted(t *testing.T) {
	d := startDaemon(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var all strings.Builder
	for i := range 3000 {
		fmt.Fprintf(&all, "%s,App %c%c%c\n", appID(i), 'a'+i/676%26, 'a'+i/26%26, 'a'+i%26)
	}
	firstHalf := all.String()[:strings.Index(all.String(), appID(1500))]

	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "nsallocctl"), "--addr", d.Addr(),
		"-o", "json", "import", "-", "--progress-every", "500")
	cmd.Env = cleanEnv()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = stdin.Close() }()

	// Once the progress says the rows written are done, the import waits
	// for more input: interrupt it there.
	reached := make(chan struct{})
	logged := make(chan string)
	go func() {
		var log strings.Builder
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
			if strings.HasPrefix(sc.Text(), "import: 1500 rows") {
				close(reached)
			}
		}
		logged <- log.String()
	}()
	if _, err := io.WriteString(stdin, firstHalf); err != nil {
		t.Fatal(err)
	}
	select {
	case <-reached:
	case <-ctx.Done():
		t.Fatal("the import did not report 1500 rows")
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	log := <-logged
	err = cmd.Wait()

	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != exitError {
		t.Errorf("got %v, want exit code %d; stderr:\n%s", err, exitError, log)
	}
	rep := decode[importReport](t, ctlRun{stdout: stdout.String()})
	if !rep.Interrupted {
		t.Errorf("the report does not say it was interrupted: %+v", rep)
	}
	checkCounts(t, rep, 1500, 1500, 0, 0, 0)

	again := ctl(t, invocation{stdin: all.String()}, "--addr", d.Addr(), "-o", "json",
		"import", "-")
	if again.code != exitOK {
		t.Errorf("second run: got exit code %d, want 0; stderr:\n%s", again.code,
			again.stderr)
	}
	checkCounts(t, decode[importReport](t, again), 3000, 1500, 0, 1500, 0)
}

// TestImportUnreachable imports into a closed port: the import stops
// after the calls in flight and exits with 5.
func TestImportUnreachable(t *testing.T) {
	var input strings.Builder
	for i := range 200 {
		fmt.Fprintf(&input, "%s,App\n", appID(i))
	}
	for _, format := range []string{formatTable, formatJSON} {
		t.Run(format, func(t *testing.T) {
			r := ctl(t, invocation{stdin: input.String()}, "--addr", closedAddr(t),
				"--timeout", "300ms", "-o", format, "import", "-", "--concurrency", "4")

			if r.code != exitUnreachable {
				t.Errorf("got exit code %d, want %d; stderr:\n%s", r.code, exitUnreachable,
					r.stderr)
			}
			if format == formatTable {
				if !strings.Contains(r.stdout, "unreachable  yes") {
					t.Errorf("report does not say unreachable:\n%s", r.stdout)
				}
				return
			}
			rep := decode[importReport](t, r)
			if !rep.Unreachable || rep.Failed == 0 || rep.Failed != rep.Rows || rep.Rows > 20 {
				t.Errorf("got %+v; want unreachable, a few rows, all failed", rep)
			}
		})
	}
}

func TestRowReader(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  []string // "line id name" or "line id !error"
	}{
		{"csv with header", "app_id,app_name\n" + appMath + ",Math\n",
			[]string{"2 " + appMath + " Math"}},
		{"csv without header, blank lines", "\n" + appMath + ", Math \n\n",
			[]string{"2 " + appMath + " Math"}},
		{"byte order mark", "\ufeffapp_id,app_name\n" + appMath + ",Math\n",
			[]string{"2 " + appMath + " Math"}},
		{"quoted comma", appMath + `,"Math, Inc."`, []string{"1 " + appMath + " Math, Inc."}},
		{"header only first", "app_id,app_name\napp_id,app_name\n",
			[]string{`2 app_id !app_id "app_id": not a UUID`}},
		{"field count", appMath + ",a,b\n" + appMath + "\n",
			[]string{"1 " + appMath + " !3 fields", "2 " + appMath + " !1 fields"}},
		{"bare quote", `x,y"z`, []string{"1  !bad CSV"}},
		{"missing name", appMath + ",  \n", []string{"1 " + appMath + " !missing app_name"}},
		{"json lines", `{"app_id":"` + appMath + `","app_name":"Math","extra":1}` + "\n" +
			`{"app_name":"Math"}` + "\n" + "nope\n",
			[]string{"1 " + appMath + " Math", "2  !missing app_id", "3  !bad JSON"}},
		{"long line", appMath + "," + strings.Repeat("a", maxLineBytes) + "\n" + appMath +
			",Math", []string{"1  !line longer", "2 " + appMath + " Math"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rr := newRowReader(strings.NewReader(tt.input))
			var got []string
			for {
				r, err := rr.next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("next: %v", err)
				}
				s := fmt.Sprintf("%d %s %s", r.line, r.appID, r.appName)
				if r.err != nil {
					s = fmt.Sprintf("%d %s !%v", r.line, r.appID, r.err)
				}
				got = append(got, s)
			}

			if len(got) != len(tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tt.want[i]) {
					t.Errorf("row %d: got %q, want %q…", i, got[i], tt.want[i])
				}
			}
		})
	}
}
