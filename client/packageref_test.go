package client_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/nsalloc/nsalloc/client"
)

func TestPackageRef(t *testing.T) {
	tests := []struct {
		namespace, component, version string
		want                          string
		// For a refusal: the part named and words of the reason.
		wantPart  string
		wantWords []string
	}{
		{namespace: "math", component: "graph", version: "1.0.0", want: "math:graph@1.0.0"},
		{namespace: "math-x9423dfaa", component: "my-comp2", version: "0.1.12",
			want: "math-x9423dfaa:my-comp2@0.1.12"},
		{namespace: "math", component: "graph", version: "1.0.0-rc.1",
			want: "math:graph@1.0.0-rc.1"},
		{namespace: "math", component: "graph", version: "1.0.0-alpha-2.0.x-y.7A",
			want: "math:graph@1.0.0-alpha-2.0.x-y.7A"},
		{namespace: "math", component: "graph", version: "10.20.30-0",
			want: "math:graph@10.20.30-0"},
		{namespace: "math", component: "a", version: "0.0.0", want: "math:a@0.0.0"},
		{namespace: "math", component: strings.Repeat("c", 100), version: "1.0.0",
			want: "math:" + strings.Repeat("c", 100) + "@1.0.0"},

		{namespace: "Math", component: "graph", version: "1.0.0",
			wantPart: "namespace", wantWords: []string{"lower-case letter"}},
		{namespace: "math-9423dfaa", component: "graph", version: "1.0.0",
			wantPart: "namespace", wantWords: []string{"starts with a digit"}},
		{namespace: strings.Repeat("m", 64), component: "graph", version: "1.0.0",
			wantPart: "namespace", wantWords: []string{"64 bytes", "at most 63"}},
		{namespace: "", component: "graph", version: "1.0.0",
			wantPart: "namespace", wantWords: []string{"empty"}},

		{namespace: "math", component: "", version: "1.0.0",
			wantPart: "component", wantWords: []string{"empty"}},
		{namespace: "math", component: "Graph", version: "1.0.0",
			wantPart: "component", wantWords: []string{"'G'", "lower-case letter"}},
		{namespace: "math", component: "my_comp", version: "1.0.0",
			wantPart: "component", wantWords: []string{"'_'", "not allowed"}},
		{namespace: "math", component: "graph-", version: "1.0.0",
			wantPart: "component", wantWords: []string{"ends with '-'"}},
		{namespace: "math", component: "2d", version: "1.0.0",
			wantPart: "component", wantWords: []string{"starts with a digit"}},

		{namespace: "math", component: "graph", version: "1.0.0+build",
			wantPart: "version", wantWords: []string{`"+build"`, "OCI tag", "'+'"}},
		{namespace: "math", component: "graph", version: "1.0.0-rc.1+sha.5114f85",
			wantPart: "version", wantWords: []string{"build metadata"}},
		{namespace: "math", component: "graph", version: "01.0.0",
			wantPart: "version", wantWords: []string{`MAJOR "01"`, "leading zero"}},
		{namespace: "math", component: "graph", version: "1.00.0",
			wantPart: "version", wantWords: []string{`MINOR "00"`, "leading zero"}},
		{namespace: "math", component: "graph", version: "1.0",
			wantPart: "version", wantWords: []string{"2 dot-separated numbers", "want 3"}},
		{namespace: "math", component: "graph", version: "1.0.0.0",
			wantPart: "version", wantWords: []string{"4 dot-separated numbers"}},
		{namespace: "math", component: "graph", version: "v1.0.0",
			wantPart: "version", wantWords: []string{`starts with "v"`}},
		{namespace: "math", component: "graph", version: "",
			wantPart: "version", wantWords: []string{"empty"}},
		{namespace: "math", component: "graph", version: "1.0.x",
			wantPart: "version", wantWords: []string{`PATCH "x"`, "not a number"}},
		{namespace: "math", component: "graph", version: "1..0",
			wantPart: "version", wantWords: []string{"MINOR is empty"}},
		{namespace: "math", component: "graph", version: "1.0.0-",
			wantPart: "version", wantWords: []string{"empty pre-release"}},
		{namespace: "math", component: "graph", version: "1.0.0-rc..1",
			wantPart: "version", wantWords: []string{"empty identifier"}},
		{namespace: "math", component: "graph", version: "1.0.0-rc.01",
			wantPart: "version", wantWords: []string{`"01"`, "leading zero"}},
		{namespace: "math", component: "graph", version: "1.0.0-rc_1",
			wantPart: "version", wantWords: []string{`"rc_1"`, "'_'"}},
		{namespace: "math", component: "graph", version: "1.0.0-" + strings.Repeat("a", 200),
			wantPart: "version", wantWords: []string{"at most 128"}},
	}
	for _, tt := range tests {
		name := tt.namespace + ":" + tt.component + "@" + tt.version
		t.Run(name, func(t *testing.T) {
			got, err := client.PackageRef(tt.namespace, tt.component, tt.version)

			if tt.wantPart == "" {
				if err != nil || got != tt.want {
					t.Fatalf("got %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("got %q, want a refusal of the %s", got, tt.wantPart)
			}
			if got != "" {
				t.Errorf("got %q with the error, want \"\"", got)
			}
			if !errors.Is(err, client.ErrInvalid) {
				t.Errorf("errors.Is(%v, ErrInvalid) = false, want true", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, "package "+tt.wantPart+" \"") {
				t.Errorf("got %q, want it to name the %s", msg, tt.wantPart)
			}
			for _, word := range tt.wantWords {
				if !strings.Contains(msg, word) {
					t.Errorf("got %q, want it to say %q", msg, word)
				}
			}
		})
	}
}
