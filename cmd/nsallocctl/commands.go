package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/nsalloc/nsalloc/client"
)

// reserve gives an app its namespace.
func (a *app) reserve(ctx context.Context, args []string) error {
	flags := a.flagSet("reserve")
	exact := flags.Bool("exact", false,
		"accept only the base name: refuse (exit 4) when it is taken")
	pos, err := a.parse(flags, args, 2, 2)
	if err != nil {
		return err
	}
	c, err := a.g.dial()
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()

	var opts []client.ReserveOption
	if *exact {
		opts = append(opts, client.Exact())
	}
	ns, created, err := c.Reserve(ctx, pos[0], pos[1], opts...)
	if err != nil {
		return err
	}

	return a.emit(reserveJSON{Namespace: namespaceOut(ns), Created: created}, func(w io.Writer) {
		fmt.Fprintln(w, namespaceHeader+"\tNEW")
		fmt.Fprintf(w, "%s\t%s\n", namespaceRow(ns), yesNo(created))
	})
}

// resolve looks a namespace up by app id or by name.
func (a *app) resolve(ctx context.Context, args []string) error {
	flags := a.flagSet("resolve")
	name := flags.String("namespace", "", "look up the namespace `NAME` instead of an app id")
	retired := flags.Bool("include-retired", false,
		"return a retired namespace instead of refusing")
	pos, err := a.parse(flags, args, 0, 1)
	if err != nil {
		return err
	}
	if (len(pos) == 1) == (*name != "") {
		return usagef("resolve: give an APP_ID or --namespace NAME, not both; usage: %s",
			usageLine(flags))
	}
	c, err := a.g.dial()
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()

	var opts []client.ResolveOption
	if *retired {
		opts = append(opts, client.IncludeRetired())
	}
	var ns client.Namespace
	if *name != "" {
		ns, err = c.ResolveName(ctx, *name, opts...)
	} else {
		ns, err = c.ResolveApp(ctx, pos[0], opts...)
	}
	if err != nil {
		return err
	}

	return a.emitNamespace(ns)
}

// release retires the namespace of an app.
func (a *app) release(ctx context.Context, args []string) error {
	flags := a.flagSet("release")
	pos, err := a.parse(flags, args, 1, 1)
	if err != nil {
		return err
	}
	c, err := a.g.dial()
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()

	ns, err := c.Release(ctx, pos[0])
	if err != nil {
		return err
	}

	return a.emitNamespace(ns)
}

// emitNamespace writes one namespace.
func (a *app) emitNamespace(ns client.Namespace) error {
	return a.emit(namespaceOut(ns), func(w io.Writer) {
		fmt.Fprintln(w, namespaceHeader)
		fmt.Fprintln(w, namespaceRow(ns))
	})
}

// list lists namespaces in name order.
func (a *app) list(ctx context.Context, args []string) error {
	flags := a.flagSet("list")
	prefix := flags.String("prefix", "", "list only the namespaces whose name starts with `P`")
	limit := flags.Int("limit", 0, "list at most `N` namespaces; 0 lists them all")
	if _, err := a.parse(flags, args, 0, 0); err != nil {
		return err
	}
	if *limit < 0 {
		return usagef("list: --limit %d: want 0 or more", *limit)
	}
	c, err := a.g.dial()
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()

	found := []client.Namespace{}
	for ns, err := range c.List(ctx, *prefix) {
		if err != nil {
			return err
		}
		found = append(found, ns)
		if len(found) == *limit {
			break
		}
	}

	out := make([]namespaceJSON, len(found))
	for i, ns := range found {
		out[i] = namespaceOut(ns)
	}
	return a.emit(out, func(w io.Writer) {
		fmt.Fprintln(w, namespaceHeader)
		for _, ns := range found {
			fmt.Fprintln(w, namespaceRow(ns))
		}
	})
}

