// Package daemon builds and runs nsallocd processes for the tests, drills and
// benchmarks that need the real binary rather than a server in their own
// process.
package daemon

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// StartTimeout is how long Start waits for the daemon to say it serves.
const StartTimeout = 30 * time.Second

// Build compiles ./cmd/nsallocd of the module rooted at root into
// dir/nsallocd and returns the binary's path.
func Build(root, dir string) (string, error) {
	bin := filepath.Join(dir, "nsallocd")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/nsallocd")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/nsallocd: %v\n%s", err, out)
	}
	return bin, nil
}

// Process is one running nsallocd.
type Process struct {
	cmd         *exec.Cmd
	addr        string
	debugAddr   string
	metricsAddr string

	// Started is when the process was started; Serving is when it logged
	// that it serves.
	Started, Serving time.Time

	mu   sync.Mutex   // guards logs
	logs bytes.Buffer // everything the process wrote to stderr

	exited chan struct{} // closed when the process has exited
	err    error         // Wait's result, set before exited closes
}

// Start runs bin with args plus JSON logs, and waits until the daemon logs
// the address it serves on. args must include --listen and --db.
func Start(bin string, args ...string) (*Process, error) {
	p := &Process{
		cmd:    exec.Command(bin, append(args, "--log-format", "json")...),
		exited: make(chan struct{}),
	}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	p.Started = time.Now()
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}

	// Wait closes the pipe, so it must not run before the log is read to
	// its end, or the last lines would be lost.
	serving := make(chan servingLine, 1)
	logsRead := make(chan struct{})
	go func() {
		p.readLogs(stderr, serving)
		close(logsRead)
	}()
	go func() {
		<-logsRead
		p.err = p.cmd.Wait()
		close(p.exited)
	}()

	select {
	case line := <-serving:
		p.addr, p.debugAddr, p.metricsAddr = line.Address, line.DebugAddress, line.MetricsAddress
		p.Serving = time.Now()
		return p, nil
	case <-p.exited:
		return nil, fmt.Errorf("nsallocd exited before serving: %v\n%s", p.err, p.Logs())
	case <-time.After(StartTimeout):
		_ = p.Kill()
		return nil, fmt.Errorf("nsallocd did not serve within %s:\n%s", StartTimeout, p.Logs())
	}
}

// servingLine is what the daemon's "serving" log line says.
type servingLine struct {
	Msg            string `json:"msg"`
	Address        string `json:"address"`
	DebugAddress   string `json:"debug_address"`
	MetricsAddress string `json:"metrics_address"`
}

// readLogs keeps the daemon's log and reports its "serving" line.
func (p *Process) readLogs(r io.Reader, serving chan<- servingLine) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		p.mu.Lock()
		p.logs.Write(line)
		p.logs.WriteByte('\n')
		p.mu.Unlock()

		var entry servingLine
		if json.Unmarshal(line, &entry) == nil && entry.Msg == "serving" {
			serving <- entry
		}
	}

	// A line too long to scan ends the loop; keep draining so that the
	// daemon never blocks on a full pipe.
	_, _ = io.Copy(io.Discard, r)
}

// Addr is the gRPC address the daemon serves on.
func (p *Process) Addr() string { return p.addr }

// DebugAddr is the address of the daemon's /debug/pprof/ endpoint; empty
// unless it was started with --debug-listen.
func (p *Process) DebugAddr() string { return p.debugAddr }

// MetricsAddr is the address of the daemon's Prometheus /metrics endpoint;
// empty unless it was started with --metrics-listen.
func (p *Process) MetricsAddr() string { return p.metricsAddr }

// PID is the daemon's process id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Logs returns everything the daemon has logged so far.
func (p *Process) Logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// Exited is closed once the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Kill ends the process with SIGKILL, as a crash would, and waits for it.
func (p *Process) Kill() error {
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	<-p.exited
	return nil
}

// Signal sends sig to the process and returns at once, for a signal such
// as SIGHUP that the daemon handles without exiting.
func (p *Process) Signal(sig os.Signal) error {
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("signal %v: %w", sig, err)
	}
	return nil
}

// Stop sends sig and waits up to timeout for a clean exit.
func (p *Process) Stop(sig os.Signal, timeout time.Duration) error {
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("signal %v: %w", sig, err)
	}
	select {
	case <-p.exited:
	case <-time.After(timeout):
		_ = p.Kill()
		return fmt.Errorf("nsallocd did not stop within %s of %v:\n%s", timeout, sig, p.Logs())
	}
	if p.err != nil {
		return fmt.Errorf("nsallocd exited with %v:\n%s", p.err, p.Logs())
	}
	return nil
}

// RSS returns the daemon's resident memory and its peak so far, in bytes,
// as Linux reports them in /proc/PID/status.
func (p *Process) RSS() (current, peak int64, err error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.PID()))
	if err != nil {
		return 0, 0, err
	}
	current, err = statusKiB(status, "VmRSS:")
	if err != nil {
		return 0, 0, err
	}
	peak, err = statusKiB(status, "VmHWM:")
	return current, peak, err
}

// statusKiB reads one "Name:   123 kB" line of /proc/PID/status, in bytes.
func statusKiB(status []byte, field string) (int64, error) {
	for line := range strings.Lines(string(status)) {
		rest, ok := strings.CutPrefix(line, field)
		if !ok {
			continue
		}
		kib, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc status %s %q: %w", field, rest, err)
		}
		return kib << 10, nil
	}
	return 0, fmt.Errorf("/proc status has no %s line", field)
}

// Goroutines asks the daemon's debug endpoint how many goroutines it runs.
func (p *Process) Goroutines() (int, error) {
	if p.debugAddr == "" {
		return 0, errors.New("nsallocd was started without --debug-listen")
	}
	resp, err := http.Get("http://" + p.debugAddr + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		return 0, err
	}
	defer func() { _ = resp.Body.Close() }()

	// The profile's first line reads "goroutine profile: total N".
	first, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil {
		return 0, fmt.Errorf("read goroutine profile: %w", err)
	}
	total, ok := strings.CutPrefix(strings.TrimSpace(first), "goroutine profile: total ")
	if !ok {
		return 0, fmt.Errorf("goroutine profile starts %q", first)
	}
	return strconv.Atoi(total)
}

// RunWithBinaries is the body of a TestMain whose tests run binaries: it
// makes a temporary directory, has build put the binaries there, runs the
// tests, removes the directory, and returns the exit code for os.Exit.
func RunWithBinaries(m interface{ Run() int }, build func(dir string) error) int {
	dir, err := os.MkdirTemp("", "nsalloc-test-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = os.RemoveAll(dir) }()

	if err := build(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}
