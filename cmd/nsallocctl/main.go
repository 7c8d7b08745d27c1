// Command nsallocctl is the operators' command line of nsalloc. It
// reserves, resolves, releases, lists and previews namespaces, shows their
// history, takes backups and imports apps in bulk, all through package
// client.
//
// Run "nsallocctl help" for the subcommands and their flags. The exit code
// says how a command ended: 0 ok, 1 another error, 2 a usage error, 3 not
// found, 4 refused by the server, 5 server unreachable.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal, a second one ends the program at once.
	go func() {
		<-ctx.Done()
		stop()
	}()

	code := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// app is one run of the program: its global flags and its streams.
type app struct {
	g      globals
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// run runs the command line args and returns the exit code.
func run(
	ctx context.Context, args []string, getenv func(string) string,
	stdin io.Reader, stdout, stderr io.Writer,
) int {
	a := &app{g: defaultGlobals(getenv), getenv: getenv,
		stdin: stdin, stdout: stdout, stderr: stderr}

	err := a.dispatch(ctx, args)

	var usage usageError
	switch {
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &usage) && usage.printed:
	case err != nil:
		fmt.Fprintf(stderr, "nsallocctl: %v\n", err)
	}
	return exitCode(err)
}

// command is one subcommand.
type command struct {
	name    string
	args    string // the positional arguments, for the usage line
	summary string
	run     func(a *app, ctx context.Context, args []string) error
}

// commandTable lists the subcommands in the order the usage shows them.
func commandTable() []command {
	return []command{
		{"reserve", "APP_ID APP_NAME", "give an app its namespace", (*app).reserve},
		{"resolve", "(APP_ID | --namespace NAME)", "look a namespace up", (*app).resolve},
		{"release", "APP_ID", "retire the namespace of a deleted app", (*app).release},
		{"list", "", "list namespaces in name order", (*app).list},
		{"preview", "APP_NAME", "tell what reserve would give, writing nothing", (*app).preview},
		{"history", "NAMESPACE", "show who reserved and retired a namespace", (*app).history},
		{"backup", "FILE", "copy the server's database to FILE", (*app).backup},
		{"import", "FILE", "reserve the apps of a CSV or JSON lines file (- for stdin)",
			(*app).importApps},
	}
}

// dispatch reads the global flags before the subcommand and runs it.
func (a *app) dispatch(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("nsallocctl", flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	a.g.register(fs)
	fs.Usage = func() { a.usage(fs.Output(), fs) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{msg: err.Error(), printed: true}
	}

	rest := fs.Args()
	if len(rest) == 0 {
		a.usage(a.stderr, fs)
		return usageError{msg: "no subcommand", printed: true}
	}
	if rest[0] == "help" {
		a.usage(a.stdout, fs)
		return nil
	}
	for _, cmd := range commandTable() {
		if cmd.name == rest[0] {
			return cmd.run(a, ctx, rest[1:])
		}
	}
	return usagef("unknown subcommand %q; run nsallocctl help", rest[0])
}

// usage writes the program's usage to w.
func (a *app) usage(w io.Writer, global *flag.FlagSet) {
	fmt.Fprintf(w, "usage: nsallocctl [flags] SUBCOMMAND [arguments and flags]\n\n")
	fmt.Fprintf(w, "subcommands:\n")
	for _, cmd := range commandTable() {
		fmt.Fprintf(w, "  %-9s %s\n", cmd.name, cmd.summary)
	}
	fmt.Fprintf(w, "\nflags, before or after the subcommand:\n")
	global.SetOutput(w)
	global.PrintDefaults()
	fmt.Fprintf(w, "\nexit codes: 0 ok, 1 other error, 2 usage, 3 not found, 4 refused, "+
		"5 unreachable\nnsallocctl SUBCOMMAND -h shows the flags of a subcommand.\n")
}

// flagSet returns the flags of a subcommand, the global ones included.
func (a *app) flagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	a.g.register(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: %s\n\nflags:\n", usageLine(fs))
		fs.PrintDefaults()
	}
	return fs
}

// parse reads the arguments of a subcommand and checks the global flags.
func (a *app) parse(fs *flag.FlagSet, args []string, minArgs, maxArgs int) ([]string, error) {
	positional, err := parseArgs(fs, args, minArgs, maxArgs)
	if err != nil {
		return nil, err
	}
	if err := a.g.check(a.getenv); err != nil {
		return nil, err
	}
	return positional, nil
}

// usageLine returns the one-line usage of the subcommand fs parses.
func usageLine(fs *flag.FlagSet) string {
	for _, cmd := range commandTable() {
		if cmd.name == fs.Name() {
			return strings.Join(strings.Fields("nsallocctl "+cmd.name+" "+cmd.args+" [flags]"), " ")
		}
	}
	return "nsallocctl " + fs.Name()
}