// preview tells what reserve would give an app name, writing nothing.
func (a *app) preview(ctx context.Context, args []string) error {
	flags := a.flagSet("preview")
	appID := flags.String("app-id", "", "also tell what the app `ID` would get, and what it has")
	pos, err := a.parse(flags, args, 1, 1)
	if err != nil {
		return err
	}
	c, err := a.g.dial()
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()

	p, err := c.Preview(ctx, pos[0], *appID)
	if err != nil {
		return err
	}

	out := previewJSON{
		BaseName: p.BaseName, BaseFree: p.BaseFree,
		Unavailability:       unavailabilityOut(p.Unavailability),
		ConflictingNamespace: p.ConflictingNamespace, Namespace: p.Namespace,
	}
	if p.Existing.Name != "" {
		existing := namespaceOut(p.Existing)
		out.Existing = &existing
	}
	return a.emit(out, func(w io.Writer) {
		fmt.Fprintf(w, "base name\t%s\n", orDash(p.BaseName))
		fmt.Fprintf(w, "base free\t%s\n", yesNo(p.BaseFree))
		fmt.Fprintf(w, "unavailability\t%s\n", orDash(unavailabilityOut(p.Unavailability)))
		fmt.Fprintf(w, "conflicting namespace\t%s\n", orDash(p.ConflictingNamespace))
		fmt.Fprintf(w, "namespace\t%s\n", orDash(p.Namespace))
		fmt.Fprintf(w, "existing\t%s\n", orDash(p.Existing.Name))
	})
}

// history shows every change of a namespace, oldest first.
func (a *app) history(ctx context.Context, args []string) error {
	flags := a.flagSet("history")
	pos, err := a.parse(flags, args, 1, 1)
	if err != nil {
		return err
	}
	c, err := a.g.dial()
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()

	events, err := c.History(ctx, pos[0])
	if err != nil {
		return err
	}

	out := make([]eventJSON, len(events))
	for i, e := range events {
		out[i] = eventJSON{Kind: e.Kind.String(), Namespace: e.Namespace, AppID: e.AppID,
			Time: e.Time.UTC(), Caller: e.Caller}
	}
	return a.emit(out, func(w io.Writer) {
		fmt.Fprintln(w, "TIME\tEVENT\tNAMESPACE\tAPP ID\tCALLER")
		for _, e := range events {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", tableTime(e.Time), e.Kind, e.Namespace,
				e.AppID, e.Caller)
		}
	})
}

// backup copies the server's database to a file: first to FILE.partial,
// renamed to FILE once complete and synced.
func (a *app) backup(ctx context.Context, args []string) error {
	flags := a.flagSet("backup")
	force := flags.Bool("force", false, "replace FILE if it exists")
	pos, err := a.parse(flags, args, 1, 1)
	if err != nil {
		return err
	}
	file := pos[0]
	if _, err := os.Lstat(file); err == nil && !*force {
		return fmt.Errorf("backup: %s exists; pass --force to replace it", file)
	}
	c, err := a.g.dial()
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()

	partial := file + ".partial"
	n, err := writeBackup(ctx, c, partial)
	if err != nil {
		_ = os.Remove(partial)
		return err
	}

	if err := publish(partial, file, *force); err != nil {
		_ = os.Remove(partial)
		return fmt.Errorf("backup: %w", err)
	}

	return a.emit(backupJSON{File: file, Bytes: n}, func(w io.Writer) {
		fmt.Fprintf(w, "file\t%s\nbytes\t%d\n", file, n)
	})
}

// writeBackup copies a backup into path, synced, and returns its size.
func writeBackup(ctx context.Context, c *client.Client, path string) (int64, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	defer func() { _ = f.Close() }()

	buf := bufio.NewWriterSize(f, 256<<10)
	n, err := c.Backup(ctx, buf)
	if err != nil {
		return n, err
	}
	if err := buf.Flush(); err != nil {
		return n, fmt.Errorf("backup: %w", err)
	}
	if err := f.Sync(); err != nil {
		return n, fmt.Errorf("backup: %w", err)
	}
	if err := f.Close(); err != nil {
		return n, fmt.Errorf("backup: %w", err)
	}
	return n, nil
}

// publish gives the complete file partial its final name. Without force it
// links rather than renames, so that a file that appeared at dest in the
// meantime is not replaced.
func publish(partial, dest string, force bool) error {
	if force {
		if err := os.Rename(partial, dest); err != nil {
			return err
		}
	} else {
		err := os.Link(partial, dest)
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s exists; pass --force to replace it", dest)
		}
		if err != nil {
			return err
		}
		_ = os.Remove(partial)
	}

	// The new name is durable once its directory is synced.
	if dir, err := os.Open(filepath.Dir(dest)); err == nil {
		_ = dir.Sync()
		_ = dir.Close()
	}
	return nil
}

// yesNo writes a boolean for a table.
func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
