package client_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/nsalloc/nsalloc/client"
)

// A backend dials the service once, over TLS with its token, and shares the
// client between requests.
func ExampleDial() {
	pem, err := os.ReadFile("/etc/nsalloc/ca.pem")
	if err != nil {
		log.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)

	c, err := client.Dial("nsalloc.internal:443",
		client.WithTLS(&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}),
		client.WithToken(os.Getenv("NSALLOC_TOKEN")),
		client.WithTimeout(5*time.Second),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
}

// A daemon on the same machine, as `make run` starts it, is reached in
// plaintext. WithToken is allowed with it there, since the token never
// leaves the machine.
func ExampleDial_loopback() {
	c, err := client.Dial("127.0.0.1:50051", client.WithInsecure())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
}

// A backend reserves the namespace when it creates an app. Reserve is
// idempotent by app id, so a backend that retries its own creation gets the
// same namespace back.
func ExampleClient_Reserve() {
	c, err := client.Dial("127.0.0.1:50051", client.WithInsecure())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	ns, created, err := c.Reserve(ctx, "9423dfaa-2bd8-43fa-bcd9-b0599ea44d5e", "Math")
	switch {
	case errors.Is(err, client.ErrRetired):
		// The app was deleted once: its id never gets a namespace again.
		log.Fatalf("app was released: %v", err)
	case errors.Is(err, client.ErrInvalid):
		var e *client.Error
		if errors.As(err, &e) {
			for _, f := range e.Fields {
				log.Printf("%s: %s", f.Field, f.Description)
			}
		}
		log.Fatal(err)
	case err != nil:
		log.Fatal(err)
	}
	fmt.Println(ns.Name, created)
}

// With Exact, an app gets its base name or nothing.
func ExampleExact() {
	c, err := client.Dial("127.0.0.1:50051", client.WithInsecure())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	_, _, err = c.Reserve(ctx, "5b1e6c4a-0f3d-4e2b-9a8c-7d6e5f4a3b2c", "math", client.Exact())
	if errors.Is(err, client.ErrTaken) {
		fmt.Println("math is taken; pick another app name")
	}
}

// A CLI resolves the app's namespace before it publishes a component, and
// builds the reference that `spin deps publish` takes.
func ExampleClient_ResolveApp() {
	c, err := client.Dial("127.0.0.1:50051", client.WithInsecure())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	ns, err := c.ResolveApp(ctx, "9423dfaa-2bd8-43fa-bcd9-b0599ea44d5e")
	switch {
	case errors.Is(err, client.ErrNotFound):
		log.Fatal("the app has no namespace yet: create it first")
	case errors.Is(err, client.ErrRetired):
		log.Fatal("the app was deleted: nothing may be published under its namespace")
	case err != nil:
		log.Fatal(err)
	}

	ref, err := client.PackageRef(ns.Name, "graph", "1.2.0")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ref)
}

// List follows the pages for the caller.
func ExampleClient_List() {
	c, err := client.Dial("127.0.0.1:50051", client.WithInsecure())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	for ns, err := range c.List(ctx, "ma") {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(ns.Name, ns.State)
	}
}

// Backup copies the database to a file while the service keeps serving.
func ExampleClient_Backup() {
	c, err := client.Dial("127.0.0.1:50051", client.WithInsecure())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	f, err := os.Create("nsalloc-backup.db")
	if err != nil {
		log.Fatal(err)
	}
	n, err := c.Backup(ctx, f)
	if err := errors.Join(err, f.Close()); err != nil {
		log.Fatal(err)
	}
	fmt.Println(n, "bytes")
}

func ExamplePackageRef() {
	ref, err := client.PackageRef("math-x9423dfaa", "graph", "1.0.0-rc.1")
	fmt.Println(ref, err)

	_, err = client.PackageRef("math", "Graph", "1.0.0")
	fmt.Println(err)

	_, err = client.PackageRef("math", "graph", "1.0.0+b7")
	fmt.Println(err)
	fmt.Println(errors.Is(err, client.ErrInvalid))

	// Output:
	// math-x9423dfaa:graph@1.0.0-rc.1 <nil>
	// nsalloc: package component "Graph": word "Graph" starts with 'G', want a lower-case letter
	// nsalloc: package version "1.0.0+b7": has build metadata "+b7": an OCI tag cannot hold '+'
	// true
}
