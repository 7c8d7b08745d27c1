package naming_test

import (
	"fmt"

	"github.com/nsalloc/nsalloc/naming"
)

func ExampleBase() {
	names := []string{"My Cool App!", "Straße", "3D Printer", "math 2", "日本語"}
	for _, name := range names {
		base, ok := naming.Base(name)
		fmt.Printf("%q %q %v\n", name, base, ok)
	}
	// Output:
	// "My Cool App!" "my-cool-app" true
	// "Straße" "strasse" true
	// "3D Printer" "app3d-printer" true
	// "math 2" "math2" true
	// "日本語" "" false
}

func ExampleCandidates() {
	appID, err := naming.ParseAppID("9423DFAA-2BD8-4C5E-9F01-6A7B8C9D0E1F")
	if err != nil {
		fmt.Println(err)
		return
	}

	base, _ := naming.Base("Math")
	for _, ns := range naming.Candidates(base, appID) {
		fmt.Println(ns)
	}
	// Output:
	// math
	// math-x9423dfaa
	// math-x9423dfaa2bd8
	// math-x9423dfaa2bd84c5e9f016a7b8c9d0e1f
}

func ExampleReserved() {
	reserved, err := naming.NewReserved("acme")
	if err != nil {
		fmt.Println(err)
		return
	}

	for _, ns := range []string{"wasi", "byte-code-alliance", "acme", "math"} {
		fmt.Println(ns, reserved.Contains(ns))
	}
	// Output:
	// wasi true
	// byte-code-alliance true
	// acme true
	// math false
}
