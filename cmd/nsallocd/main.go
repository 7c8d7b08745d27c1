// Command nsallocd serves nsalloc.v1.NamespaceService over gRPC, keeping
// namespaces in a bbolt file.
//
// Run it with -h for its flags; each has an environment variable fall-back.
// SIGINT or SIGTERM stops it gracefully: health turns NOT_SERVING, calls in
// flight finish within --shutdown-timeout, and the database is closed.
// SIGHUP reads the TLS certificates again.
//
// "nsallocd token --role ROLE --name NAME" prints a new bearer token and
// the line of the --tokens file that admits it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/nsalloc/nsalloc/naming"
	"github.com/nsalloc/nsalloc/server"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "token" {
		os.Exit(tokenCommand(os.Args[2:], os.Stdout, os.Stderr))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	var code int
	if len(os.Args) > 1 && os.Args[1] == "migrate" {
		code = migrateCommand(ctx, os.Args[2:], os.Getenv, os.Stdout, os.Stderr)
	} else {
		code = run(ctx, os.Args[1:], os.Getenv, os.Stderr)
	}
	stop()
	os.Exit(code)
}

// run is the daemon from start to stop; it returns the process exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) int {
	cfg, err := parseConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "nsallocd: %v\n", err)
		return 2
	}

	logger := newLogger(cfg, stderr)
	if err := serve(ctx, cfg, logger); err != nil {
		logger.Error("nsallocd stopped on an error", "error", err)
		return 1
	}
	return 0
}

// newLogger builds the one logger of the process.
func newLogger(cfg config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.logLevel}
	if cfg.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// serve opens the store, serves until ctx ends, and shuts down in order.
func serve(ctx context.Context, cfg config, logger *slog.Logger) error {
	// Load the reserved names first: a bad file should stop us before
	// anything is opened.
	reserved, err := loadReserved(cfg.reservedNames)
	if err != nil {
		return err
	}
	sec, err := loadSecurity(cfg.security, logger)
	if err != nil {
		return err
	}

	// Make the metrics, when asked for, before the store reports commits.
	met, err := newMetrics(cfg.metricsListen)
	if err != nil {
		return err
	}

	// Open the store; another process holding the file fails here.
	start := time.Now()
	db, err := openStore(ctx, cfg, logger, met.onCommit())
	if err != nil {
		return err
	}
	defer func() {
		if err := db.close(); err != nil {
			logger.Error("closing the store failed", "error", err)
		}
	}()
	logger.Info("store opened", append(db.attrs, "duration", time.Since(start))...)

	// Build the service and take the port.
	svc, err := server.NewService(ctx, server.Options{
		Store: db.Store, Reserved: reserved, Logger: logger, Observer: met.observer(),
	})
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.listen, err)
	}
	admission := server.NewAdmission(cfg.maxInFlight, cfg.admissionWait, logger)

	// The guard's interceptors run before admission's: a call without a
	// valid token, or past its caller's rate, is refused before it takes
	// a slot (Guard.ServerOptions has the whole order). The metrics stand
	// outside them all, wherever they are listed.
	srv := server.New(svc, logger,
		slices.Concat(met.serverOptions(), sec.serverOptions(), admission.ServerOptions())...)
	stopReloads := sec.reloadOnHangup(logger)
	defer stopReloads()

	// Start the debug and metrics endpoints, when asked for, before
	// announcing the service.
	debugErr := make(chan error, 1)
	servingAttrs := []any{"address", lis.Addr().String(), "reserved_names", reserved.Len()}
	servingAttrs = append(servingAttrs, sec.logAttrs()...)
	if cfg.debugListen != "" {
		debug, err := startDebug(cfg.debugListen, debugErr)
		if err != nil {
			_ = lis.Close()
			return err
		}
		defer func() { _ = debug.Close() }()
		servingAttrs = append(servingAttrs, "debug_address", debug.Addr)
	}
	metricsErr := make(chan error, 1)
	if met != nil {
		web, err := met.serve(cfg.metricsListen, db.bolt, logger, metricsErr)
		if err != nil {
			_ = lis.Close()
			return err
		}
		defer func() { _ = web.Close() }()
		servingAttrs = append(servingAttrs, "metrics_address", web.Addr)
	}

	// Serve until a signal comes or a listener fails.
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(lis) }()
	logger.Info("serving", servingAttrs...)

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case err := <-debugErr:
		srv.Shutdown(context.Background())
		return fmt.Errorf("debug endpoint: %w", err)
	case err := <-metricsErr:
		srv.Shutdown(context.Background())
		return fmt.Errorf("metrics endpoint: %w", err)
	case <-ctx.Done():
	}

	// Drain: NOT_SERVING, let calls in flight finish, then close the store.
	logger.Info("shutting down", "timeout", cfg.shutdownTimeout)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()
	if !srv.Shutdown(shutdownCtx) {
		logger.Warn("calls still running at the shutdown timeout were cut off")
	}
	if err := <-serveErr; err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	logger.Info("stopped")
	return nil
}

// startDebug serves Go's profiles at /debug/pprof/ on addr. A failure after
// the start is sent on failed.
func startDebug(addr string, failed chan<- error) (*http.Server, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("debug listen on %s: %w", addr, err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Addr: lis.Addr().String(), Handler: mux, ReadHeaderTimeout: 5 * time.Second}

	go func() {
		if err := srv.Serve(lis); !errors.Is(err, http.ErrServerClosed) {
			failed <- err
		}
	}()
	return srv, nil
}

// loadReserved returns the built-in reserved names plus those of path.
func loadReserved(path string) (*naming.Reserved, error) {
	if path == "" {
		return naming.NewReserved()
	}
	return naming.LoadReserved(path)
}
