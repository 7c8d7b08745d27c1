package naming

import (
	"slices"
	"strings"
	"testing"
)

const otherAppID = "0b7e41c2-5d3a-4f6b-8c9d-1e2f3a4b5c6d"

func TestCandidates(t *testing.T) {
	b63 := strings.Repeat("a", MaxLen)
	words := "alpha-beta-gamma-delta-epsilon-zeta-eta-theta-iota-kappa-lambda"

	tests := []struct {
		name string
		base string
		id   string
		want []string
	}{
		{
			name: "plain",
			base: "math",
			id:   testAppID,
			want: []string{
				"math",
				"math-x9423dfaa",
				"math-x9423dfaa2bd8",
				"math-x9423dfaa2bd84c5e9f016a7b8c9d0e1f",
			},
		},
		{
			name: "empty base",
			base: "",
			id:   testAppID,
			want: []string{
				"app-x9423dfaa",
				"app-x9423dfaa2bd8",
				"app-x9423dfaa2bd84c5e9f016a7b8c9d0e1f",
			},
		},
		{
			name: "upper-case id",
			base: "math",
			id:   strings.ToUpper(testAppID),
			want: []string{
				"math",
				"math-x9423dfaa",
				"math-x9423dfaa2bd8",
				"math-x9423dfaa2bd84c5e9f016a7b8c9d0e1f",
			},
		},
		{
			name: "one 63-byte word is hard cut",
			base: b63,
			id:   testAppID,
			want: []string{
				b63,
				b63[:53] + "-x9423dfaa",
				b63[:49] + "-x9423dfaa2bd8",
				b63[:29] + "-x9423dfaa2bd84c5e9f016a7b8c9d0e1f",
			},
		},
		{
			name: "words are cut at boundaries",
			base: words,
			id:   testAppID,
			want: []string{
				words,
				"alpha-beta-gamma-delta-epsilon-zeta-eta-theta-iota-x9423dfaa",
				"alpha-beta-gamma-delta-epsilon-zeta-eta-theta-x9423dfaa2bd8",
				"alpha-beta-gamma-delta-x9423dfaa2bd84c5e9f016a7b8c9d0e1f",
			},
		},
		{
			name: "long first word is hard cut",
			base: strings.Repeat("b", 40) + "-c",
			id:   testAppID,
			want: []string{
				strings.Repeat("b", 40) + "-c",
				strings.Repeat("b", 40) + "-c-x9423dfaa",
				strings.Repeat("b", 40) + "-c-x9423dfaa2bd8",
				strings.Repeat("b", 29) + "-x9423dfaa2bd84c5e9f016a7b8c9d0e1f",
			},
		},
		{
			name: "base already ends in its tag",
			base: strings.Repeat("d", 53) + "-x9423dfaa",
			id:   testAppID,
			want: []string{
				strings.Repeat("d", 53) + "-x9423dfaa",
				strings.Repeat("d", 49) + "-x9423dfaa2bd8",
				strings.Repeat("d", 29) + "-x9423dfaa2bd84c5e9f016a7b8c9d0e1f",
			},
		},
		{
			name: "base key matches a tagged name",
			base: strings.Repeat("d", 53) + "x9423dfaa",
			id:   testAppID,
			want: []string{
				strings.Repeat("d", 53) + "x9423dfaa",
				strings.Repeat("d", 49) + "-x9423dfaa2bd8",
				strings.Repeat("d", 29) + "-x9423dfaa2bd84c5e9f016a7b8c9d0e1f",
			},
		},
		{
			name: "invalid base goes through Base",
			base: "My App",
			id:   testAppID,
			want: []string{
				"my-app",
				"my-app-x9423dfaa",
				"my-app-x9423dfaa2bd8",
				"my-app-x9423dfaa2bd84c5e9f016a7b8c9d0e1f",
			},
		},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Candidates(tt.base, tt.id)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("Candidates(%q, %q):\ngot  %q\nwant %q",
					tt.base, tt.id, got, tt.want)
			}
			checkCandidates(t, got)
		})
	}
}

// checkCandidates checks that every candidate is a valid namespace and
// that no two share a key.
func checkCandidates(t *testing.T, list []string) {
	t.Helper()

	if len(list) < 3 || len(list) > 4 {
		t.Fatalf("got %d candidates %q, want 3 or 4", len(list), list)
	}

	keys := make(map[string]string, len(list))
	for _, c := range list {
		if err := ValidateNamespace(c); err != nil {
			t.Fatalf("candidate %q: %v", c, err)
		}
		if prev, ok := keys[Key(c)]; ok {
			t.Fatalf("candidates %q and %q share key %q", prev, c, Key(c))
		}
		keys[Key(c)] = c
	}
}

func TestCandidatesDifferByApp(t *testing.T) {
	for _, base := range []string{"", "math", strings.Repeat("a", MaxLen)} {
		t.Run(base, func(t *testing.T) {
			a := Candidates(base, testAppID)
			b := Candidates(base, otherAppID)

			tagged := 0
			if base != "" {
				tagged = 1
			}
			for i := tagged; i < len(a); i++ {
				if slices.Contains(b, a[i]) {
					t.Fatalf("tagged candidate %q is given to both apps", a[i])
				}
			}
		})
	}
}

func TestCandidatesDeterministic(t *testing.T) {
	first := Candidates("my-cool-app", testAppID)
	for range 10 {
		if got := Candidates("my-cool-app", testAppID); !slices.Equal(got, first) {
			t.Fatalf("Candidates changed between calls: got %q, want %q", got, first)
		}
	}
}

func TestCandidatesPanicsOnBadID(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Candidates with a bad app id: got no panic, want one")
		}
	}()
	Candidates("math", "nope")
}
