package naming

import (
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	long := strings.Repeat("a", MaxLen+1)

	tests := []struct {
		name      string
		in        string
		labelErr  string // substring of ValidateLabel's error; "" means valid
		nsLongErr bool   // only ValidateNamespace fails, on length
	}{
		{"one word", "math", "", false},
		{"letter", "a", "", false},
		{"words", "my-cool-app", "", false},
		{"digits after letter", "a1-b2", "", false},
		{"tagged", "math-x9423dfaa", "", false},
		{"max length", strings.Repeat("a", MaxLen), "", false},
		{"word of digits", "math-9423dfaa", `word "9423dfaa" starts with a digit`, false},
		{"app and digits", "app-9423dfaa", `word "9423dfaa" starts with a digit`, false},
		{"digit first", "9lives", `word "9lives" starts with a digit`, false},
		{"double dash", "a--b", `empty word: "--" at offset 1`, false},
		{"leading dash", "-a", "empty word: label starts with '-'", false},
		{"trailing dash", "a-", "empty word: label ends with '-'", false},
		{"dash only", "-", "empty word: label starts with '-'", false},
		{"upper", "A", `word "A" starts with 'A', want a lower-case letter`, false},
		{"upper inside", "aB", "character 'B' at offset 1 is not allowed", false},
		{"empty", "", "empty label", false},
		{"underscore", "a_b", "character '_' at offset 1", false},
		{"dot", "a.b", "character '.' at offset 1", false},
		{"non-ASCII", "café", "character 'é' at offset 3", false},
		{"invalid UTF-8", "a\xff", "byte 0xff at offset 1", false},
		{"space", "a b", "character ' ' at offset 1", false},
		{"64 chars", long, "", true},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErr(t, "ValidateLabel", ValidateLabel(tt.in), tt.labelErr)

			nsErr := tt.labelErr
			if tt.nsLongErr {
				nsErr = "64 bytes long, want at most 63"
			}
			err := ValidateNamespace(tt.in)
			checkErr(t, "ValidateNamespace", err, nsErr)

			if got, want := IsNamespace(tt.in), err == nil; got != want {
				t.Fatalf("IsNamespace(%q): got %v, want %v", tt.in, got, want)
			}
		})
	}
}

// checkErr checks that err is nil when want is empty and otherwise holds
// want.
func checkErr(t *testing.T, what string, err error, want string) {
	t.Helper()

	switch {
	case want == "" && err != nil:
		t.Fatalf("%s: got error %q, want none", what, err)
	case want != "" && err == nil:
		t.Fatalf("%s: got no error, want %q", what, want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Fatalf("%s: got error %q, want it to contain %q", what, err, want)
	}
}

func TestIsNamespaceAllocs(t *testing.T) {
	var valid, invalid bool
	allocs := testing.AllocsPerRun(100, func() {
		valid = IsNamespace("my-cool-app-x9423dfaa")
		invalid = IsNamespace("math-9423dfaa")
	})
	if !valid || invalid {
		t.Fatalf("IsNamespace: got %v and %v, want true and false", valid, invalid)
	}
	if allocs != 0 {
		t.Fatalf("IsNamespace: got %v allocations, want 0", allocs)
	}
}

func TestKey(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"myapp", "myapp"},
		{"my-app", "myapp"},
		{"m-y-a-p-p", "myapp"},
		{"math-x9423dfaa", "mathx9423dfaa"},
		{"", ""},
	}

	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := Key(tt.in); got != tt.want {
				t.Fatalf("Key(%q): got %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
