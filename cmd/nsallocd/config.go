package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/nsalloc/nsalloc/server"
)

// config is everything the daemon reads from its flags and environment.
type config struct {
	listen          string
	db              string
	reservedNames   string
	logLevel        slog.Level
	logFormat       string
	shutdownTimeout time.Duration
	lockTimeout     time.Duration
	maxInFlight     int
	admissionWait   time.Duration
	debugListen     string

	// metricsListen is where to serve Prometheus /metrics; empty is off.
	metricsListen string

	// security holds the flags of callers, TLS and limits (security.go).
	security securityConfig

	// backend says where the namespaces are kept (backend.go).
	backend backendConfig
}

// parseConfig reads flags, falling back to environment variables and then to
// built-in defaults. getenv is os.Getenv outside tests.
func parseConfig(args []string, getenv func(string) string, usage io.Writer) (config, error) {
	fs := flag.NewFlagSet("nsallocd", flag.ContinueOnError)
	fs.SetOutput(usage)
	env := func(name, fallback string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return fallback
	}

	var c config
	var logLevel, shutdownTimeout, lockTimeout, maxInFlight, admissionWait string
	fs.StringVar(&c.listen, "listen", env("NSALLOC_LISTEN", "127.0.0.1:50051"),
		"address to serve gRPC on (env NSALLOC_LISTEN)")
	fs.StringVar(&c.db, "db", env("NSALLOC_DB", "nsalloc.db"),
		"bbolt database file, created when missing, with --store bolt (env NSALLOC_DB)")
	fs.StringVar(&c.reservedNames, "reserved-names", env("NSALLOC_RESERVED_NAMES", ""),
		"file of extra reserved names, one a line (env NSALLOC_RESERVED_NAMES)")
	fs.StringVar(&logLevel, "log-level", env("NSALLOC_LOG_LEVEL", "info"),
		"debug, info, warn or error (env NSALLOC_LOG_LEVEL)")
	fs.StringVar(&c.logFormat, "log-format", env("NSALLOC_LOG_FORMAT", "text"),
		"text or json (env NSALLOC_LOG_FORMAT)")
	fs.StringVar(&shutdownTimeout, "shutdown-timeout", env("NSALLOC_SHUTDOWN_TIMEOUT", "10s"),
		"how long calls in flight may run after SIGINT or SIGTERM (env NSALLOC_SHUTDOWN_TIMEOUT)")
	fs.StringVar(&lockTimeout, "lock-timeout", env("NSALLOC_LOCK_TIMEOUT", "2s"),
		"how long to wait for another process to release the database (env NSALLOC_LOCK_TIMEOUT)")

	fs.StringVar(&maxInFlight, "max-in-flight",
		env("NSALLOC_MAX_IN_FLIGHT", strconv.Itoa(server.DefaultMaxInFlight)),
		"most namespace calls served at once; more are shed (env NSALLOC_MAX_IN_FLIGHT)")
	fs.StringVar(&admissionWait, "admission-wait",
		env("NSALLOC_ADMISSION_WAIT", server.DefaultAdmissionWait.String()),
		"how long a call waits for a free slot before RESOURCE_EXHAUSTED"+
			" (env NSALLOC_ADMISSION_WAIT)")
	fs.StringVar(&c.debugListen, "debug-listen", env("NSALLOC_DEBUG_LISTEN", ""),
		"address to serve Go's /debug/pprof/ on; empty turns it off (env NSALLOC_DEBUG_LISTEN)")

	fs.StringVar(&c.metricsListen, "metrics-listen", env("NSALLOC_METRICS_LISTEN", ""),
		"address to serve Prometheus /metrics on; empty turns it off"+
			" (env NSALLOC_METRICS_LISTEN)")

	security := addSecurityFlags(fs, env)
	backend := addBackendFlags(fs, env)

	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}

	var errs []error
	if err := c.logLevel.UnmarshalText([]byte(logLevel)); err != nil ||
		!knownLevel(strings.ToLower(logLevel)) {
		errs = append(errs, fmt.Errorf("--log-level %q: want debug, info, warn or error", logLevel))
	}
	if c.logFormat != "text" && c.logFormat != "json" {
		errs = append(errs, fmt.Errorf("--log-format %q: want text or json", c.logFormat))
	}
	c.shutdownTimeout, errs = parseDuration("--shutdown-timeout", shutdownTimeout, errs)
	c.lockTimeout, errs = parseDuration("--lock-timeout", lockTimeout, errs)
	c.admissionWait, errs = parseDuration("--admission-wait", admissionWait, errs)
	if n, err := strconv.Atoi(maxInFlight); err != nil || n <= 0 {
		errs = append(errs, fmt.Errorf("--max-in-flight %q: want a positive number", maxInFlight))
	} else {
		c.maxInFlight = n
	}
	if c.listen == "" {
		errs = append(errs, errors.New("--listen is empty"))
	}
	if c.db == "" {
		errs = append(errs, errors.New("--db is empty"))
	}
	c.security, errs = security.parse(c.listen, errs)
	c.backend, errs = backend.parse(errs)
	return c, errors.Join(errs...)
}

// knownLevel accepts the four level names, and not slog's offsets such as
// "info+2".
func knownLevel(s string) bool {
	switch s {
	case "debug", "info", "warn", "error":
		return true
	}
	return false
}

// parseDuration reads a positive duration, adding a problem to errs.
func parseDuration(flagName, value string, errs []error) (time.Duration, []error) {
	d, err := time.ParseDuration(value)
	if err != nil || d <= 0 {
		err := fmt.Errorf("%s %q: want a positive duration such as 10s", flagName, value)
		return 0, append(errs, err)
	}
	return d, errs
}
