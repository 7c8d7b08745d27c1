// Command nsallocbench measures nsalloc beside its references in one run on
// one machine, and reports every figure of the design's goals table.
//
// It starts the real nsallocd binary on loopback and drives it with gRPC
// clients; the references run in the same run: a health check on the same
// server, the same writes through raw bbolt, and a single-node etcd embedded
// in this process. It writes results.md (the goals table and every
// measurement), results.json (the raw numbers) and throughput.svg
// (throughput against concurrency) to -out.
//
//	make bench            # the full run, 1M namespaces for the scale figures
//	make bench QUICK=1    # about a minute, 100k namespaces
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}

// config is what the flags select.
type config struct {
	daemon   string        // the nsallocd binary
	out      string        // directory for the results
	duration time.Duration // how long each measurement runs
	warmup   time.Duration // how long each runs unmeasured first
	clients  []int         // concurrencies to measure at
	small    int           // namespaces stored for the main measurements
	large    int           // namespaces stored for the scale figures
	quick    bool
	profile  string // directory for CPU profiles of the daemon; empty for none
	cache    string // directory keeping seeded stores between runs; empty for none
}

func parseConfig(args []string, usage io.Writer) (config, error) {
	fs := flag.NewFlagSet("nsallocbench", flag.ContinueOnError)
	fs.SetOutput(usage)
	var c config
	var clients string
	fs.StringVar(&c.daemon, "daemon", "bin/nsallocd", "the nsallocd binary to measure")
	fs.StringVar(&c.out, "out", "bin/bench", "directory for results.md, results.json and the SVG")
	fs.BoolVar(&c.quick, "quick", false, "short runs and 100k namespaces instead of 1M")
	fs.DurationVar(&c.duration, "duration", 0, "length of each measurement (default 5s, 1s quick)")
	fs.StringVar(&clients, "clients", "1,16,64,256", "concurrent clients to measure at")
	fs.IntVar(&c.small, "small", 1_000, "namespaces stored for the main measurements")
	fs.IntVar(&c.large, "large", 0, "namespaces stored for the scale figures"+
		" (default 1000000, 100000 quick)")
	fs.StringVar(&c.profile, "profile", "", "directory to save a CPU profile of the daemon"+
		" during each measurement at 64 clients")
	fs.StringVar(&c.cache, "cache", "", "directory to keep seeded stores in between runs;"+
		" a run copies them instead of seeding again")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}

	// Fill in what depends on -quick.
	if c.duration == 0 {
		c.duration = map[bool]time.Duration{false: 5 * time.Second, true: time.Second}[c.quick]
	}
	if c.large == 0 {
		c.large = map[bool]int{false: 1_000_000, true: 100_000}[c.quick]
	}
	c.warmup = c.duration / 4

	var errs []error
	for _, field := range strings.Split(clients, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(field))
		if err != nil || n <= 0 {
			errs = append(errs, fmt.Errorf("-clients %q: want positive numbers such as 1,64",
				clients))
			break
		}
		c.clients = append(c.clients, n)
	}
	if c.duration < 0 {
		errs = append(errs, fmt.Errorf("-duration %s: want a positive duration", c.duration))
	}
	if c.small <= 0 || c.large <= c.small {
		errs = append(errs, fmt.Errorf("-small %d, -large %d: want 0 < small < large",
			c.small, c.large))
	}
	if _, err := os.Stat(c.daemon); err != nil {
		errs = append(errs, fmt.Errorf("-daemon: %w (run make build first)", err))
	}
	return c, errors.Join(errs...)
}

func run(ctx context.Context, args []string, stderr io.Writer) int {
	cfg, err := parseConfig(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "nsallocbench: %v\n", err)
		return 2
	}

	work, err := os.MkdirTemp("", "nsallocbench-")
	if err != nil {
		fmt.Fprintf(stderr, "nsallocbench: %v\n", err)
		return 1
	}
	defer func() { _ = os.RemoveAll(work) }()

	b := &bench{cfg: cfg, work: work, progress: stderr, report: newReport(cfg)}
	if err := b.runAll(ctx); err != nil {
		fmt.Fprintf(stderr, "nsallocbench: %v\n", err)
		return 1
	}

	md, err := b.report.write(cfg.out)
	if err != nil {
		fmt.Fprintf(stderr, "nsallocbench: %v\n", err)
		return 1
	}
	fmt.Print(md)
	fmt.Fprintf(stderr, "results in %s\n", filepath.Join(cfg.out, "results.md"))
	return 0
}

// machine describes where the run happened, for the report.
func machine() string {
	return fmt.Sprintf("%s/%s, %d CPUs, %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(),
		runtime.Version())
}
