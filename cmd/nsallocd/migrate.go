package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/nsalloc/nsalloc/store/migrate"
)

// The directions of nsallocd migrate.
const (
	boltToEtcd = "bolt-to-etcd"
	etcdToBolt = "etcd-to-bolt"
)

// migrateUsage is the first line of nsallocd migrate's help.
const migrateUsage = "usage: nsallocd migrate bolt-to-etcd|etcd-to-bolt" +
	" --db FILE --etcd-endpoints URLS [--etcd-prefix P] [other etcd flags]"

// migrateCommand copies every record between the --db file and the etcd
// cluster of the --etcd-* flags, then checks that both hold the same
// records. Records already copied are checked rather than written again,
// so it can be run again after a failure. It returns the exit code.
func migrateCommand(
	ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer,
) int {
	if len(args) == 0 || (args[0] != boltToEtcd && args[0] != etcdToBolt) {
		fmt.Fprintln(stderr, migrateUsage)
		return 2
	}
	direction := args[0]

	cfg, err := parseConfig(args[1:], getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err == nil && len(cfg.backend.endpoints) == 0 {
		err = errors.New("--etcd-endpoints is empty")
	}
	if err != nil {
		fmt.Fprintf(stderr, "nsallocd migrate: %v\n%s\n", err, migrateUsage)
		return 2
	}

	if err := runMigrate(ctx, direction, cfg, stdout); err != nil {
		fmt.Fprintf(stderr, "nsallocd migrate: %v\n", err)
		return 1
	}
	return 0
}

// runMigrate opens both stores, copies from one to the other, and checks.
func runMigrate(ctx context.Context, direction string, cfg config, stdout io.Writer) error {
	// Open the file and the cluster as the daemon would.
	logger := slog.New(slog.DiscardHandler)
	boltCfg, etcdCfg := cfg, cfg
	boltCfg.backend.kind, etcdCfg.backend.kind = backendBolt, backendEtcd
	file, err := openStore(ctx, boltCfg, logger, nil)
	if err != nil {
		return err
	}
	defer func() { _ = file.close() }()
	cluster, err := openStore(ctx, etcdCfg, logger, nil)
	if err != nil {
		return err
	}
	defer func() { _ = cluster.close() }()

	from, to := file, cluster
	fromName := "bbolt file " + cfg.db
	toName := fmt.Sprintf("etcd %s under %s", strings.Join(cfg.backend.endpoints, ","),
		cfg.backend.prefix)
	if direction == etcdToBolt {
		from, to, fromName, toName = cluster, file, toName, fromName
	}

	// Copy, then compare record by record.
	report, err := migrate.Copy(ctx, from.Store, to.Store, migrate.Options{})
	fmt.Fprintf(stdout, "copied %s to %s: %d read, %d created, %d already there,"+
		" %d retired, %d conflicts\n", fromName, toName, report.Read, report.Created,
		report.AlreadyThere, report.Retired, len(report.Conflicts))
	for _, c := range report.Conflicts {
		fmt.Fprintf(stdout, "conflict: namespace %q of app %s: %s\n", c.Name, c.AppID, c.Reason)
	}
	if err != nil {
		return err
	}
	if err := migrate.Verify(ctx, from.Store, to.Store); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "verified: both hold the same %d records\n", report.Read)
	return nil
}
