package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/nsalloc/nsalloc/server"
)

// tokenBytes is how many random bytes a token holds.
const tokenBytes = 32

// tokenCommand is "nsallocd token --role ROLE --name NAME". It prints two
// lines on stdout: a new random token, then the line of the tokens file
// that admits it, "ROLE NAME SHA256HEX". The token is shown once and kept
// nowhere; the file holds only its hash. It returns the exit code.
func tokenCommand(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("nsallocd token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: nsallocd token --role reader|writer|admin --name NAME")
		fmt.Fprintln(stderr, "Prints a new token, then its line for the --tokens file.")
		fs.PrintDefaults()
	}
	roleName := fs.String("role", "", "reader, writer or admin")
	name := fs.String("name", "", "the caller's name, as History will show it")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}

	var problems []error
	if fs.NArg() > 0 {
		problems = append(problems, fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	role, err := server.ParseRole(*roleName)
	if err != nil {
		problems = append(problems, fmt.Errorf("--role: %w", err))
	}
	if err := server.CheckCallerName(*name); err != nil {
		problems = append(problems, fmt.Errorf("--name: %w", err))
	}
	if err := errors.Join(problems...); err != nil {
		fmt.Fprintf(stderr, "nsallocd token: %v\n", err)
		return 2
	}

	token := newToken()
	fmt.Fprintf(stdout, "%s\n%s %s %s\n", token, role, *name, server.HashToken(token))
	return 0
}

// newToken returns tokenBytes random bytes, base64url-encoded without
// padding: 43 characters that are safe in a header and a shell.
func newToken() string {
	b := make([]byte, tokenBytes)
	_, _ = rand.Read(b) // crypto/rand.Read never fails; it crashes the program instead
	return base64.RawURLEncoding.EncodeToString(b)
}
